"""The health figures `mailbot status` prints and the metrics endpoint exports, read in one place.

Read from the database, not kept in a process, so every `serve`, `receive` and import
writing to one database is counted and any process reading it reports the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mailbot.store.tables.desk import Review
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import func, select
from sqlmodel import Session, col

from mailbot.domain.vocabulary import MessageStatus, OutboxStatus


@dataclass(frozen=True)
class Figures:
    messages: dict[str, int]  # MessageStatus -> messages stored with it (every status present)
    outbox: dict[str, int]  # OutboxStatus -> outbox messages (every status present)
    open_reviews: int
    oldest_unprocessed: datetime | None  # received_at of the oldest message still `new`

    @property
    def stored(self) -> int:
        return sum(self.messages.values())

    @property
    def processed(self) -> int:
        return self.stored - self.messages[MessageStatus.NEW]

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest unprocessed message has waited; 0 when none waits."""
        if self.oldest_unprocessed is None:
            return 0.0
        oldest = self.oldest_unprocessed
        oldest = oldest.replace(tzinfo=UTC) if oldest.tzinfo is None else oldest  # SQLite hands back naive UTC
        return max((now - oldest).total_seconds(), 0.0)


def read_figures(session: Session) -> Figures:
    """The figures, in the caller's transaction; raises when the database cannot be used."""
    by_status = dict(session.execute(select(col(Message.status), func.count()).group_by(col(Message.status))).all())
    outbox = dict(
        session.execute(select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))).all()
    )
    oldest = session.execute(
        select(func.min(col(Message.received_at))).where(col(Message.status) == MessageStatus.NEW)
    ).scalar()
    reviews = session.execute(select(func.count()).select_from(Review).where(col(Review.resolved).is_(False))).scalar()
    return Figures(
        messages={status.value: by_status.get(status, 0) for status in MessageStatus},
        outbox={status.value: outbox.get(status, 0) for status in OutboxStatus},
        open_reviews=reviews or 0,
        oldest_unprocessed=oldest,
    )
