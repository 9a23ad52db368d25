"""The durable outbox: notices are recorded with the decision that causes them, sent later.

`enqueue` renders a notice into a complete MIME message and records it inside the
caller's transaction; its unique `dedupe_key` (by convention
`hop:{hop_id}:{kind}:{sequence}`) makes each notice exactly-once: queueing it again
changes nothing and returns False. If the caller's transaction rolls back, the
notice was never queued.

`deliver_pending` sends what is due. A row is claimed (status `sending`, in its
own short transaction; `FOR UPDATE SKIP LOCKED` on PostgreSQL plus a conditional
UPDATE on both backends, so two senders never take one row), then sent, then
marked `sent`. A sender that dies after recording but before sending leaves the
row `queued`: the next run sends it. One that dies mid-send leaves it `sending`;
after `SEND_LEASE` another run takes it over. For the Maildir transport that
second attempt is a no-op (delivery is keyed by Message-ID); over SMTP the
message may go out twice if the process died after the relay accepted it and
before the row was marked (at-least-once, a window of one SMTP exchange).

Each message goes out with its own envelope sender, `bounces+<outbox id>-<hmac>@domain`
(VERP, `MailSettings.return_path`): a delivery report counts only when it comes back
to that address, for that message and its recipients (mailbot/desk/bounces.py).

Temporary failures retry with exponential backoff (`BACKOFF_FIRST` doubling to
`BACKOFF_MAX`) until `[outbound] retry_for` after the notice was queued; permanent
ones (5xx) fail at once with the reason. Per-recipient rate limit: at most
`[outbound] rate_per_hour` messages to one address in any hour; over it a message
waits for a free slot, it is never dropped. The count is of messages marked sent, so
senders running at once can each send one more in the same moment (the limit is
exceeded by at most the number of concurrent senders less one).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parseaddr
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailbot.config import Settings
from mailbot.domain import tokens
from mailbot.domain.timeutil import utc
from mailbot.domain.vocabulary import OutboxStatus
from mailbot.outbound.render import header_text, render
from mailbot.outbound.transport import PartialDelivery, PermanentFailure, TemporaryFailure, Transport
from mailbot.store import decisions
from mailbot.store.db import session_scope
from mailbot.store.dialect import skip_locked
from mailbot.store.tables import table_of
from mailbot.store.tables.outbox import OutboxMessage, OutboxRecipient
from mailbot.store.upsert import insert_ignore

SEND_LEASE = timedelta(minutes=10)
log = logging.getLogger(__name__)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
RATE_WINDOW = timedelta(hours=1)
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")


@dataclass(frozen=True)
class MailSettings:
    """What enqueueing and delivery need of the settings; the App builds it once."""

    sender: str  # the From header, "Name <addr>"
    domain: str  # of Message-IDs and of return paths
    rate_per_hour: int
    retry_for: timedelta
    secret: bytes  # signs each message's return path (the App's token secret)
    # What every notice says of the desk: `[mail] organization`, `[mail] contact`, and the
    # zone its deadlines are also shown in (`[schedule] timezone`, where business days count).
    letterhead: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, secret: bytes) -> MailSettings:
        return cls(
            sender=header_text(settings.mail.sender, 320),
            domain=settings.mail.domain,
            rate_per_hour=settings.outbound.rate_per_hour,
            retry_for=settings.outbound.retry_for,
            secret=secret,
            letterhead={
                "organization": settings.mail.organization,
                "contact": settings.mail.contact,
                "timezone": settings.schedule.rules.calendar.zone.key,
            },
        )

    def return_path(self, outbox_id: int) -> str:
        """The envelope sender (MAIL FROM) of one outbox message: a bounce names what it is about."""
        return tokens.bounce_address(outbox_id, self.secret, self.domain)


def clean_addresses(values: Sequence[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs; ValueError for anything that is not one plain address."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        if "\r" in value or "\n" in value:
            raise ValueError(f"address contains a line break: {value!r}")
        found = getaddresses([value])
        if len(found) != 1 or not _ADDRESS.match(found[0][1]):
            raise ValueError(f"not a single email address: {value!r}")
        pairs.append((header_text(found[0][0], 100), found[0][1]))
    if not pairs:
        raise ValueError("a notice needs at least one recipient")
    return pairs


def _message_id_header(value: str | None) -> str | None:
    """A Message-ID for In-Reply-To/References: one `<...>` token, or nothing."""
    if not value:
        return None
    m = re.search(r"<[^<>\s]{1,900}>", value)
    return m.group(0) if m else None


def build_message(
    *,
    kind: str,
    to: Sequence[str],
    context: dict[str, Any],
    now: datetime,
    sender: str,
    domain: str,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """The complete notice: text and HTML alternatives, threading and loop-prevention headers."""
    recipients = clean_addresses(to)
    rendered = render(kind, context)
    tag = f"tb{context['traceback_id']}." if context.get("traceback_id") is not None else ""
    msg = EmailMessage(policy=DEFAULT_POLICY)
    msg["From"] = sender
    msg["To"] = ", ".join(formataddr(pair) for pair in recipients)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(utc(now))
    msg["Message-ID"] = make_msgid(idstring=f"{tag}{kind}", domain=domain)
    if reply_to:
        msg["Reply-To"] = formataddr(clean_addresses([reply_to])[0])
    parent = _message_id_header(in_reply_to)
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    # RFC 3834: autoresponders must not answer this, which is half of loop prevention.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailbot-Notice"] = kind
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def enqueue(
    session: Session,
    *,
    mail: MailSettings,
    dedupe_key: str,
    kind: str,
    to: list[str],
    context: dict[str, Any],
    now: datetime,
    traceback_id: int | None = None,
    hop_id: int | None = None,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    sender: str | None = None,
) -> bool:
    """Record one notice in the caller's transaction; False if `dedupe_key` was queued before."""
    context = {**mail.letterhead, **context}
    if traceback_id is not None:
        context.setdefault("traceback_id", traceback_id)
    msg = build_message(
        kind=kind,
        to=to,
        context=context,
        now=now,
        sender=sender or mail.sender,
        domain=mail.domain,
        reply_to=reply_to,
        in_reply_to=in_reply_to,
    )
    return enqueue_message(
        session, dedupe_key=dedupe_key, kind=kind, msg=msg, now=now, traceback_id=traceback_id, hop_id=hop_id
    )


def bounded_key(key: str, limit: int = 255) -> str:
    """A dedupe key that fits its column: one built from mail (a sender's address) may be longer;
    its tail is then replaced by a digest, so it still names one thing."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: limit - len(digest) - 1]}#{digest}"


def enqueue_message(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    msg: EmailMessage,
    now: datetime,
    traceback_id: int | None = None,
    hop_id: int | None = None,
) -> bool:
    """Record an already-built message (e.g. the digest with its chart) exactly as `enqueue` does.

    The envelope comes from its From and To headers; it needs a Message-ID.
    """
    if not msg["Message-ID"]:
        raise ValueError("a queued message needs a Message-ID")
    dedupe_key = bounded_key(dedupe_key)
    addresses = [addr for _name, addr in getaddresses([str(v) for v in msg.get_all("To", [])])]
    if not addresses or not all(_ADDRESS.match(addr) for addr in addresses):
        raise ValueError(f"a queued message needs plain addresses in To: {addresses!r}")
    moment = utc(now)
    row = {
        "dedupe_key": dedupe_key,
        "kind": kind,
        "traceback_id": traceback_id,
        "hop_id": hop_id,
        "message_id": str(msg["Message-ID"]).strip(),
        "sender": parseaddr(str(msg["From"]))[1],
        "recipients": addresses,
        "subject": str(msg["Subject"] or ""),
        "raw": msg.as_bytes(),
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "created_at": moment,
        "next_attempt_at": moment,
    }
    (outbox_id,) = insert_ignore(session, OutboxMessage, [row], keys=["dedupe_key"], returning="id")
    if outbox_id is None:
        return False
    decisions.note(
        session,
        log,
        "queued notice %d (%s; traceback %s, hop %s) to %s",
        outbox_id,
        kind,
        traceback_id,
        hop_id,
        ", ".join(addresses),
    )
    session.execute(
        table_of(OutboxRecipient).insert(),
        [{"outbox_id": outbox_id, "address": addr.lower()} for addr in dict.fromkeys(addresses)],
    )
    return True


# --- delivery -----------------------------------------------------------------


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        (col(OutboxMessage.status) == OutboxStatus.QUEUED) & (col(OutboxMessage.next_attempt_at) <= now),
        (col(OutboxMessage.status) == OutboxStatus.SENDING) & (col(OutboxMessage.claimed_at) <= now - SEND_LEASE),
    )


def _rate_wait(session: Session, addresses: Sequence[str], now: datetime, per_hour: int) -> datetime | None:
    """When the busiest recipient has a free slot again, or None if all have one now."""
    wait: datetime | None = None
    for address in dict.fromkeys(a.lower() for a in addresses):
        sent = (
            select(col(OutboxRecipient.sent_at))
            .where(col(OutboxRecipient.address) == address, col(OutboxRecipient.sent_at) > now - RATE_WINDOW)
            .order_by(col(OutboxRecipient.sent_at).desc())
            .limit(per_hour)
        )
        times = [utc(t) for (t,) in session.execute(sent).all()]
        if len(times) >= per_hour:
            free = times[-1] + RATE_WINDOW  # when the oldest of the last `per_hour` leaves the window
            wait = free if wait is None else max(wait, free)
    return wait


def _claim(engine: Engine, now: datetime, per_hour: int) -> OutboxMessage | None:
    """Take the next due row for sending; rows over the rate limit are deferred on the way."""
    while True:
        with session_scope(engine) as session:
            query = (
                select(OutboxMessage)
                .where(_due(now))
                .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                .limit(1)
            )
            query = skip_locked(query, session)
            row = session.execute(query).scalars().first()
            if row is None:
                return None
            table = table_of(OutboxMessage)
            unchanged = (table.c.id == row.id) & (table.c.status == row.status) & (table.c.attempts == row.attempts)
            wait = _rate_wait(session, row.recipients, now, per_hour)
            if wait is not None:
                session.execute(
                    update(table)
                    .where(unchanged)
                    .values(
                        status=OutboxStatus.QUEUED,
                        next_attempt_at=wait,
                        claimed_at=None,
                        last_error=f"rate limit: waiting until {wait:%Y-%m-%d %H:%M:%S} UTC",
                    )
                )
                continue
            taken = session.execute(
                update(table)
                .where(unchanged)
                .values(status=OutboxStatus.SENDING, claimed_at=now, attempts=row.attempts + 1)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
                continue  # another sender took it between our read and our update
            row.attempts += 1
            session.expunge(row)
            return row


def _finish(engine: Engine, row: OutboxMessage, now: datetime, **values: Any) -> None:
    table = table_of(OutboxMessage)
    with session_scope(engine) as session:
        session.execute(update(table).where(table.c.id == row.id).values(claimed_at=None, **values))
        if values.get("status") == OutboxStatus.SENT:
            rt = table_of(OutboxRecipient)
            session.execute(update(rt).where(rt.c.outbox_id == row.id).values(sent_at=now))
    status, error = values.get("status"), values.get("last_error")
    what = (
        f"notice {row.id} ({row.kind}; traceback {row.traceback_id}, hop {row.hop_id}) to {', '.join(row.recipients)}"
    )
    if status == OutboxStatus.SENT:
        log.info("sent %s%s", what, f" ({error})" if error else "")
    elif status == OutboxStatus.FAILED:
        log.warning("failed %s: %s", what, error)
    else:
        log.info("deferred %s until %s: %s", what, values.get("next_attempt_at"), error)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 1 min, 2, 4, ... capped at an hour."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def deliver_pending(
    engine: Engine, transport: Transport, now: datetime, limit: int = 100, *, mail: MailSettings
) -> int:
    """Send up to `limit` due notices (within `mail`'s rate limit and retry period); how many were sent."""
    now = utc(now)
    sent = 0
    for _ in range(limit):
        row = _claim(engine, now, mail.rate_per_hour)
        if row is None:
            break
        try:
            assert row.id is not None
            # VERP: each message its own signed return path, so a bounce counts only for what was sent.
            transport.send(
                row.raw, sender=mail.return_path(row.id), recipients=list(row.recipients), message_id=row.message_id
            )
        except PartialDelivery as exc:
            _finish(
                engine, row, now, status=OutboxStatus.SENT, sent_at=now, last_error=f"some recipients refused: {exc}"
            )
            sent += 1
        except PermanentFailure as exc:
            _finish(engine, row, now, status=OutboxStatus.FAILED, last_error=f"permanent: {exc}"[:2000])
        except Exception as exc:
            reason = str(exc) if isinstance(exc, TemporaryFailure) else repr(exc)
            if now - utc(row.created_at) >= mail.retry_for:
                _finish(
                    engine,
                    row,
                    now,
                    status=OutboxStatus.FAILED,
                    last_error=f"gave up after {row.attempts} attempts: {reason}"[:2000],
                )
            else:
                _finish(
                    engine,
                    row,
                    now,
                    status=OutboxStatus.QUEUED,
                    next_attempt_at=now + backoff(row.attempts),
                    last_error=f"temporary: {reason}"[:2000],
                )
        else:
            _finish(engine, row, now, status=OutboxStatus.SENT, sent_at=now, last_error=None)
            sent += 1
    return sent


# --- queries for the digest and the CLI ---------------------------------------


def outbox_rows(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    traceback_id: int | None = None,
    hop_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[OutboxMessage]:
    """Outbox rows, newest first, filtered by whichever arguments are given."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
    if status is not None:
        query = query.where(col(OutboxMessage.status) == status)
    if kind is not None:
        query = query.where(col(OutboxMessage.kind) == kind)
    if traceback_id is not None:
        query = query.where(col(OutboxMessage.traceback_id) == traceback_id)
    if hop_id is not None:
        query = query.where(col(OutboxMessage.hop_id) == hop_id)
    if since is not None:
        query = query.where(col(OutboxMessage.created_at) >= utc(since))
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars().all())


def status_counts(session: Session) -> dict[str, int]:
    """How many rows are in each status."""
    query = select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))
    return {status: count for status, count in session.execute(query).all()}


def find_by_message_id(session: Session, message_id: str) -> OutboxMessage | None:
    """The notice a reply's In-Reply-To / References names, if mailbot sent it."""
    wanted = _message_id_header(message_id) or message_id.strip()
    return session.execute(select(OutboxMessage).where(col(OutboxMessage.message_id) == wanted)).scalars().first()
