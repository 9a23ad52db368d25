"""Tracebacks' Call Paths as plain rows: each hop in order with its provider's `foreign` flag.

What `mailbot.hop_labels` needs to label hops, read in one query for many tracebacks.
A Trace Forward's path is not a Call Path (it follows a call-back number downstream): its
hops get no origin or point-of-entry label, so they are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailbot.store.tables.desk import Hop, Provider, Traceback
from sqlalchemy import select
from sqlmodel import Session, col

from mailbot.domain.vocabulary import TracebackDirection


@dataclass(frozen=True)
class PathRow:
    hop_id: int
    provider_id: int
    foreign: bool
    outcome: str | None


def paths(session: Session, traceback_ids: Iterable[int]) -> dict[int, list[PathRow]]:
    """traceback id -> its hops, terminating provider first."""
    ids = sorted(set(traceback_ids))
    found: dict[int, list[PathRow]] = {tb: [] for tb in ids}
    for start in range(0, len(ids), 1000):  # bounded IN lists
        rows = session.execute(
            select(col(Hop.traceback_id), col(Hop.id), col(Hop.provider_id), col(Provider.foreign), col(Hop.outcome))
            .join(Provider, col(Provider.id) == col(Hop.provider_id))
            .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
            .where(
                col(Hop.traceback_id).in_(ids[start : start + 1000]),
                col(Traceback.direction) != TracebackDirection.FORWARD,
            )
            .order_by(col(Hop.traceback_id), col(Hop.position))
        )
        for tb, hop_id, provider_id, foreign, outcome in rows:
            found[tb].append(PathRow(hop_id, provider_id, bool(foreign), outcome))
    return found
