"""Disputes and Strike Exempt tracebacks: what a provider challenges, and what ops decide.

A Dispute is a provider's formal challenge to the basis of a traceback; it is kept with the
reply's own words and its attachments' names, whatever the decision. Accepting one marks the
traceback Strike Exempt (`accepted_dispute`); ops may mark one exempt for another reason
(testing, a technical error, a factual issue). An exempt traceback stays in the record and in
exports, flagged, and counts toward no status, designation or metrics; the caller (the CLI)
re-evaluates the providers it returns at once (`scheduler.jobs.reassess`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from mailbot.desk.notices import send_hop_notice
from mailbot.domain.records import ReplyResult
from mailbot.domain.timeutil import iso_z
from mailbot.domain.vocabulary import DisputeStatus, ExemptReason, NoticeKind, ReviewKind
from mailbot.parsers.mime import attachment_names, parse_bytes
from mailbot.store.tables.desk import Dispute, Hop, Provider, Review, Traceback
from mailbot.store.tables.messages import Message

if TYPE_CHECKING:
    from mailbot.app import App


class DisputeError(ValueError):
    """A dispute or exemption command that cannot be done as asked; the text says why."""


def record(session: Session, hop: Hop, answer: ReplyResult, now: datetime, *, message_pk: int) -> Dispute:
    """Keep a `dispute` answer with its reason and evidence (the reply's words, its attachments' names)."""
    assert hop.id is not None
    message = session.get(Message, message_pk)
    attachments = list(attachment_names(parse_bytes(bytes(message.raw)))) if message is not None else []
    row = Dispute(
        traceback_id=hop.traceback_id,
        hop_id=hop.id,
        provider_id=hop.provider_id,
        message_pk=message_pk,
        reason=(answer.evidence or answer.text)[:2000],
        text=answer.text[:20000],
        attachments=attachments,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def providers_of(session: Session, traceback_id: int) -> list[int]:
    """Every provider on the traceback's path: whose status or designation it may have counted toward."""
    return sorted(set(session.exec(select(col(Hop.provider_id)).where(col(Hop.traceback_id) == traceback_id)).all()))


def exempt(session: Session, traceback_id: int, reason: str, now: datetime, note: str | None = None) -> list[int]:
    """Mark the traceback Strike Exempt; returns the providers to re-evaluate."""
    if reason not in tuple(ExemptReason):
        raise DisputeError(f"a Strike Exempt reason is one of {', '.join(ExemptReason)}; not {reason!r}")
    tb = session.get(Traceback, traceback_id)
    if tb is None:
        raise DisputeError(f"no traceback #{traceback_id}")
    tb.strike_exempt, tb.exempt_reason, tb.exempt_note, tb.exempt_at = True, reason, note, now
    session.add(tb)
    session.flush()
    return providers_of(session, traceback_id)


def decide(app: App, session: Session, dispute_id: int, accept: bool, reason: str, now: datetime) -> list[int]:
    """Accept or reject an open dispute and tell the provider; returns the providers to re-evaluate."""
    row = session.get(Dispute, dispute_id)
    if row is None:
        raise DisputeError(f"no dispute {dispute_id}")
    if row.status != DisputeStatus.OPEN:
        raise DisputeError(f"dispute {dispute_id} was already {row.status}")
    row.status = DisputeStatus.ACCEPTED if accept else DisputeStatus.REJECTED
    row.decided_at, row.decision_reason = now, reason
    session.add(row)
    for review in session.exec(
        select(Review).where(
            col(Review.kind) == ReviewKind.DISPUTE,
            col(Review.message_pk) == row.message_pk,
            col(Review.hop_id) == row.hop_id,
            col(Review.resolved).is_(False),
        )
    ).all():
        review.resolved, review.resolved_at = True, now
    hop = session.get(Hop, row.hop_id)
    assert hop is not None
    send_hop_notice(
        app,
        session,
        hop,
        NoticeKind.DISPUTE_DECISION,
        now,
        sequence=row.id,
        extra={"dispute": {"decision": row.status, "reason": reason, "disputed": row.reason}},
    )
    if accept:
        return exempt(session, row.traceback_id, ExemptReason.ACCEPTED_DISPUTE, now, note=reason)
    return []


def as_dict(row: Dispute, provider: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "traceback_id": row.traceback_id,
        "hop_id": row.hop_id,
        "provider": provider,
        "status": row.status,
        "reason": row.reason,
        "attachments": list(row.attachments),
        "text": row.text,
        "created_at": iso_z(row.created_at),
        "decided_at": iso_z(row.decided_at),
        "decision_reason": row.decision_reason,
    }


def listing(session: Session, *, include_decided: bool = False, traceback_id: int | None = None) -> list[dict]:
    """The `dispute list --format json` contract: open disputes (or all), oldest first."""
    query = select(Dispute).order_by(col(Dispute.id))
    if not include_decided:
        query = query.where(col(Dispute.status) == DisputeStatus.OPEN)
    if traceback_id is not None:
        query = query.where(col(Dispute.traceback_id) == traceback_id)
    names = {p.id: p.name for p in session.exec(select(Provider)).all()}
    return [as_dict(row, names.get(row.provider_id)) for row in session.exec(query).all()]
