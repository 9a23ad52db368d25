"""Instants as the store keeps them: aware, in UTC.

SQLite drops the offset of whatever it is given and hands times back naive, so
everything is stored in UTC and a naive time read back means UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """`2026-03-10T14:00:00Z`, as the exports and JSON views write times; None stays None."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time (a trailing Z allowed) as aware UTC; a naive one is taken as UTC."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
