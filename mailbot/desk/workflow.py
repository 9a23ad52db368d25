"""The traceback desk: open a traceback, understand each answer, move hop by hop upstream.

`desk.inbound.handle` is the App's handler, so every live message (SMTP, IMAP,
pipe; never an import) comes to the desk after it is stored and parsed, inside its
transaction: bounces mark a contact undeliverable and resend to the backup;
automatic mail is kept and never answered; `status` gets the sender's open
requests; an answer from the hop's own provider moves the traceback; anything
else is kept, put in front of a human (`Review`) and, where a person wrote it,
politely refused. Every notice goes through the durable outbox.

Confidentiality: a provider's notices carry the call details and the name of its
direct downstream provider, nothing about other hops.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from mailbot.desk import disputes, providers
from mailbot.desk.notices import close_traceback, send_hop_notice
from mailbot.domain.records import Kind, ReplyResult
from mailbot.domain.status_rules import HopClock, plan_hop
from mailbot.domain.vocabulary import HopOutcome, NoticeKind, ReviewKind, TracebackDirection, TracebackStatus
from mailbot.store import decisions
from mailbot.store.queries import last_hop
from mailbot.store.tables.desk import (
    Hop,
    Provider,
    Review,
    Traceback,
)

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)
# Answers that end a traceback, and the result they leave on it (a Trace Forward ends at the subscriber).
ENDINGS: dict[str, str] = {
    HopOutcome.ORIGIN: "origin",
    HopOutcome.NOT_FOUND: "not_found",
    HopOutcome.CUSTOMER: "customer",
}
# Answers that name the party who ends the traceback (kept on it as `origin_customer`).
NAMES_CUSTOMER = frozenset({HopOutcome.ORIGIN, HopOutcome.CUSTOMER})
# What the clarification after a dispute asks, by direction.
DISPUTE_QUESTION = {
    TracebackDirection.BACK: "you dispute the request; please tell us where the call came from",
    TracebackDirection.FORWARD: "you dispute the request; please tell us who answers calls to this number",
}
# What a hop answered when it names the next provider, by direction (and staff's `forward` records).
NEXT_HOP = {TracebackDirection.BACK: HopOutcome.UPSTREAM, TracebackDirection.FORWARD: HopOutcome.DOWNSTREAM}
# Kinds that are a notice somebody forwarded us, not an answer.
NOTICE_KINDS = frozenset(
    {
        Kind.TRACEBACK_REQUEST,
        Kind.REMINDER,
        Kind.UPSTREAM_NOT_RESPONDED,
        Kind.NON_RESPONSIVE,
        Kind.STATUS_CHANGE,
        Kind.COMMENT,
        Kind.MONTHLY_METRICS,
    }
)


class DeskError(ValueError):
    """A desk command that cannot be done as asked; the text says why."""


def open_review(
    session: Session,
    kind: str,
    now: datetime,
    detail: str,
    *,
    hop: Hop | None = None,
    provider_id: int | None = None,
    message_pk: int | None = None,
    traceback_id: int | None = None,
    proposal: dict[str, Any] | None = None,
    sender: str | None = None,
) -> Review:
    """A review for a person; with `sender` (an outside sender's mail), one per sender and kind a day.

    A burst from one sender (300 bounces, 250 stray messages) is then one row counting them,
    one line in the digest, not 300.
    """
    if sender:
        sender = sender.strip().lower()[:320]
        day = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
        same = session.exec(
            select(Review)
            .where(col(Review.kind) == kind, col(Review.sender) == sender, col(Review.resolved).is_(False))
            .where(
                col(Review.created_at) >= day.astimezone(UTC),
                col(Review.created_at) < (day + timedelta(days=1)).astimezone(UTC),
            )
            .with_for_update()
        ).first()
        if same is not None:
            same.count += 1
            return same
    row = Review(
        kind=kind,
        detail=detail,
        created_at=now,
        message_pk=message_pk,
        hop_id=hop.id if hop else None,
        traceback_id=hop.traceback_id if hop else traceback_id,
        provider_id=provider_id if provider_id is not None else (hop.provider_id if hop else None),
        proposal=proposal,
        sender=sender,
    )
    session.add(row)
    session.flush()
    decisions.note(
        session,
        log,
        "opened review %d (%s; traceback %s, hop %s, message %s)",
        row.id,
        kind,
        row.traceback_id,
        row.hop_id,
        message_pk,
    )
    return row


def _open_hop(
    app: App, session: Session, tb: Traceback, provider: Provider, now: datetime, downstream: Hop | None
) -> Hop:
    """The next hop, and its notice: a first-contact letter for a provider never contacted, else a short request."""
    assert tb.id is not None and provider.id is not None
    # The scheduler's own rules set the deadline, so the notice can state it.
    plan = plan_hop(app.rules, HopClock(requested_at=now), now)
    due = plan.due_at.astimezone(UTC)  # SQLite keeps no offset: store UTC only
    remind = plan.next_reminder_at.astimezone(UTC) if plan.next_reminder_at else None
    hop = Hop(
        traceback_id=tb.id,
        position=downstream.position + 1 if downstream else 0,
        provider_id=provider.id,
        downstream_hop_id=downstream.id if downstream else None,
        requested_at=now,
        due_at=due,
        next_reminder_at=remind,
    )
    session.add(hop)
    session.flush()
    # A Trace Forward has no first-contact letter of its own: its request explains itself.
    forward = tb.direction == TracebackDirection.FORWARD
    kind = NoticeKind.REQUEST if provider.known or forward else NoticeKind.FIRST_CONTACT
    send_hop_notice(app, session, hop, kind, now, sequence=1, extra={"deadline": due})
    provider.known = provider.known or not forward
    return hop


def open_traceback(
    app: App,
    session: Session,
    *,
    provider_name: str,
    campaign: str,
    now: datetime,
    call_time: datetime | None = None,
    called: str | None = None,
    caller: str | None = None,
    description: str | None = None,
    incident_id: str | None = None,
    direction: str = TracebackDirection.BACK,
) -> Traceback:
    """A new traceback whose first hop asks `provider_name`; DeskError if that provider cannot be reached.

    `direction` `forward` opens a Trace Forward of the call-back number `called`."""
    match = providers.find(session, provider_name)
    if not match.sure or match.provider is None:
        hint = f" (closest: {match.matched!r}, {match.score:.0f}%)" if match.provider else ""
        raise DeskError(
            f"no provider named {provider_name!r} in the directory{hint}; add it with `mailbot providers add`"
        )
    provider = match.provider
    assert provider.id is not None
    if not providers.notice_addresses(session, provider.id):
        raise DeskError(f"provider {provider.name!r} has no deliverable contact address")
    tb = Traceback(
        campaign=campaign,
        call_time=call_time,
        called=called,
        caller=caller,
        description=description,
        incident_id=incident_id,
        opened_at=now,
        direction=direction,
    )
    session.add(tb)
    session.flush()
    _open_hop(app, session, tb, provider, now, downstream=None)
    return tb


def propose_contact(
    session: Session, provider: Provider, address: str, now: datetime, *, hop: Hop | None, message_pk: int | None
) -> str:
    """A new address for an existing provider is only proposed: a Review a person must accept.

    Until then it is no contact: it receives none of the provider's notices and may answer
    none of its hops, so a reply can never change who a provider is. One open proposal per
    provider and address. Returns the address as the acknowledgement names it.
    """
    address = address.strip().lower()
    assert provider.id is not None
    proposal = {"change": "add_contact", "provider_id": provider.id, "address": address, "role": "primary"}
    for review in session.exec(
        select(Review).where(col(Review.kind) == ReviewKind.CONTACT_CHANGE, col(Review.resolved).is_(False))
    ).all():
        if review.proposal == proposal:
            return address
    usable = providers.valid_address(address)
    open_review(
        session,
        ReviewKind.CONTACT_CHANGE,
        now,
        f"{address} proposed as a contact of {provider.name!r}; "
        + ("`mailbot review resolve ID --accept` adds it" if usable else "not an address notices can go to"),
        hop=hop,
        provider_id=provider.id,
        message_pk=message_pk,
        proposal=proposal if usable else None,
    )
    return address


def _upstream_provider(
    session: Session, hop: Hop, answer: ReplyResult, now: datetime, message_pk: int
) -> tuple[Provider | None, str | None]:
    """The provider an `upstream` answer names, created when it is new and has an address; None -> a Review.

    With it, the address the answer gave for a provider already known, now only proposed.
    """
    name, address = answer.upstream_name, answer.upstream_email
    if address and (owner := providers.by_address(session, address)) is not None:
        return owner, None
    if name:
        match = providers.find(session, name)
        if match.sure:
            pending = None
            if address and match.provider is not None:
                pending = propose_contact(session, match.provider, address, now, hop=hop, message_pk=message_pk)
            return match.provider, pending
        if match.doubtful and match.provider is not None:
            open_review(
                session,
                ReviewKind.PROVIDER_MATCH,
                now,
                f"upstream named {name!r} may be {match.provider.name!r} ({match.score:.0f}%); confirm or add it",
                hop=hop,
                message_pk=message_pk,
            )
            return None, None
        if address:
            return providers.add(session, name, emails=[address], now=now), None
    what = f"named upstream {name!r}" if name else "an upstream without a name"
    open_review(
        session,
        ReviewKind.UNKNOWN_UPSTREAM,
        now,
        f"{what} with no address and no directory match"
        + (f" (address given: {address})" if address and not name else ""),
        hop=hop,
        message_pk=message_pk,
    )
    return None, None


def _wait_for_person(session: Session, hop: Hop, now: datetime, message_pk: int) -> None:
    """The hop had its clarification requests and is still unclear: no more mail, one review counting the answers.

    So a carrier's helpdesk robot that acknowledges everything gets at most
    `[desk] max_clarifications` letters, however often it writes.
    """
    same = session.exec(
        select(Review)
        .where(
            col(Review.kind) == ReviewKind.CLARIFICATION_LIMIT,
            col(Review.hop_id) == hop.id,
            col(Review.resolved).is_(False),
        )
        .with_for_update()
    ).first()
    if same is not None:
        same.count += 1
        return
    open_review(
        session,
        ReviewKind.CLARIFICATION_LIMIT,
        now,
        f"hop {hop.id} is still unclear after {hop.clarifications_sent} clarification request(s); "
        "no more are sent: it waits for a person (`traceback forward` or `traceback close`)",
        hop=hop,
        message_pk=message_pk,
    )


def apply_answer(
    app: App,
    session: Session,
    hop: Hop,
    answer: ReplyResult,
    now: datetime,
    *,
    message_pk: int,
    in_reply_to: str | None = None,
) -> None:
    """Record one understood (or not) answer on its hop and do what it calls for."""
    # Several instances may process two answers to one hop at once: the later waits for the
    # hop's row lock (PostgreSQL), then sees the hop answered and treats its answer as a correction.
    session.refresh(hop, with_for_update=True)
    tb = session.get(Traceback, hop.traceback_id)
    assert tb is not None and hop.id is not None
    settled = hop.answered_at is not None or tb.status != TracebackStatus.OPEN
    if answer.outcome == HopOutcome.DISPUTE:
        # A dispute challenges the traceback's basis, also after the hop's answer: always kept.
        disputes.record(session, hop, answer, now, message_pk=message_pk)
    if settled and answer.outcome == HopOutcome.DISPUTE:
        open_review(
            session, ReviewKind.DISPUTE, now, answer.evidence or answer.text[:300], hop=hop, message_pk=message_pk
        )
        send_hop_notice(
            app,
            session,
            hop,
            NoticeKind.ACKNOWLEDGEMENT,
            now,
            sequence=message_pk,
            in_reply_to=in_reply_to,
            extra={"recorded": {"outcome": answer.outcome, "evidence": answer.evidence}},
        )
        return
    if settled:
        open_review(
            session,
            ReviewKind.CORRECTION,
            now,
            f"a further answer ({answer.outcome}) on a hop already "
            f"answered {hop.outcome}: {answer.evidence or answer.text[:200]!r}",
            hop=hop,
            message_pk=message_pk,
        )
        return
    recorded = {
        "outcome": answer.outcome,
        "upstream_name": answer.upstream_name,
        "upstream_email": answer.upstream_email,
        "customer_name": answer.customer_name,
        "evidence": answer.evidence,
    }
    if answer.outcome in (HopOutcome.OTHER, HopOutcome.DISPUTE):
        capped = hop.clarifications_sent >= app.settings.desk.max_clarifications
        kind = ReviewKind.DISPUTE if answer.outcome == HopOutcome.DISPUTE else ReviewKind.LOW_CONFIDENCE
        if not (capped and kind == ReviewKind.LOW_CONFIDENCE):  # past the cap the hop's one review counts them
            open_review(session, kind, now, answer.evidence or answer.text[:300], hop=hop, message_pk=message_pk)
        if answer.outcome == HopOutcome.DISPUTE:
            # A dispute is an answer: reminders stop while a human looks at it.
            hop.outcome, hop.answered_at, hop.evidence = answer.outcome, now, answer.evidence
            hop.reply_message_pk = message_pk
            hop.proposed = None
        question = DISPUTE_QUESTION[TracebackDirection(tb.direction)] if answer.outcome == HopOutcome.DISPUTE else None
        if hop.clarifications_sent >= app.settings.desk.max_clarifications:
            _wait_for_person(session, hop, now, message_pk)
            return
        hop.clarifications_sent += 1
        send_hop_notice(
            app,
            session,
            hop,
            NoticeKind.CLARIFICATION,
            now,
            sequence=message_pk,
            in_reply_to=in_reply_to,
            extra={"question": question},
        )
        return
    hop.outcome, hop.answered_at, hop.evidence = answer.outcome, now, answer.evidence
    hop.upstream_name, hop.upstream_email, hop.customer_name = (
        answer.upstream_name,
        answer.upstream_email,
        answer.customer_name,
    )
    hop.reply_message_pk = message_pk
    hop.proposed = None  # answered: a reading proposed earlier is settled
    hop.next_reminder_at = None
    upstream, pending = None, None
    # A ported number whose carrier nobody knows names no next provider: a person looks it up.
    unknown_port = answer.outcome == HopOutcome.NOT_OURS and not (answer.upstream_name or answer.upstream_email)
    if answer.outcome not in ENDINGS and not unknown_port:
        # What is left names the next provider: upstream, downstream, or where a ported number went.
        upstream, pending = _upstream_provider(session, hop, answer, now, message_pk)
    send_hop_notice(
        app,
        session,
        hop,
        NoticeKind.ACKNOWLEDGEMENT,
        now,
        sequence=message_pk,
        in_reply_to=in_reply_to,
        extra={"recorded": recorded, "pending_contact": pending},
    )
    if answer.outcome in ENDINGS:
        if answer.outcome in NAMES_CUSTOMER:
            tb.origin_customer = answer.customer_name
        close_traceback(tb, ENDINGS[answer.outcome], now)
        return
    if unknown_port:
        open_review(
            session,
            ReviewKind.UNKNOWN_UPSTREAM,
            now,
            f"the number was ported away and its current carrier is not known; look it up, then "
            f"`mailbot traceback forward {tb.id} --provider NAME` (or close it)",
            hop=hop,
            message_pk=message_pk,
        )
        return
    if upstream is None:
        return
    assert upstream.id is not None
    in_path = set(session.exec(select(col(Hop.provider_id)).where(col(Hop.traceback_id) == tb.id)).all())
    if upstream.id in in_path:
        open_review(
            session,
            ReviewKind.LOW_CONFIDENCE,
            now,
            f"upstream {upstream.name!r} is already on this traceback's path (a loop)",
            hop=hop,
            message_pk=message_pk,
        )
        return
    if not providers.notice_addresses(session, upstream.id):
        open_review(
            session,
            ReviewKind.UNKNOWN_UPSTREAM,
            now,
            f"upstream {upstream.name!r} has no deliverable address",
            hop=hop,
            provider_id=upstream.id,
            message_pk=message_pk,
        )
        return
    _open_hop(app, session, tb, upstream, now, downstream=hop)


# --- what a human decides ------------------------------------------------------------------


def _open_tb(session: Session, traceback_id: int) -> Traceback:
    tb = session.get(Traceback, traceback_id)
    if tb is None:
        raise DeskError(f"no traceback #{traceback_id}")
    if tb.status != TracebackStatus.OPEN:
        raise DeskError(f"traceback #{traceback_id} is closed ({tb.result})")
    return tb


def forward(app: App, session: Session, traceback_id: int, provider_name: str, now: datetime) -> Hop:
    """A human names the next provider (after an unknown upstream, a doubtful match, a dispute): open its hop."""
    tb = _open_tb(session, traceback_id)
    match = providers.find(session, provider_name)
    if not match.sure or match.provider is None or match.provider.id is None:
        raise DeskError(f"no provider named {provider_name!r} in the directory; add it with `mailbot providers add`")
    if not providers.notice_addresses(session, match.provider.id):
        raise DeskError(f"provider {match.provider.name!r} has no deliverable contact address")
    last = last_hop(session, tb.id)
    nxt = NEXT_HOP[TracebackDirection(tb.direction)]
    if last is not None and last.answered_at is None:
        last.outcome, last.answered_at, last.evidence = nxt, now, "recorded by staff"
    if last is not None and last.outcome in (nxt, HopOutcome.NOT_OURS) and not last.upstream_name:
        last.upstream_name = match.provider.name
    _resolve_for(session, tb, now)
    return _open_hop(app, session, tb, match.provider, now, downstream=last)


def close(session: Session, traceback_id: int, result: str, now: datetime) -> Traceback:
    """A human ends the traceback with a label (origin, not_found, no_response, ...)."""
    tb = _open_tb(session, traceback_id)
    label = result.strip().lower()
    if not re.fullmatch(r"[a-z_]{2,16}", label):
        raise DeskError(f"a result is a short label such as origin, not_found, no_response; not {result!r}")
    last = last_hop(session, tb.id)
    if last is not None and last.answered_at is None:
        last.outcome, last.answered_at, last.evidence = label, now, "recorded by staff"
    close_traceback(tb, label, now)
    _resolve_for(session, tb, now)
    return tb


def _resolve_for(session: Session, tb: Traceback, now: datetime) -> None:
    for review in session.exec(
        select(Review).where(col(Review.traceback_id) == tb.id, col(Review.resolved).is_(False))
    ).all():
        review.resolved, review.resolved_at = True, now


def resolve_review(session: Session, review_id: int, now: datetime, accept: bool = False) -> Review:
    """Mark a review dealt with; `accept` also applies the change it proposes (else it is dropped)."""
    review = session.get(Review, review_id)
    if review is None:
        raise DeskError(f"no review {review_id}")
    if accept:
        if review.resolved:
            raise DeskError(f"review {review_id} is already resolved")
        if not review.proposal:
            raise DeskError(f"review {review_id} proposes no change to accept")
        _apply_proposal(session, review.proposal)
    review.resolved, review.resolved_at = True, now
    return review


def _apply_proposal(session: Session, proposal: dict[str, Any]) -> None:
    if proposal.get("change") != "add_contact":
        raise DeskError(f"unknown proposed change {proposal.get('change')!r}")
    if session.get(Provider, proposal["provider_id"]) is None:
        raise DeskError(f"provider {proposal['provider_id']} no longer exists")
    providers.add_contact(session, proposal["provider_id"], proposal["address"], proposal.get("role", "primary"))
