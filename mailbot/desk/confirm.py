"""Readings the desk is not sure of are proposed to the carrier, not applied (issue 13, item 5).

For each answer to a hop, `settle` decides with `reply.decision` and the `[desk]` bars:
- sure enough: applied (`workflow.apply_answer`);
- between "sure" and "no idea": the hop keeps it as `proposed`, and the carrier gets "We read
  your answer as: ... Reply YES (SÍ) to confirm, or correct it"; nothing moves yet;
- too unsure: read as `other` (a person is asked, the carrier asked to clarify).
A YES (SÍ) to a proposal applies it as the carrier confirmed it; a corrected answer replaces it
and is decided the same way (`apply_answer` clears the proposal of a hop it records an answer on).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Session

from mailbot.desk import providers
from mailbot.desk.notices import send_hop_notice
from mailbot.desk.workflow import apply_answer
from mailbot.domain.records import ReplyResult
from mailbot.domain.vocabulary import HopOutcome, NoticeKind
from mailbot.parsers import reply as reply_parser
from mailbot.store.tables.desk import Hop
from mailbot.store.tables.messages import Reply

if TYPE_CHECKING:
    from mailbot.app import App

PROPOSED_FIELDS = ("outcome", "upstream_name", "upstream_email", "customer_name", "confidence")


def proposal(result: ReplyResult, message_pk: int) -> dict[str, Any]:
    """What a hop keeps of a reading it proposes (the `proposed` of `traceback show --format json`)."""
    return {
        **{name: getattr(result, name) for name in PROPOSED_FIELDS},
        "evidence": result.evidence,
        "message_pk": message_pk,
    }


def known_upstream(session: Session, result: ReplyResult) -> bool:
    """The upstream an answer names is already in the directory (no provider would be created)."""
    if result.upstream_email and providers.by_address(session, result.upstream_email) is not None:
        return True
    return bool(result.upstream_name) and providers.find(session, result.upstream_name or "").sure


def settle(
    app: App,
    session: Session,
    hop: Hop,
    result: ReplyResult,
    own: str,
    now: datetime,
    *,
    message_pk: int,
    in_reply_to: str | None = None,
) -> str:
    """Apply, propose or ask about one answer to `hop`; which one it was."""
    session.refresh(hop, with_for_update=True)  # the proposal as it stands, under the hop's lock
    pending = hop.proposed if hop.answered_at is None else None
    if pending and reply_parser.is_confirmation(own):
        confirmed = ReplyResult(
            incident_ids=result.incident_ids,
            outcome=pending["outcome"],
            upstream_name=pending.get("upstream_name"),
            upstream_email=pending.get("upstream_email"),
            customer_name=pending.get("customer_name"),
            evidence=pending.get("evidence"),
            text=own,
            confidence=1.0,
        )
        apply_answer(app, session, hop, confirmed, now, message_pk=message_pk, in_reply_to=in_reply_to)
        return "confirmed"
    verdict = reply_parser.decision(result, known_upstream=known_upstream(session, result), bars=app.settings.desk.bars)
    if verdict == "propose" and hop.answered_at is None:
        propose(app, session, hop, result, now, message_pk=message_pk, in_reply_to=in_reply_to)
        return "proposed"
    if verdict == "ask" and result.outcome != HopOutcome.OTHER:
        result = replace(result, outcome=HopOutcome.OTHER)  # a person decides; the carrier is asked to clarify
    apply_answer(app, session, hop, result, now, message_pk=message_pk, in_reply_to=in_reply_to)
    return "applied" if verdict == "apply" else "asked"


def propose(
    app: App,
    session: Session,
    hop: Hop,
    result: ReplyResult,
    now: datetime,
    *,
    message_pk: int,
    in_reply_to: str | None = None,
) -> None:
    """Keep the reading on the hop and ask the carrier to confirm it; the hop stays open."""
    proposed = proposal(result, message_pk)
    hop.proposed = proposed
    session.add(hop)
    session.execute(update(Reply).where(Reply.message_pk == message_pk).values(proposed=proposed))  # type: ignore[arg-type]
    send_hop_notice(
        app,
        session,
        hop,
        NoticeKind.CONFIRMATION,
        now,
        sequence=message_pk,
        in_reply_to=in_reply_to,
        extra={"proposed": proposed},
    )
