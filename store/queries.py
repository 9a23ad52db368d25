"""Queries more than one part of mailbot asks the same way."""

from __future__ import annotations

from mailbot.store.tables.desk import Hop
from sqlmodel import Session, col, select


def last_hop(session: Session, traceback_id: int | None) -> Hop | None:
    """The traceback's most recent hop (highest position), or None before its first."""
    return session.exec(
        select(Hop).where(col(Hop.traceback_id) == traceback_id).order_by(col(Hop.position).desc())
    ).first()
