"""The traceback desk: open a traceback, understand each answer, move hop by hop upstream.

`handle` is registered in `pipeline.HANDLERS`, so every live message (SMTP, IMAP,
pipe; never an import) comes here after it is stored and parsed, inside its
transaction: bounces mark a contact undeliverable and resend to the backup;
automatic mail is kept and never answered; `status` gets the sender's open
requests; an answer from the hop's own provider moves the traceback; anything
else is kept, put in front of a human (`Review`) and, where a person wrote it,
politely refused. Every notice goes through the durable outbox.

Confidentiality: a provider's notices carry the call details and the name of its
direct downstream provider, nothing about other hops.
"""

from __future__ import annotations

import email
import email.message
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any


from sqlmodel import Session, select

from mailbot import config as config_module
from mailbot import matching, outbox, providers, tokens
from mailbot.config import Config
from mailbot.hop_labels import labels_by_hop
from mailbot.pipeline import HANDLERS, Delivery
from parsers import reply as reply_parser
from parsers.mime import body_text, header_text
from parsers.records import Kind, ReplyResult
from scheduler.rules import HopClock, Rules, plan_hop
from store.desk import (
    Hop,
    HopMessage,
    HopOutcome,
    Provider,
    ProviderContact,
    Review,
    ReviewKind,
    Traceback,
    TracebackStatus,
)
from store.models import Message
from store.outbox import OutboxMessage
from store.paths import paths

# Answers that end a traceback, and the result they leave on it.
ENDINGS = {HopOutcome.ORIGIN: "origin", HopOutcome.NOT_FOUND: "not_found"}
# Kinds that are a notice somebody forwarded us, not an answer.
NOTICE_KINDS = frozenset({Kind.TRACEBACK_REQUEST, Kind.REMINDER, Kind.UPSTREAM_NOT_RESPONDED, Kind.NON_RESPONSIVE,
                          Kind.STATUS_CHANGE, Kind.COMMENT, Kind.MONTHLY_METRICS})
_COMMAND = re.compile(r"^\s*(status|estado)\s*[.!?]?\s*$", re.I)
_PRECEDENCE = re.compile(r"^\s*(bulk|junk|list|auto_reply)\b", re.I)
_FINAL_RECIPIENT = re.compile(r"^(?:final|original)-recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", re.I | re.M)
_MESSAGE_ID = re.compile(rb"<[^<>\s@]+@[^<>\s]+>")


class DeskError(ValueError):
    """A desk command that cannot be done as asked; the text says why."""


_config: Config | None = None


def configure(config: Config) -> None:
    """Use these settings (mail domain, token secret) in this process."""
    global _config
    _config = config
    outbox.configure(config)


def settings() -> Config:
    global _config
    if _config is None:
        _config = config_module.load()
    return _config


@dataclass(frozen=True)
class DeskAddress:
    local: str
    domain: str


def desk_address() -> DeskAddress:
    sender = getaddresses([str(settings().get("mail", "from"))])[0][1]
    return DeskAddress(local=(sender.rpartition("@")[0] or "traceback").lower(),
                       domain=str(settings().get("mail", "domain")).lower())


# --- opening and moving -------------------------------------------------------------------


def call_of(tb: Traceback) -> dict[str, Any]:
    return {"call_time": tb.call_time, "called": tb.called, "caller": tb.caller,
            "campaign": tb.campaign, "description": tb.description}


def _review(session: Session, kind: str, now: datetime, detail: str, *, hop: Hop | None = None,
            provider_id: int | None = None, message_pk: int | None = None, traceback_id: int | None = None) -> Review:
    row = Review(kind=kind, detail=detail, created_at=now, message_pk=message_pk,
                 hop_id=hop.id if hop else None, traceback_id=hop.traceback_id if hop else traceback_id,
                 provider_id=provider_id if provider_id is not None else (hop.provider_id if hop else None))
    session.add(row)
    session.flush()
    return row


def _hop_context(session: Session, hop: Hop) -> dict[str, Any]:
    """What a provider may see about its hop: the call and who its direct downstream is."""
    tb = session.get(Traceback, hop.traceback_id)
    provider = session.get(Provider, hop.provider_id)
    assert tb is not None and provider is not None
    downstream = session.get(Hop, hop.downstream_hop_id) if hop.downstream_hop_id else None
    down_provider = session.get(Provider, downstream.provider_id) if downstream else None
    return {"traceback_id": tb.id, "provider_name": provider.name, "call": call_of(tb),
            "downstream_name": down_provider.name if down_provider else None}


def _send(session: Session, hop: Hop, kind: str, now: datetime, *, sequence: object, to: list[str] | None = None,
          extra: dict[str, Any] | None = None, in_reply_to: str | None = None) -> bool:
    """Queue one notice about `hop`, exactly once per (hop, kind, sequence)."""
    recipients = to if to is not None else providers.notice_addresses(session, hop.provider_id)
    if not recipients:
        return False
    assert hop.id is not None
    context = {**_hop_context(session, hop), **(extra or {})}
    return outbox.enqueue(session, dedupe_key=f"hop:{hop.id}:{kind}:{sequence}", kind=kind, to=recipients,
                          context=context, now=now, traceback_id=hop.traceback_id, hop_id=hop.id,
                          reply_to=tokens.hop_reply_address(hop.id, settings()), in_reply_to=in_reply_to)


def _open_hop(session: Session, tb: Traceback, provider: Provider, now: datetime, downstream: Hop | None) -> Hop:
    """The next hop, and its notice: a first-contact letter for a provider never contacted, else a short request."""
    assert tb.id is not None and provider.id is not None
    # The scheduler's own rules set the deadline, so the notice can state it.
    plan = plan_hop(Rules.from_settings(settings().values["schedule"]), HopClock(requested_at=now), now)
    due = plan.due_at.astimezone(UTC)  # SQLite keeps no offset: store UTC only
    remind = plan.next_reminder_at.astimezone(UTC) if plan.next_reminder_at else None
    hop = Hop(traceback_id=tb.id, position=downstream.position + 1 if downstream else 0, provider_id=provider.id,
              downstream_hop_id=downstream.id if downstream else None, requested_at=now,
              due_at=due, next_reminder_at=remind)
    session.add(hop)
    session.flush()
    kind = "request" if provider.known else "first_contact"
    _send(session, hop, kind, now, sequence=1, extra={"deadline": due})
    provider.known = True
    return hop


def open_traceback(session: Session, *, provider_name: str, campaign: str, now: datetime,
                   call_time: datetime | None = None, called: str | None = None, caller: str | None = None,
                   description: str | None = None, incident_id: str | None = None) -> Traceback:
    """A new traceback whose first hop asks `provider_name`; DeskError if that provider cannot be reached."""
    match = providers.find(session, provider_name)
    if not match.sure or match.provider is None:
        hint = f" (closest: {match.matched!r}, {match.score:.0f}%)" if match.provider else ""
        raise DeskError(f"no provider named {provider_name!r} in the directory{hint}; add it with `mailbot providers add`")
    provider = match.provider
    assert provider.id is not None
    if not providers.notice_addresses(session, provider.id):
        raise DeskError(f"provider {provider.name!r} has no deliverable contact address")
    tb = Traceback(campaign=campaign, call_time=call_time, called=called, caller=caller, description=description,
                   incident_id=incident_id, opened_at=now)
    session.add(tb)
    session.flush()
    _open_hop(session, tb, provider, now, downstream=None)
    return tb


def _close(tb: Traceback, result: str, now: datetime) -> None:
    tb.status = TracebackStatus.CLOSED
    tb.result = result
    tb.closed_at = now


def _upstream_provider(session: Session, hop: Hop, answer: ReplyResult, now: datetime,
                       message_pk: int) -> Provider | None:
    """The provider an `upstream` answer names, created when it is new and has an address; None -> a Review."""
    name, address = answer.upstream_name, answer.upstream_email
    if address and (owner := providers.by_address(session, address)) is not None:
        return owner
    if name:
        match = providers.find(session, name)
        if match.sure:
            if address and match.provider is not None and match.provider.id is not None:
                providers.add_contact(session, match.provider.id, address, "primary")
            return match.provider
        if match.doubtful and match.provider is not None:
            _review(session, ReviewKind.PROVIDER_MATCH, now, f"upstream named {name!r} may be "
                    f"{match.provider.name!r} ({match.score:.0f}%); confirm or add it", hop=hop, message_pk=message_pk)
            return None
        if address:
            return providers.add(session, name, emails=[address], now=now)
    what = f"named upstream {name!r}" if name else "an upstream without a name"
    _review(session, ReviewKind.UNKNOWN_UPSTREAM, now, f"{what} with no address and no directory match"
            + (f" (address given: {address})" if address and not name else ""), hop=hop, message_pk=message_pk)
    return None


def apply_answer(session: Session, hop: Hop, answer: ReplyResult, now: datetime, *, message_pk: int,
                 in_reply_to: str | None = None) -> None:
    """Record one understood (or not) answer on its hop and do what it calls for."""
    # Several instances may process two answers to one hop at once: the later waits for the
    # hop's row lock (PostgreSQL), then sees the hop answered and treats its answer as a correction.
    session.refresh(hop, with_for_update=True)
    tb = session.get(Traceback, hop.traceback_id)
    assert tb is not None and hop.id is not None
    if hop.answered_at is not None or tb.status != TracebackStatus.OPEN:
        _review(session, ReviewKind.CORRECTION, now, f"a further answer ({answer.outcome}) on a hop already "
                f"answered {hop.outcome}: {answer.evidence or answer.text[:200]!r}", hop=hop, message_pk=message_pk)
        return
    recorded = {"outcome": answer.outcome, "upstream_name": answer.upstream_name,
                "upstream_email": answer.upstream_email, "customer_name": answer.customer_name,
                "evidence": answer.evidence}
    if answer.outcome in (HopOutcome.OTHER, HopOutcome.DISPUTE):
        kind = ReviewKind.DISPUTE if answer.outcome == HopOutcome.DISPUTE else ReviewKind.LOW_CONFIDENCE
        _review(session, kind, now, answer.evidence or answer.text[:300], hop=hop, message_pk=message_pk)
        if answer.outcome == HopOutcome.DISPUTE:
            # A dispute is an answer: reminders stop while a human looks at it.
            hop.outcome, hop.answered_at, hop.evidence = answer.outcome, now, answer.evidence
            hop.reply_message_pk = message_pk
        question = "you dispute the request; please tell us where the call came from" \
            if answer.outcome == HopOutcome.DISPUTE else None
        hop.clarifications_sent += 1
        _send(session, hop, "clarification", now, sequence=message_pk, in_reply_to=in_reply_to,
              extra={"question": question})
        return
    hop.outcome, hop.answered_at, hop.evidence = answer.outcome, now, answer.evidence
    hop.upstream_name, hop.upstream_email, hop.customer_name = answer.upstream_name, answer.upstream_email, \
        answer.customer_name
    hop.reply_message_pk = message_pk
    hop.next_reminder_at = None
    _send(session, hop, "acknowledgement", now, sequence=message_pk, in_reply_to=in_reply_to,
          extra={"recorded": recorded})
    if answer.outcome in ENDINGS:
        if answer.outcome == HopOutcome.ORIGIN:
            tb.origin_customer = answer.customer_name
        _close(tb, ENDINGS[answer.outcome], now)
        return
    upstream = _upstream_provider(session, hop, answer, now, message_pk)
    if upstream is None:
        return
    assert upstream.id is not None
    in_path = set(session.exec(select(Hop.provider_id).where(Hop.traceback_id == tb.id)).all())
    if upstream.id in in_path:
        _review(session, ReviewKind.LOW_CONFIDENCE, now, f"upstream {upstream.name!r} is already on this "
                "traceback's path (a loop)", hop=hop, message_pk=message_pk)
        return
    if not providers.notice_addresses(session, upstream.id):
        _review(session, ReviewKind.UNKNOWN_UPSTREAM, now, f"upstream {upstream.name!r} has no deliverable address",
                hop=hop, provider_id=upstream.id, message_pk=message_pk)
        return
    _open_hop(session, tb, upstream, now, downstream=hop)


# --- what a human decides ------------------------------------------------------------------


def _last_hop(session: Session, tb: Traceback) -> Hop | None:
    return session.exec(select(Hop).where(Hop.traceback_id == tb.id)
                        .order_by(Hop.position.desc())).first()  # type: ignore[union-attr]


def _open_tb(session: Session, traceback_id: int) -> Traceback:
    tb = session.get(Traceback, traceback_id)
    if tb is None:
        raise DeskError(f"no traceback #{traceback_id}")
    if tb.status != TracebackStatus.OPEN:
        raise DeskError(f"traceback #{traceback_id} is closed ({tb.result})")
    return tb


def forward(session: Session, traceback_id: int, provider_name: str, now: datetime) -> Hop:
    """A human names the next provider (after an unknown upstream, a doubtful match, a dispute): open its hop."""
    tb = _open_tb(session, traceback_id)
    match = providers.find(session, provider_name)
    if not match.sure or match.provider is None or match.provider.id is None:
        raise DeskError(f"no provider named {provider_name!r} in the directory; add it with `mailbot providers add`")
    if not providers.notice_addresses(session, match.provider.id):
        raise DeskError(f"provider {match.provider.name!r} has no deliverable contact address")
    last = _last_hop(session, tb)
    if last is not None and last.answered_at is None:
        last.outcome, last.answered_at, last.evidence = HopOutcome.UPSTREAM, now, "recorded by staff"
    if last is not None and last.outcome == HopOutcome.UPSTREAM and not last.upstream_name:
        last.upstream_name = match.provider.name
    _resolve_for(session, tb, now)
    return _open_hop(session, tb, match.provider, now, downstream=last)


def close(session: Session, traceback_id: int, result: str, now: datetime) -> Traceback:
    """A human ends the traceback with a label (origin, not_found, no_response, ...)."""
    tb = _open_tb(session, traceback_id)
    label = result.strip().lower()
    if not re.fullmatch(r"[a-z_]{2,16}", label):
        raise DeskError(f"a result is a short label such as origin, not_found, no_response; not {result!r}")
    last = _last_hop(session, tb)
    if last is not None and last.answered_at is None:
        last.outcome, last.answered_at, last.evidence = label, now, "recorded by staff"
    _close(tb, label, now)
    _resolve_for(session, tb, now)
    return tb


def _resolve_for(session: Session, tb: Traceback, now: datetime) -> None:
    for review in session.exec(select(Review).where(Review.traceback_id == tb.id, Review.resolved.is_(False))).all():  # type: ignore[attr-defined]
        review.resolved, review.resolved_at = True, now


def resolve_review(session: Session, review_id: int, now: datetime) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise DeskError(f"no review {review_id}")
    review.resolved, review.resolved_at = True, now
    return review


def reviews(session: Session, include_resolved: bool = False) -> list[dict[str, Any]]:
    query = select(Review).order_by(Review.id)
    if not include_resolved:
        query = query.where(Review.resolved.is_(False))  # type: ignore[attr-defined]
    names = {p.id: p.name for p in session.exec(select(Provider)).all()}
    return [{"id": r.id, "kind": r.kind, "traceback_id": r.traceback_id, "hop_id": r.hop_id,
             "provider": names.get(r.provider_id), "message_pk": r.message_pk, "detail": r.detail,
             "created_at": _iso(r.created_at), "resolved": r.resolved} for r in session.exec(query).all()]


# --- incoming mail ---------------------------------------------------------------------------


def is_automatic(msg: email.message.Message) -> bool:
    """RFC 3834 and the common vendor headers: mail no person wrote, never to be answered."""
    auto = header_text(msg, "Auto-Submitted").lower()
    return (bool(auto) and not auto.startswith("no")) or bool(_PRECEDENCE.match(header_text(msg, "Precedence"))) \
        or any(header_text(msg, h) for h in ("X-Autoreply", "X-Autorespond", "X-Mailbot-Notice", "List-Id"))


def _refuse(session: Session, sender: str | None, now: datetime) -> None:
    """A polite refusal, at most one per sender per day, so two robots cannot loop."""
    if not sender or not providers.valid_address(sender):
        return
    outbox.enqueue(session, dedupe_key=f"refusal:{sender.lower()}:{now.date().isoformat()}", kind="refusal",
                   to=[sender], context={"sender": sender}, now=now)


def _in_record(session: Session, hop: Hop, kind: str, delivery: Delivery, now: datetime) -> None:
    session.add(HopMessage(hop_id=hop.id, direction="in", kind=kind, message_id=delivery.parsed.envelope.message_id,
                           message_pk=delivery.pk, address=delivery.parsed.envelope.sender, at=now))


def _status_command(session: Session, sender: str, delivery: Delivery, now: datetime) -> None:
    provider = providers.by_address(session, sender)
    if provider is None:
        _refuse(session, sender, now)
        return
    requests = []
    hops = session.exec(select(Hop).join(Traceback, Traceback.id == Hop.traceback_id).where(  # type: ignore[arg-type]
        Hop.provider_id == provider.id, Hop.answered_at.is_(None), Traceback.status == TracebackStatus.OPEN)  # type: ignore[union-attr]
        .order_by(Hop.traceback_id)).all()
    for hop in hops:
        context = _hop_context(session, hop)
        requests.append({"traceback_id": context["traceback_id"], "call": context["call"],
                         "requested_at": hop.requested_at, "downstream_name": context["downstream_name"]})
    outbox.enqueue(session, dedupe_key=f"status:{delivery.pk}", kind="status_list", to=[sender],
                   context={"provider_name": provider.name, "open_requests": requests}, now=now,
                   in_reply_to=delivery.parsed.envelope.message_id)


def _bounce(session: Session, msg: email.message.Message, raw: bytes, delivery: Delivery, now: datetime) -> None:
    """A notice bounced: that contact is undeliverable, the backup gets the notice, ops hear of it."""
    ids = [m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(raw)]
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.message_id.in_(ids))).first()  # type: ignore[attr-defined]
    if sent is None:
        return  # a bounce of nothing we sent: stored, nothing to do
    failed = {a.lower() for a in _FINAL_RECIPIENT.findall(body_text(msg) + "\n" + raw.decode("utf-8", "replace"))}
    failed = failed or {a.lower() for a in sent.recipients}
    hop = session.get(Hop, sent.hop_id) if sent.hop_id else None
    provider_id = hop.provider_id if hop else None
    contacts = session.exec(select(ProviderContact).where(ProviderContact.address.in_(failed))).all()  # type: ignore[attr-defined]
    for contact in contacts:
        if not contact.undeliverable:
            contact.undeliverable, contact.undeliverable_at = True, now
        provider_id = provider_id or contact.provider_id
    _review(session, ReviewKind.BOUNCE, now, f"{sent.kind} to {', '.join(sorted(failed))} bounced",
            hop=hop, provider_id=provider_id, message_pk=delivery.pk, traceback_id=sent.traceback_id)
    if hop is not None and provider_id is not None:
        backups = [a for a in providers.notice_addresses(session, provider_id) if a not in failed]
        if backups:
            _send(session, hop, sent.kind, now, sequence=f"resend:{sent.id}", to=backups)


def _answers_by_hop(session: Session, found: list[Hop], provider_id: int,
                    results: tuple[ReplyResult, ...]) -> list[tuple[Hop, ReplyResult]]:
    """Pair each answer with its hop: the traceback it names, among the provider's open hops."""
    if len(results) == 1 and len(found) == 1 and len(results[0].incident_ids) <= 1:
        return [(found[0], results[0])]
    pairs: list[tuple[Hop, ReplyResult]] = []
    for result in results:
        numbers = [n for n in result.incident_ids if n.isdigit()]
        hops = matching._hops_of(session, numbers) if numbers else []
        hops = [h for h in hops if h.provider_id == provider_id] or ([found[0]] if len(results) == 1 else [])
        pairs += [(h, result) for h in hops if all(h.id != p.id for p, _ in pairs)]
    return pairs or [(found[0], results[0])]


def handle(session: Session, delivery: Delivery, now: datetime) -> None:
    """The pipeline handler for one live message."""
    parsed = delivery.parsed
    if delivery.status != "parsed":
        return  # duplicates and quarantined messages are kept, and move nothing
    row = session.get(Message, delivery.pk)
    assert row is not None
    raw = row.raw
    msg = email.message_from_bytes(raw)
    sender = parsed.envelope.sender
    me = desk_address()
    if parsed.kind == Kind.BOUNCE:
        _bounce(session, msg, raw, delivery, now)
        return
    if parsed.kind == Kind.AUTO_REPLY or is_automatic(msg) or not sender \
            or sender.rpartition("@")[2] == me.domain:
        return  # never answered, never moves a hop: no loops
    text = body_text(msg)
    own = reply_parser.strip_quoted(text)
    subject = re.sub(r"^\s*((re|aw|sv|fwd?|rv|tr)\s*:\s*)*", "", parsed.envelope.subject, flags=re.I)
    subject = matching.SUBJECT_TAG.sub("", subject)
    if _COMMAND.match(subject) or (_COMMAND.match(own.split("\n", 1)[0]) and len(own) < 40):
        _status_command(session, sender, delivery, now)
        return
    found = matching.match(session, parsed, msg, desk_local=me.local, desk_domain=me.domain,
                           secret=tokens.load_secret(settings()), text=own + "\n" + parsed.envelope.subject)
    if found.forged:
        _review(session, ReviewKind.FORGED_TOKEN, now, f"reply from {sender} to a token that does not verify",
                message_pk=delivery.pk)
        _refuse(session, sender, now)
        return
    if not found.hops:
        what = "a forwarded notice" if parsed.kind in NOTICE_KINDS else f"a {parsed.kind} message"
        _review(session, ReviewKind.UNMATCHED, now, f"{what} from {sender} that answers no open hop "
                f"(subject {parsed.envelope.subject!r})", message_pk=delivery.pk)
        return
    hop = found.hops[0]
    if not providers.may_answer_for(session, hop.provider_id, sender):
        _review(session, ReviewKind.UNAUTHORIZED_SENDER, now, f"{sender} answered hop {hop.id} but is not registered "
                "for its provider", hop=hop, message_pk=delivery.pk)
        _refuse(session, sender, now)
        return
    ids = tuple(str(h.traceback_id) for h in found.hops)
    results = reply_parser.answers(own, ids if found.how in ("token", "thread") else parsed.referenced_ids or ids)
    for target, result in _answers_by_hop(session, found.hops, hop.provider_id, results):
        _in_record(session, target, "reply", delivery, now)
        apply_answer(session, target, result, now, message_pk=delivery.pk,
                     in_reply_to=parsed.envelope.message_id)


HANDLERS.append(handle)


# --- reading -----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline(session: Session, traceback_id: int) -> dict[str, Any]:
    """The `traceback show --format json` contract: the traceback, its hops in path order, and their mail."""
    tb = session.get(Traceback, traceback_id)
    if tb is None:
        raise DeskError(f"no traceback #{traceback_id}")
    hops = []
    labels = labels_by_hop(paths(session, [traceback_id]))
    for hop in session.exec(select(Hop).where(Hop.traceback_id == tb.id).order_by(Hop.position)).all():
        provider = session.get(Provider, hop.provider_id)
        out = session.exec(select(OutboxMessage).where(OutboxMessage.hop_id == hop.id)
                           .order_by(OutboxMessage.id)).all()
        incoming = session.exec(select(HopMessage).where(HopMessage.hop_id == hop.id).order_by(HopMessage.id)).all()
        messages = [{"direction": "out", "kind": m.kind, "at": _iso(m.created_at), "to": m.recipients,
                     "status": m.status, "message_id": m.message_id} for m in out]
        messages += [{"direction": "in", "kind": m.kind, "at": _iso(m.at), "from": m.address,
                      "message_id": m.message_id} for m in incoming]
        messages.sort(key=lambda m: (m["at"] or "", m["direction"] == "out"))  # an answer precedes its acknowledgement
        hops.append({
            "position": hop.position, "provider": provider.name if provider else None,
            "outcome": hop.outcome, "label": labels.get(hop.id),
            "requested_at": _iso(hop.requested_at), "answered_at": _iso(hop.answered_at),
            "upstream_name": hop.upstream_name, "upstream_email": hop.upstream_email,
            "customer_name": hop.customer_name, "evidence": hop.evidence, "reminders_sent": hop.reminders_sent,
            "messages": messages,
        })
    return {
        "traceback_id": tb.id, "status": tb.status, "result": tb.result, "campaign": tb.campaign,
        "call_time": _iso(tb.call_time), "called": tb.called, "caller": tb.caller, "description": tb.description,
        "incident_id": tb.incident_id, "origin_customer": tb.origin_customer,
        "opened_at": _iso(tb.opened_at), "closed_at": _iso(tb.closed_at), "hops": hops,
    }


def listing(session: Session, only_open: bool = False) -> list[dict[str, Any]]:
    query = select(Traceback).order_by(Traceback.id)
    if only_open:
        query = query.where(Traceback.status == TracebackStatus.OPEN)
    out = []
    for tb in session.exec(query).all():
        last = session.exec(select(Hop).where(Hop.traceback_id == tb.id)
                            .order_by(Hop.position.desc())).first()  # type: ignore[union-attr]
        provider = session.get(Provider, last.provider_id) if last else None
        out.append({"traceback_id": tb.id, "status": tb.status, "result": tb.result, "campaign": tb.campaign,
                    "hops": (last.position + 1) if last else 0, "current": provider.name if provider else None,
                    "opened_at": _iso(tb.opened_at)})
    return out
