"""`mailbot config show` and `mailbot config check`: the effective settings, and whether they can be used.

Both read the settings the `mailbot` group has already loaded and checked (a bad value
has stopped it with exit 78 before either runs); neither opens the database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.errors import Failure
from mailbot.cli.exits import Exit
from mailbot.config import Settings

# Files a setting names that must be there to be read (when set): checked by `config check`.
FILES = (
    ("smtp", "tls_cert", lambda s: s.smtp.tls_cert),
    ("smtp", "tls_key", lambda s: s.smtp.tls_key),
    ("imap", "cafile", lambda s: s.imap.cafile),
    ("imap", "password_file", lambda s: s.imap.password_file),
    ("outbound", "cafile", lambda s: s.outbound.cafile),
)


def _source(settings: Settings, section: str, key: str) -> str:
    """The origin, without the file's path (the header names it once)."""
    return "file" if settings.sources[(section, key)] == "file" else settings.origin(section, key)


def _toml(value: Any) -> str:
    """A value as TOML spells it (JSON's strings and lists of strings are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


@click.group("config")
def config_group() -> None:
    """The effective settings and where each came from; check them without starting anything."""


@config_group.command()
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
@pass_app
def show(app: App, fmt: str) -> None:
    """Every setting's value and its source: default, file, env (MAILBOT_*) or flag; secrets masked.

    The TOML form is a valid config file (with the secrets masked); json is
    {section: {key: {"value": ..., "source": ...}}}.
    """
    settings = app.settings
    if fmt == "json":
        tree = {
            section: {
                key: {"value": settings.shown(section, key), "source": _source(settings, section, key)} for key in keys
            }
            for section, keys in settings.values.items()
        }
        click.echo(json.dumps({"file": str(settings.file) if settings.file else None, "settings": tree}, indent=2))
        return
    click.echo(f"# config file: {settings.file or 'none (defaults and environment)'}")
    click.echo(f"# relative paths are relative to {settings.base_dir}")
    for section, keys in settings.values.items():
        click.echo(f"\n[{section}]")
        rows = [(f"{key} = {_toml(settings.shown(section, key))}", _source(settings, section, key)) for key in keys]
        width = max(len(line) for line, _ in rows)
        for line, origin in rows:
            click.echo(f"{line:<{width}}  # {origin}")


def check_settings(settings: Settings) -> None:
    """What loading cannot see: named files that are missing, a database driver not installed."""
    for section, key, path_of in FILES:
        path: Path | None = path_of(settings)
        if path is not None and not os.access(path, os.R_OK):
            problem = "does not exist" if not path.exists() else "cannot be read by this user"
            raise Failure(f"{settings.origin(section, key)}: [{section}] {key}: {path} {problem}", Exit.CONFIG)
    # Loads the driver: a PostgreSQL URL without psycopg installed fails here (exit 78, with the pip line).
    make_url(settings.database_url).get_dialect().import_dbapi()


@config_group.command()
@pass_app
def check(app: App) -> None:
    """Exit 0 when the settings can be used; else 78 and one line naming the key, its source and the problem."""
    check_settings(app.settings)
    click.echo(f"config ok: {app.settings.file or 'no file, defaults and environment'}")


COMMANDS = (config_group,)
