"""Re-running the parsers over stored raw messages, after a parser fix."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailbot.domain.vocabulary import MessageStatus
from mailbot.parsers.campaigns import canonical_names
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally, apply, campaign_counts, clear_derived, message_key, save_canonical
from mailbot.store.tables.messages import Message


def requeue_failed(session: Session) -> int:
    """Live messages quarantined because processing them failed go back in the queue, tries reset.

    The desk never saw them, so re-parsing alone would not do: `mailbot serve` (or the next
    `receive`) processes them whole, as if they had just arrived.
    """
    failed = (col(Message.status) == MessageStatus.QUARANTINED) & (col(Message.failures) > 0)
    result = session.execute(
        update(Message).where(failed).values(status=MessageStatus.NEW, failures=0, retry_at=None, reason=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)  # an UPDATE's result has a rowcount


def reparse(engine: Engine, only_quarantined: bool = False) -> Tally:
    """One transaction: the store shows either the old parse or the new one, never a mix."""
    tally = Tally()
    with session_scope(engine) as session:
        tally.requeued = requeue_failed(session)
        # `new` rows are the live queue: processing parses them (and the desk reads them), not this.
        query = (
            select(col(Message.id), col(Message.raw))
            .where(col(Message.status) != MessageStatus.NEW)
            .order_by(col(Message.id))
        )
        if only_quarantined:
            query = query.where(col(Message.status) == MessageStatus.QUARANTINED)
        else:
            clear_derived(session)
        for pk, raw in session.execute(query.execution_options(yield_per=500)).all():
            parsed = parse_message(raw)
            if only_quarantined:
                clear_derived(session, [pk])
            apply(session, pk, message_key(parsed.envelope.message_id, raw), parsed, tally)
            tally.stored += 1
        save_canonical(session, canonical_names(campaign_counts(session)))
    return tally
