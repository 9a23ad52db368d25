"""Queries more than one part of mailbot asks the same way."""

from __future__ import annotations

from sqlmodel import Session, col, select

from mailbot.store.tables.desk import Hop


def last_hop(session: Session, traceback_id: int | None) -> Hop | None:
    """The traceback's most recent hop (highest position), or None before its first."""
    return session.exec(select(Hop).where(Hop.traceback_id == traceback_id)
                        .order_by(col(Hop.position).desc())).first()
