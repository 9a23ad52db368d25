"""What every command shares: the settings, the database, and the clock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import click
from sqlalchemy.engine import Engine

from mailbot.config import Config
from mailbot.store.db import make_engine, sqlite_file
from mailbot.store.schema import DatabaseMissing, SchemaMismatch, ensure_schema, head


def parse_now(value: str | None) -> datetime | None:
    """An ISO time for --now / MAILBOT_NOW, as UTC; naive times are taken as UTC.

    Converted because the store keeps UTC: SQLite drops the offset of whatever it is given.
    """
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class App:
    config: Config
    fixed_now: datetime | None = field(default_factory=lambda: parse_now(os.environ.get("MAILBOT_NOW")))
    # False: a missing database is refused, not created. The CLI starts every command so
    # and lets only those that write create it (mailbot/cli/options.py `creates_database`),
    # so a typo in a URL creates nothing; code using App directly (tests, benches) creates.
    create_missing: bool = True

    @cached_property
    def engine(self) -> Engine:
        url = self.config.database_url
        file = sqlite_file(url)
        if file is not None and not file.exists():
            if not self.create_missing:
                raise DatabaseMissing(f"database {file} does not exist; nothing was created "
                                      "(check --db, [database] url or MAILBOT_DATABASE_URL)")
            file.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        try:
            created = ensure_schema(engine, create=self.create_missing)  # any other schema is refused
        except SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from exc
        if created:
            click.echo(f"mailbot: created database {engine.url.render_as_string(hide_password=True)} "
                       f"(schema {head()})", err=True)
        return engine

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)
