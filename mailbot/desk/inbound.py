"""Incoming live mail at the desk: one table of named dispositions, the first that applies acts.

Each disposition is a pure test over an `Inbound` (the parsed delivery, with the hops it
answers found once before the table runs) and an action. The name of the one that fired
is kept on the message's row (`Message.disposition`), as Mailman keeps its rule hits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session, col, select

from mailbot.desk import bounces, confirm, learning, matching, notices, ops, providers, senders
from mailbot.desk.matching import Found
from mailbot.desk.workflow import NOTICE_KINDS, open_review
from mailbot.domain.records import Kind, LiveFacts, ParsedMessage, ReplyResult
from mailbot.domain.vocabulary import NoticeKind, ReviewKind, TracebackStatus
from mailbot.intake.pipeline import Delivery
from mailbot.outbound import outbox
from mailbot.parsers import reply as reply_parser
from mailbot.store.tables.desk import Hop, HopMessage, Traceback
from mailbot.store.tables.messages import Message

if TYPE_CHECKING:
    from mailbot.app import App

_COMMAND = re.compile(r"^\s*(status|estado)\s*[.!?]?\s*$", re.I)


@dataclass(frozen=True)
class Inbound:
    """One live message as the dispositions see it: worked out once, before any of them runs."""

    delivery: Delivery
    sender: str | None
    ours: bool  # no sender, or sent from the desk's own domain
    match: Found  # the hops it answers (empty unless it is parsed and could be an answer)
    authorized: bool  # the sender may answer for the first matched hop's provider
    auth: senders.Verdict  # whether the sender is registered, and whether its message failed authentication
    ops: bool = False  # an ops address commanding in reply to its digest (desk/ops.py)

    @property
    def parsed(self) -> ParsedMessage:
        return self.delivery.parsed

    @property
    def facts(self) -> LiveFacts:
        assert self.parsed.live is not None, "live mail is parsed with live=True"
        return self.parsed.live


Action = Callable[["App", Session, Inbound, datetime], None]


@dataclass(frozen=True)
class Disposition:
    name: str
    applies: Callable[[Inbound], bool]
    act: Action


def _refuse(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """A polite refusal, at most one per sender per day, so two robots cannot loop; none that
    would be backscatter (see senders.may_refuse)."""
    sender = m.sender
    if not sender or not providers.valid_address(sender) or not senders.may_refuse(session, sender, m.auth):
        return
    outbox.enqueue(
        session,
        mail=app.mail,
        dedupe_key=notices.refusal_key(sender, now.date()),
        kind=NoticeKind.REFUSAL,
        to=[sender],
        context={"sender": sender},
        now=now,
    )


def _in_record(session: Session, hop: Hop, kind: str, delivery: Delivery, now: datetime) -> None:
    assert hop.id is not None  # a stored row
    session.add(
        HopMessage(
            hop_id=hop.id,
            direction="in",
            kind=kind,
            message_id=delivery.parsed.envelope.message_id,
            message_pk=delivery.pk,
            address=delivery.parsed.envelope.sender,
            at=now,
        )
    )


# --- the tests ------------------------------------------------------------------------------


def is_status_command(m: Inbound) -> bool:
    """`status` as the subject (any reply prefix or tag around it), or as a short message's first line."""
    own = m.facts.own_text
    return bool(_COMMAND.match(m.facts.bare_subject)) or (bool(_COMMAND.match(own.split("\n", 1)[0])) and len(own) < 40)


# --- the actions ----------------------------------------------------------------------------


def ignore(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """Kept, and moves nothing: duplicates, quarantined and automatic mail (no loops)."""


def send_status_list(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """The sender's open requests, if the sender is a registered contact; else a refusal."""
    assert m.sender is not None
    provider = providers.by_address(session, m.sender)
    if provider is None:
        _refuse(app, session, m, now)
        return
    requests = []
    hops = session.exec(
        select(Hop)
        .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
        .where(
            col(Hop.provider_id) == provider.id,
            col(Hop.answered_at).is_(None),
            col(Traceback.status) == TracebackStatus.OPEN,
        )
        .order_by(col(Hop.traceback_id))
    ).all()
    for hop in hops:
        context = notices.hop_context(session, hop)
        requests.append(
            {
                "traceback_id": context["traceback_id"],
                "call": context["call"],
                "requested_at": hop.requested_at,
                "downstream_name": context["downstream_name"],
            }
        )
    outbox.enqueue(
        session,
        mail=app.mail,
        dedupe_key=notices.status_list_key(m.delivery.pk),
        kind=NoticeKind.STATUS_LIST,
        to=[m.sender],
        context={"provider_name": provider.name, "open_requests": requests},
        now=now,
        in_reply_to=m.parsed.envelope.message_id,
    )


def review_forged(app: App, session: Session, m: Inbound, now: datetime) -> None:
    open_review(
        session,
        ReviewKind.FORGED_TOKEN,
        now,
        f"reply from {m.sender} to a token that does not verify",
        message_pk=m.delivery.pk,
        sender=m.sender,
    )
    _refuse(app, session, m, now)


def review_unauthenticated(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """A registered sender's message that failed authentication: nothing applied, nothing sent back."""
    open_review(
        session,
        ReviewKind.UNAUTHENTICATED,
        now,
        f"message from {m.sender} not applied: {m.auth.failed}",
        hop=m.match.hops[0] if m.match.hops else None,
        message_pk=m.delivery.pk,
    )


def review_unmatched(app: App, session: Session, m: Inbound, now: datetime) -> None:
    kind = m.parsed.kind
    what = "a forwarded notice" if kind in NOTICE_KINDS else f"a {kind} message"
    open_review(
        session,
        ReviewKind.UNMATCHED,
        now,
        f"{what} from {m.sender} that answers no open hop (subject {m.parsed.envelope.subject!r})",
        message_pk=m.delivery.pk,
        sender=m.sender,
    )


def review_unauthorized(app: App, session: Session, m: Inbound, now: datetime) -> None:
    hop = m.match.hops[0]
    open_review(
        session,
        ReviewKind.UNAUTHORIZED_SENDER,
        now,
        f"{m.sender or 'an unreadable sender'} answered hop {hop.id} but is not registered for its provider"
        + "".join(f"; {p}" for p in m.parsed.envelope.address_problems),
        hop=hop,
        message_pk=m.delivery.pk,
        sender=m.sender,
    )
    _refuse(app, session, m, now)


def _answers_by_hop(
    session: Session, found: list[Hop], provider_id: int, results: tuple[ReplyResult, ...]
) -> list[tuple[Hop, ReplyResult]]:
    """Pair each answer with its hop: the traceback it names, among the provider's open hops."""
    if len(results) == 1 and len(found) == 1 and len(results[0].incident_ids) <= 1:
        return [(found[0], results[0])]
    pairs: list[tuple[Hop, ReplyResult]] = []
    for result in results:
        numbers = [n for n in result.incident_ids if n.isdigit()]
        hops = matching.hops_of(session, numbers) if numbers else []
        hops = [h for h in hops if h.provider_id == provider_id] or ([found[0]] if len(results) == 1 else [])
        pairs += [(h, result) for h in hops if all(h.id != p.id for p, _ in pairs)]
    return pairs or [(found[0], results[0])]


def apply_answers(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """Each answer to its hop: the traceback moves, or the carrier is asked to confirm it, or a human is asked."""
    found, parsed = m.match, m.parsed
    ids = tuple(str(h.traceback_id) for h in found.hops)
    # Read again knowing what mailbot sent on these hops: no line of a notice can decide the answer.
    own = reply_parser.strip_quoted(m.facts.body_text, learning.sent_texts(session, found.hops))
    tb = session.get(Traceback, found.hops[0].traceback_id)  # a Trace Forward's answers have their own words
    # Words close to ones a person labelled before are read the way that person read them.
    read = reply_parser.answers(
        own,
        (),
        sender=parsed.envelope.sender,
        direction=tb.direction if tb else "back",
        learned=learning.model(session),
    )
    results = reply_parser.about(read, ids if found.how in ("token", "thread") else parsed.referenced_ids or ids)
    for target, result in _answers_by_hop(session, found.hops, found.hops[0].provider_id, results):
        _in_record(session, target, "reply", m.delivery, now)
        confirm.settle(
            app, session, target, result, own, now, message_pk=m.delivery.pk, in_reply_to=parsed.envelope.message_id
        )


# In order; the first that applies acts.
DISPOSITIONS: tuple[Disposition, ...] = (
    Disposition("not-parsed", lambda m: m.delivery.status != "parsed", ignore),
    Disposition("bounce", lambda m: m.parsed.kind == Kind.BOUNCE, bounces.mark_bounce),
    Disposition("ops-command", lambda m: m.ops, ops.answer_ops),  # ops may write from the desk's own domain
    Disposition("automatic", lambda m: m.facts.is_automatic or m.ours, ignore),
    Disposition("unauthenticated", lambda m: m.auth.refused, review_unauthenticated),
    Disposition("status-command", is_status_command, send_status_list),
    Disposition("forged-token", lambda m: m.match.forged, review_forged),
    Disposition("unmatched", lambda m: not m.match.hops, review_unmatched),
    Disposition("unauthorized-sender", lambda m: not m.authorized, review_unauthorized),
    Disposition("answer", lambda m: True, apply_answers),
)


def inbound(app: App, session: Session, delivery: Delivery) -> Inbound:
    """The message as the dispositions see it; the hops it answers are looked up only where one could be."""
    parsed, sender = delivery.parsed, delivery.parsed.envelope.sender
    # No sender at all is mailbot's own kind of mail; a From that could not be read exactly is a stranger's.
    ours = not parsed.envelope.address_problems if not sender else sender.rpartition("@")[2] == app.desk.domain
    facts = parsed.live
    could_answer = (
        delivery.status == "parsed"
        and facts is not None
        and parsed.kind != Kind.BOUNCE
        and not facts.is_automatic
        and not ours
    )
    found = Found()
    if could_answer:
        assert facts is not None
        found = matching.match(
            session,
            parsed,
            desk_local=app.desk.local,
            desk_domain=app.desk.domain,
            secret=app.secret,
            text=facts.own_text + "\n" + parsed.envelope.subject,
        )
    authorized = (
        bool(found.hops) and sender is not None and providers.may_answer_for(session, found.hops[0].provider_id, sender)
    )
    auth = senders.Verdict(registered=False)
    if facts is not None and not ours and parsed.kind != Kind.BOUNCE and not facts.is_automatic:
        auth = senders.verdict(app, session, sender, facts.auth_results, delivery.raw)
    by_ops = delivery.status == "parsed" and facts is not None and parsed.kind != Kind.BOUNCE
    m = Inbound(delivery=delivery, sender=sender, ours=ours, match=found, authorized=authorized, auth=auth)
    return replace(m, ops=by_ops and ops.is_ops_command(app, session, m))


def handle(app: App, session: Session, delivery: Delivery, now: datetime) -> None:
    """The pipeline handler for one live message: the first disposition that applies acts."""
    m = inbound(app, session, delivery)
    rule = next(d for d in DISPOSITIONS if d.applies(m))
    delivery.meta["disposition"] = rule.name  # for the pipeline's "processed" log line
    session.execute(update(Message).where(col(Message.id) == delivery.pk).values(disposition=rule.name))
    rule.act(app, session, m, now)
