"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mailbot.store.schema import create_at_head
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


T = TypeVar("T")
# Values per `IN (...)` of a list that came in a message: PostgreSQL takes at most 65 535 bind
# parameters in one statement and SQLite 32 766, and a message can quote more ids than that.
IN_CHUNK = 500


def chunks(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` (duplicates dropped) in lists of at most `size`, for one query each."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Multi-row INSERTs in pages of 20 rows rather than 1000: psycopg rewrites every
    # placeholder of a statement in Python, and huge statements made PostgreSQL imports
    # ~14% slower (bench/import_bench.py).
    engine = create_engine(url, pool_pre_ping=True, insertmanyvalues_page_size=20)
    event.listen(engine, "connect", _postgres_settings)
    return engine


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    # TOAST compression with lz4 rather than pglz for what this session writes, where the
    # server has it (PostgreSQL 14+ built with lz4): raw mail is the bulk of an import, and
    # its message inserts took ~40% less server time. Values read back the same; either
    # kind is read whatever the setting.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if (cursor.fetchone() or (False,))[0]:
            cursor.execute("SET default_toast_compression = lz4")
    dbapi_connection.commit()  # a session setting, kept when the pool rolls back


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 32 KiB pages for a new database (an existing one keeps its own: WAL fixes the size). An
    # imported message (~6 KB of raw mail) then fits its row's page rather than spilling into
    # overflow pages, and a batch writes, commits and checkpoints fewer, larger pages: at
    # 50 000 messages commits took ~45% less CPU time than with 4 KiB pages (16 KiB: ~30%).
    cursor.execute(f"PRAGMA page_size={_SQLITE_PAGE}")
    # WAL lets readers (exports, digest) run beside a long import; NORMAL is
    # still durable across process crashes, which is what the tests kill.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint every ~40 MB of WAL rather than 4 MB: an import batch (~3 MB of raw
    # mail) no longer pays a checkpoint and its fsyncs almost every commit.
    cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_BYTES // _page_size(cursor)}")
    # A 64 MiB page cache (2 MiB by default; memory is taken only as pages are read): an
    # import's index pages stay in it rather than being read again from the file.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_SQLITE_PAGE = 32768
_WAL_CHECKPOINT_BYTES = 40_000_000


def _page_size(cursor: Any) -> int:
    return cursor.execute("PRAGMA page_size").fetchone()[0]


def create_schema(engine: Engine) -> None:
    """Every model's table, recorded as the newest migration (store/schema.py)."""
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
