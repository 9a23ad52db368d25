"""What every command shares: the settings, the database, and the clock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import click
from sqlalchemy.engine import Engine

from mailbot.config import Config
from mailbot.domain.timeutil import parse_instant
from mailbot.store.db import make_engine
from mailbot.store.schema import SchemaMismatch, ensure_schema


def parse_now(value: str | None) -> datetime | None:
    """An ISO time for --now / MAILBOT_NOW, as UTC; naive times are taken as UTC.

    Converted because the store keeps UTC: SQLite drops the offset of whatever it is given.
    """
    return parse_instant(value) if value else None


@dataclass
class App:
    config: Config
    fixed_now: datetime | None = field(default_factory=lambda: parse_now(os.environ.get("MAILBOT_NOW")))

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.config.database_url)
        try:
            ensure_schema(engine)  # an empty database is created at head; any other schema is refused
        except SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from exc
        return engine

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)
