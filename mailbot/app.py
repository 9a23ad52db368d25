"""The application object: everything a command, the service or a test shares, built once.

`build_app(settings)` is the one place runtime state is put together (as Mailman's
`initialize` is): the typed settings, the database engine, the clock, the reply-token
secret, the outbox's mail settings and the handlers live mail goes to. Everything else
takes the `App` as an argument; nothing reads settings from a module global.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import click
from sqlalchemy.engine import Engine

from mailbot.config import Settings
from mailbot.desk import inbound
from mailbot.domain import tokens
from mailbot.domain.status_rules import Rules
from mailbot.domain.timeutil import parse_instant
from mailbot.outbound.outbox import MailSettings
from mailbot.store.db import make_engine, sqlite_file
from mailbot.store.schema import DatabaseMissing, SchemaMismatch, ensure_schema, head

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Handler


def parse_now(value: str | None) -> datetime | None:
    """An ISO time for --now / MAILBOT_NOW, as UTC; naive times are taken as UTC.

    Converted because the store keeps UTC: SQLite drops the offset of whatever it is given.
    """
    return parse_instant(value) if value else None


@dataclass(frozen=True)
class DeskAddress:
    """The desk's own address: the local part of `[mail] from` and `[mail] domain`, lower-cased."""

    local: str
    domain: str


@dataclass
class App:
    settings: Settings
    handlers: tuple[Handler, ...] = ()  # what each processed live message is handed to, in order
    fixed_now: datetime | None = field(default_factory=lambda: parse_now(os.environ.get("MAILBOT_NOW")))
    # False: a missing database is refused, not created. The CLI starts every command so
    # and lets only those that write create it (mailbot/cli/options.py `creates_database`),
    # so a typo in a URL creates nothing; code using App directly (tests, benches) creates.
    create_missing: bool = True

    @cached_property
    def engine(self) -> Engine:
        url = self.settings.database_url
        file = sqlite_file(url)
        if file is not None and not file.exists():
            if not self.create_missing:
                raise DatabaseMissing(
                    f"database {file} does not exist; nothing was created "
                    "(check --db, [database] url or MAILBOT_DATABASE_URL)"
                )
            file.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        try:
            created = ensure_schema(engine, create=self.create_missing)  # any other schema is refused
        except SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from exc
        if created:
            click.echo(
                f"mailbot: created database {engine.url.render_as_string(hide_password=True)} (schema {head()})",
                err=True,
            )
        return engine

    @cached_property
    def secret(self) -> bytes:
        """The reply-token key (read, or generated into `[mail] secret_file`, on first use)."""
        return tokens.load_secret(self.settings)

    @cached_property
    def mail(self) -> MailSettings:
        """What the outbox needs: sender, Message-ID domain, rate limit, retry period, return-path key."""
        return MailSettings.from_settings(self.settings, self.secret)

    @cached_property
    def desk(self) -> DeskAddress:
        local, domain = tokens.desk_address(self.settings)
        return DeskAddress(local=local.lower(), domain=domain.lower())

    @property
    def rules(self) -> Rules:
        return self.settings.schedule.rules

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    def hop_reply_address(self, hop_id: int) -> str:
        """The signed Reply-To of a hop's notices."""
        local, domain = tokens.desk_address(self.settings)
        return tokens.reply_address(hop_id, self.secret, local, domain)


def build_app(
    settings: Settings,
    *,
    handlers: Sequence[Handler] | None = None,
    now: datetime | None = None,
    engine: Engine | None = None,
    create_missing: bool = True,
) -> App:
    """The App for these settings; live mail goes to the traceback desk unless `handlers` says otherwise.

    `engine`: one the caller has already opened (a test's, a tool's), instead of `[database] url`'s.
    """
    app = App(
        settings=settings,
        handlers=tuple((inbound.handle,) if handlers is None else handlers),
        create_missing=create_missing,
    )
    if now is not None:
        app.fixed_now = now
    if engine is not None:
        app.__dict__["engine"] = engine  # where cached_property keeps its value: `app.engine` is this one
    return app
