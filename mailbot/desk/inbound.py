"""Incoming live mail at the desk: bounces, automatic mail, status commands, answers."""

from __future__ import annotations

import email
import email.message
import re
from datetime import datetime


from sqlmodel import Session, select

from mailbot.desk import matching, providers
from mailbot.outbound import outbox
from mailbot.domain import tokens
from mailbot.intake.pipeline import HANDLERS, Delivery
from mailbot.parsers import reply as reply_parser
from mailbot.parsers.mime import body_text, header_text
from mailbot.domain.records import Kind, ReplyResult
from mailbot.store.tables.desk import (
    Hop,
    HopMessage,
    ProviderContact,
    ReviewKind,
    Traceback,
    TracebackStatus,
)
from mailbot.store.db import chunks
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage

from mailbot.desk.workflow import NOTICE_KINDS, apply_answer, desk_address, hop_context, open_review, send_hop_notice, settings

_COMMAND = re.compile(r"^\s*(status|estado)\s*[.!?]?\s*$", re.I)
_PRECEDENCE = re.compile(r"^\s*(bulk|junk|list|auto_reply)\b", re.I)
_FINAL_RECIPIENT = re.compile(r"^(?:final|original)-recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", re.I | re.M)
_MESSAGE_ID = re.compile(rb"<[^<>\s@]+@[^<>\s]+>")


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
        context = hop_context(session, hop)
        requests.append({"traceback_id": context["traceback_id"], "call": context["call"],
                         "requested_at": hop.requested_at, "downstream_name": context["downstream_name"]})
    outbox.enqueue(session, dedupe_key=f"status:{delivery.pk}", kind="status_list", to=[sender],
                   context={"provider_name": provider.name, "open_requests": requests}, now=now,
                   in_reply_to=delivery.parsed.envelope.message_id)


def _bounce(session: Session, msg: email.message.Message, raw: bytes, delivery: Delivery, now: datetime) -> None:
    """A notice bounced: that contact is undeliverable, the backup gets the notice, ops hear of it."""
    ids = [m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(raw)]
    sent = next((row for part in chunks(ids) if (row := session.exec(select(OutboxMessage).where(
        OutboxMessage.message_id.in_(part))).first()) is not None), None)  # type: ignore[attr-defined]
    if sent is None:
        return  # a bounce of nothing we sent: stored, nothing to do
    failed = {a.lower() for a in _FINAL_RECIPIENT.findall(body_text(msg) + "\n" + raw.decode("utf-8", "replace"))}
    failed = failed or {a.lower() for a in sent.recipients}
    hop = session.get(Hop, sent.hop_id) if sent.hop_id else None
    provider_id = hop.provider_id if hop else None
    contacts = [c for part in chunks(failed) for c in session.exec(select(ProviderContact).where(
        ProviderContact.address.in_(part))).all()]  # type: ignore[attr-defined]
    for contact in contacts:
        if not contact.undeliverable:
            contact.undeliverable, contact.undeliverable_at = True, now
        provider_id = provider_id or contact.provider_id
    open_review(session, ReviewKind.BOUNCE, now, f"{sent.kind} to {', '.join(sorted(failed))} bounced",
            hop=hop, provider_id=provider_id, message_pk=delivery.pk, traceback_id=sent.traceback_id)
    if hop is not None and provider_id is not None:
        backups = [a for a in providers.notice_addresses(session, provider_id) if a not in failed]
        if backups:
            send_hop_notice(session, hop, sent.kind, now, sequence=f"resend:{sent.id}", to=backups)


def _answers_by_hop(session: Session, found: list[Hop], provider_id: int,
                    results: tuple[ReplyResult, ...]) -> list[tuple[Hop, ReplyResult]]:
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
        open_review(session, ReviewKind.FORGED_TOKEN, now, f"reply from {sender} to a token that does not verify",
                message_pk=delivery.pk)
        _refuse(session, sender, now)
        return
    if not found.hops:
        what = "a forwarded notice" if parsed.kind in NOTICE_KINDS else f"a {parsed.kind} message"
        open_review(session, ReviewKind.UNMATCHED, now, f"{what} from {sender} that answers no open hop "
                f"(subject {parsed.envelope.subject!r})", message_pk=delivery.pk)
        return
    hop = found.hops[0]
    if not providers.may_answer_for(session, hop.provider_id, sender):
        open_review(session, ReviewKind.UNAUTHORIZED_SENDER, now, f"{sender} answered hop {hop.id} but is not registered "
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

