"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from store import models  # noqa: F401 - registers the tables
from store import intake  # noqa: F401 - IMAP intake checkpoints
from store import desk  # noqa: F401 - the traceback desk's tables
from store import schedule  # noqa: F401 - the scheduler's claims and status history
from store import outbox  # noqa: F401 - the durable outbox of notices


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Multi-row INSERTs in pages of 20 rows rather than 1000: psycopg rewrites every
    # placeholder of a statement in Python, and huge statements made PostgreSQL imports
    # ~14% slower (bench/import_bench.py).
    return create_engine(url, pool_pre_ping=True, insertmanyvalues_page_size=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers (exports, digest) run beside a long import; NORMAL is
    # still durable across process crashes, which is what the tests kill.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint every ~40 MB of WAL rather than 4 MB: an import batch (~3 MB of raw
    # mail) no longer pays a checkpoint and its fsyncs almost every commit.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Every model's table, recorded as the newest migration (store/schema.py)."""
    from store.schema import create_at_head  # late: store.schema needs every model imported here first

    create_at_head(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
