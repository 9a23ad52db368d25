"""Schema versions: the Alembic migrations in store/migrations, run from code.

A database records the migration it is at (table `alembic_version`). mailbot runs
only on a database at the newest migration it knows (`head`): `ensure_schema`
initialises an empty database to head and refuses anything else with a message
naming the fix. `upgrade` (what `mailbot db upgrade` runs) applies migrations.
"""

from __future__ import annotations

from pathlib import Path

import mailbot.store.tables  # noqa: F401 - registers every table, so the metadata is complete
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The tables as they were before migrations existed; an unversioned database with
# tables is taken to be at this revision when it is upgraded.
BASELINE = "0001"
VERSION_TABLE = "alembic_version"


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this version of mailbot knows."""


class DatabaseMissing(RuntimeError):
    """The database holds no mailbot tables, and the command was not one that may create them."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    revision = scripts().get_current_head()
    assert revision is not None, "store/migrations has no revisions"
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at, or None if it has no version recorded."""
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    # Several instances may start at once on one fresh PostgreSQL database: the
    # first initialises or upgrades it, the others wait and then find it done.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema()))"))


def _user_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {VERSION_TABLE}


def create_at_head(engine: Engine) -> None:
    """Create every model's table and record the database as at head.

    A new database needs no replay of history: the models are the head schema
    (tests/store/test_migrations.py checks the migrations reach exactly them).
    """
    with engine.begin() as connection:
        _lock(connection)
        SQLModel.metadata.create_all(connection)
        if current(connection) is None:
            command.stamp(alembic_config(connection), "head")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to `revision`; returns the revisions before and after."""
    with engine.begin() as connection:
        _lock(connection)
        before = current(connection)
        config = alembic_config(connection)
        if before is None and _user_tables(connection):
            command.stamp(config, BASELINE)  # made before migrations existed
        command.upgrade(config, revision)
        return before, current(connection)


def check(connection: Connection) -> None:
    """Raise SchemaMismatch unless the database is at the head this code knows."""
    revision, newest = current(connection), head()
    if revision == newest:
        return
    url = connection.engine.url.render_as_string(hide_password=True)
    if revision is None:
        raise SchemaMismatch(
            f"database {url} has tables but no schema version (made before migrations): run `mailbot db upgrade`"
        )
    if _known(revision):
        raise SchemaMismatch(
            f"database {url} is at schema {revision}, this mailbot needs {newest}: run `mailbot db upgrade`"
        )
    raise SchemaMismatch(
        f"database {url} is at schema {revision}, newer than this mailbot knows (newest {newest}): "
        "upgrade mailbot, or point it at another database"
    )


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in scripts().walk_revisions())


def ensure_schema(engine: Engine, create: bool = True) -> bool:
    """Initialise an empty database to head (True: it did) or, without `create`, refuse it
    (a typo in a URL must not become a new, empty database); refuse one at any other schema."""
    with engine.connect() as connection:
        empty = current(connection) is None and not _user_tables(connection)
        if not empty:
            check(connection)
            return False
    if not create:
        url = engine.url.render_as_string(hide_password=True)
        raise DatabaseMissing(
            f"database {url} has no mailbot tables; nothing was created "
            "(check the URL, or create it with `mailbot db upgrade`)"
        )
    create_at_head(engine)
    return True
