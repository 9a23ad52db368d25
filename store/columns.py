"""Column factories shared by the table modules."""

from __future__ import annotations

from sqlalchemy import Column, DateTime


def utc_column(nullable: bool = True) -> Column:
    """A timestamp with time zone; SQLite keeps no offset, so writers store UTC."""
    return Column(DateTime(timezone=True), nullable=nullable)
