"""The SQLModel tables, one module per area; importing this package registers them all."""

from mailbot.store.tables import desk, intake, messages, outbox, schedule
from sqlalchemy import Table
from sqlmodel import SQLModel

__all__ = ["desk", "intake", "messages", "outbox", "schedule", "table_of"]


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for statements on columns rather than objects."""
    return model.__table__  # type: ignore[attr-defined]  # SQLModel sets it, untyped
