"""Live mail: store first, process after (as Mailman's LMTP runner only stores and queues).

`receive` is what every live intake (SMTP, IMAP, the MTA pipe) calls before it
acknowledges a message: it commits the raw bytes, status `new`. `process_pending`
later parses what is `new`, records it, and hands it to the traceback desk.
Processing survives restarts because `new` rows are the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailbot.domain.records import Arrival, ParsedMessage
from mailbot.domain.vocabulary import MessageStatus
from mailbot.parsers.campaigns import canonical_names
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.dialect import skip_locked
from mailbot.store.ingest import Tally, apply, campaign_counts, message_key, save_canonical, store_raw
from mailbot.store.tables import table_of
from mailbot.store.tables.messages import Message

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)


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


def _claim(session: Session, limit: int) -> list[tuple[int, bytes, str]]:
    query = (
        select(col(Message.id), col(Message.raw), col(Message.origin))
        .where(col(Message.status) == MessageStatus.NEW)
        .order_by(col(Message.id))
        .limit(limit)
    )
    # Several instances share the queue: each row is processed by whoever locks it.
    query = skip_locked(query, session, of=Message)
    return [(pk, raw, origin) for pk, raw, origin in session.execute(query).all()]


def process_pending(app: App, now: datetime, limit: int = 100) -> int:
    """Process up to `limit` stored-but-new messages, one transaction each, through `app.handlers`; how many."""
    done = 0
    while done < limit:
        with session_scope(app.engine) as session:
            claimed = _claim(session, 1)
            if not claimed:
                break
            pk, raw, origin = claimed[0]
            live = origin != "import"  # only live mail is answered, so only it is read for the desk
            parsed = parse_message(raw, live=live)
            key = message_key(parsed.envelope.message_id, raw)
            session.execute(table_of(Message).update().where(col(Message.id) == pk).values(message_key=key))
            status = apply(session, pk, key, parsed, Tally())
            delivery = Delivery(pk=pk, origin=origin, parsed=parsed, status=status)
            if live:
                for handler in app.handlers:
                    handler(app, session, delivery, now)
            if parsed.incidents:
                save_canonical(session, canonical_names(campaign_counts(session)))
        log.info(
            "processed message %d: %s, %s%s",
            pk,
            status,
            parsed.kind.value,
            f", disposition {delivery.meta['disposition']}" if "disposition" in delivery.meta else "",
        )
        done += 1
    return done
