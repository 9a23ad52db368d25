"""Which providers are designated Non-Cooperative now: the newest record of each decides."""

from __future__ import annotations

from mailbot.store.tables.schedule import NonCooperativeChange
from sqlalchemy import select
from sqlmodel import Session, col

DESIGNATED = "designated"


def designated_ids(session: Session) -> set[int]:
    newest: dict[int, str] = {}
    for provider_id, action in session.execute(
        select(col(NonCooperativeChange.provider_id), col(NonCooperativeChange.action)).order_by(
            col(NonCooperativeChange.id)
        )
    ):
        newest[provider_id] = action
    return {pid for pid, action in newest.items() if action == DESIGNATED}
