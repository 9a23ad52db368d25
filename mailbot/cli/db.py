"""`mailbot db`: the database schema's version, and upgrading it."""

from __future__ import annotations

import click
from alembic import command
from alembic.util import CommandError

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.store import schema
from mailbot.store.db import make_engine, sqlite_file
from mailbot.store.schema import DatabaseMissing


@click.group()
def db() -> None:
    """Schema migrations (Alembic) for SQLite and PostgreSQL."""


@db.command()
@click.option("--to", "revision", default="head", show_default=True, help="Target revision.")
@pass_app
def upgrade(app: App, revision: str) -> None:
    """Apply schema migrations; an empty database is created, data is kept."""
    # Not app.engine: that refuses a database at an old schema, which is what this fixes.
    file = sqlite_file(app.settings.database_url)
    if file is not None and not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)  # "schema: none -> ..." below says it was created
    engine = make_engine(app.settings.database_url)
    try:
        before, after = schema.upgrade(engine, revision)
    except CommandError as exc:  # an unknown or backward target: say so, change nothing
        raise click.ClickException(str(exc)) from exc
    click.echo(f"schema: {before or 'none'} -> {after}" if before != after else f"schema: {after} (up to date)")


@db.command()
@pass_app
def current(app: App) -> None:
    """Print the database's schema revision and the newest this mailbot knows."""
    file = sqlite_file(app.settings.database_url)
    if file is not None and not file.exists():
        raise DatabaseMissing(f"database {file} does not exist; nothing was created")
    engine = make_engine(app.settings.database_url)
    with engine.connect() as connection:
        revision = schema.current(connection)
    newest = schema.head()
    state = "up to date" if revision == newest else "run `mailbot db upgrade`"
    click.echo(f"database: {revision or 'none'}\nmailbot:  {newest}\n{state}")


@db.command(hidden=True)
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--rev-id", help="Revision id (default: next number).")
@pass_app
def revision(app: App, message: str, rev_id: str | None) -> None:
    """(Developers) Write a migration from the models' difference to head, into store/migrations."""
    engine = make_engine(app.settings.database_url)
    schema.upgrade(engine)
    rev_id = rev_id or f"{len(list(schema.scripts().walk_revisions())) + 1:04d}"
    with engine.begin() as connection:
        command.revision(schema.alembic_config(connection), message=message, autogenerate=True, rev_id=rev_id)
    click.echo(f"wrote store/migrations/versions/{rev_id}_*.py: review it on SQLite and PostgreSQL")


COMMANDS = (db,)
