"""Live mail: store first, process after (as Mailman's LMTP runner only stores and queues).

`receive` is what every live intake (SMTP, IMAP, the MTA pipe) calls before it
acknowledges a message: it commits the raw bytes, status `new`. `process_pending`
later parses what is `new`, records it, and hands it to the traceback desk.
Processing survives restarts because `new` rows are the queue. A message whose
processing raises is retried with backoff (`[serve] attempts`, `retry_after`),
then quarantined with the error; meanwhile later messages go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailbot.domain.records import Arrival, ParsedMessage
from mailbot.domain.vocabulary import MessageStatus
from mailbot.parsers.campaigns import canonical_names
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.dialect import skip_locked
from mailbot.store.ingest import Tally, apply, campaign_counts, message_key, save_canonical, store_raw
from mailbot.store.tables.messages import Message

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)
ERROR_CHARS = 400  # of an error kept as a message's reason


class StoreUnavailable(Exception):
    """The message could not be stored; the sender must retry (SMTP 4xx, EX_TEMPFAIL)."""


@dataclass
class Delivery:
    """A stored message travelling through processing, with its metadata dict."""

    pk: int
    origin: str
    parsed: ParsedMessage
    status: str
    meta: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""  # as stored (sender authentication verifies signatures over it)


# Called for each processed live message inside its transaction; `App.handlers` holds them.
Handler = Callable[["App", Session, Delivery, datetime], None]


def receive(engine: Engine, arrival: Arrival, now: datetime) -> int | None:
    """Commit the raw message; its id, or None if this source place was stored before."""
    try:
        with session_scope(engine) as session:
            # The key is refined at processing; a provisional one keeps this step parse-free.
            pk = store_raw(session, arrival, key="pending", received_at=now)
    except Exception as exc:
        raise StoreUnavailable(str(exc)) from exc
    if pk is None:
        log.info("already stored: %s %s", arrival.source, arrival.source_key)
    else:
        log.info("stored message %d (%s %s, %d bytes)", pk, arrival.origin, arrival.source_key, len(arrival.raw))
    return pk


def _claim(session: Session, limit: int, now: datetime) -> list[tuple[int, bytes, str]]:
    query = (
        select(col(Message.id), col(Message.raw), col(Message.origin))
        .where(col(Message.status) == MessageStatus.NEW)
        # A message whose processing failed waits out its backoff; the ones after it go first.
        .where(or_(col(Message.retry_at).is_(None), col(Message.retry_at) <= _utc(now)))
        .order_by(col(Message.id))
        .limit(limit)
    )
    # Several instances share the queue: each row is processed by whoever locks it.
    query = skip_locked(query, session, of=Message)
    return [(pk, raw, origin) for pk, raw, origin in session.execute(query).all()]


WriteTurn = Callable[[], AbstractContextManager[Any]]


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)  # SQLite keeps no offset: compare and store UTC only


def _process(
    app: App, session: Session, pk: int, raw: bytes, origin: str, parsed: ParsedMessage, now: datetime
) -> Delivery | None:
    """Record and hand on one claimed, parsed message; None if another process settled it first."""
    key = message_key(parsed.envelope.message_id, raw)
    # The first write takes SQLite's write lock and reads the row as committed: if another
    # process (`receive` beside `serve`; SQLite has no SKIP LOCKED) settled it since the claim, stop.
    claimed = session.execute(
        update(Message).where(col(Message.id) == pk, col(Message.status) == MessageStatus.NEW).values(message_key=key)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    status = apply(session, pk, key, parsed, Tally())
    delivery = Delivery(pk=pk, origin=origin, parsed=parsed, status=status, raw=raw)
    if origin != "import":  # only live mail is answered, so only it is read for the desk
        for handler in app.handlers:
            handler(app, session, delivery, now)
    if parsed.incidents:
        save_canonical(session, canonical_names(campaign_counts(session)))
    return delivery


def _error_text(exc: BaseException) -> str:
    """The error in one bounded line: the database's own message, not the statement and its parameters."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:ERROR_CHARS]


def record_failure(app: App, pk: int, exc: BaseException, now: datetime) -> str:
    """Count one failed try at message `pk` (its work was rolled back): back off, or quarantine it.

    Its own transaction; if the database cannot take even this (it is down), that error is
    raised and the message stays as it was, for the service loop to retry later.
    """
    serve = app.settings.serve
    with session_scope(app.engine) as session:
        failures = session.scalar(
            select(col(Message.failures))
            .where(col(Message.id) == pk, col(Message.status) == MessageStatus.NEW)
            .with_for_update()
        )
        if failures is None:
            return "gone"  # another instance settled it meanwhile
        failures += 1
        values: dict[str, Any] = {"failures": failures, "reason": _error_text(exc)}
        if failures >= serve.attempts:
            values.update(
                status=MessageStatus.QUARANTINED,
                reason=f"processing failed {failures} times: {values['reason']}",
                retry_at=None,
            )
        else:
            values["retry_at"] = _utc(now) + serve.retry_after * 2 ** (failures - 1)
        session.execute(update(Message).where(col(Message.id) == pk).values(**values))
    return str(values.get("status", "retry"))


def process_pending(app: App, now: datetime, limit: int = 100, write_turn: WriteTurn = nullcontext) -> int:
    """Process up to `limit` stored-but-new messages, one transaction each, through `app.handlers`; how many.

    On PostgreSQL a message is claimed (row lock, SKIP LOCKED), parsed and recorded in one
    transaction. SQLite has one writer at a time and a reader's snapshot cannot become a
    writer once someone else committed, so there a message is read, parsed with no
    transaction open (a 24 MB message takes seconds), and then recorded in a transaction of
    its own, inside `write_turn()` (serve's write gate), if it is still `new`.

    A message whose processing raises is rolled back, counted and set aside (`record_failure`),
    and the next one goes on: one bad message never holds up the queue.
    """
    done = 0
    parse_first = app.engine.dialect.name == "sqlite"
    while done < limit:
        pk: int | None = None
        delivery: Delivery | None = None
        try:
            if parse_first:
                with session_scope(app.engine) as session:
                    claimed = _claim(session, 1, now)
                if not claimed:
                    break
                pk, raw, origin = claimed[0]
                parsed = parse_message(raw, live=origin != "import")
                with write_turn(), session_scope(app.engine) as session:
                    delivery = _process(app, session, pk, raw, origin, parsed, now)
            else:
                with session_scope(app.engine) as session:
                    claimed = _claim(session, 1, now)
                    if not claimed:
                        break
                    pk, raw, origin = claimed[0]
                    parsed = parse_message(raw, live=origin != "import")
                    delivery = _process(app, session, pk, raw, origin, parsed, now)
        except Exception as exc:
            if pk is None:
                raise  # nothing claimed: the database itself is failing
            with write_turn():
                outcome = record_failure(app, pk, exc, now)
            log.warning("processing message %d failed (%s)", pk, outcome, exc_info=True)
        if delivery is not None:  # logged once its transaction committed
            disposition = delivery.meta.get("disposition")
            log.info(
                "processed message %d: %s, %s%s",
                delivery.pk,
                delivery.status,
                delivery.parsed.kind.value,
                f", disposition {disposition}" if disposition else "",
            )
        done += 1
    return done
