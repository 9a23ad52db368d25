"""Re-running the parsers over stored raw messages, after a parser fix."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from mailbot.domain.vocabulary import MessageStatus
from mailbot.parsers.campaigns import canonical_names
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally, apply, campaign_counts, clear_derived, message_key, save_canonical
from mailbot.store.tables.messages import Message


def reparse(engine: Engine, only_quarantined: bool = False) -> Tally:
    """One transaction: the store shows either the old parse or the new one, never a mix."""
    tally = Tally()
    with session_scope(engine) as session:
        query = select(col(Message.id), col(Message.raw)).order_by(col(Message.id))
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
