"""The SQLModel tables, one module per area; importing this package registers them all."""

from mailbot.store.tables import desk, intake, messages, outbox, schedule

__all__ = ["desk", "intake", "messages", "outbox", "schedule"]
