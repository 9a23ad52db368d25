"""The import's driver-level inserts (store.upsert.Bulk) store exactly what SQLAlchemy stores.

Each check writes the same rows twice, once through `bulk_insert` and once through a
reference that hands SQLAlchemy one dict row at a time (what ingest did before), and
compares what comes back: through SQLAlchemy (what the ORM, exports and desk see) and
as the database holds it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from helpers.paths import PG_ADMIN_URL, ROOT, SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailbot.parsers.message import parse_message
from mailbot.store import ingest, upsert
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.ingest import Arrival, Tally, save_batch
from mailbot.store.tables.messages import (
    CampaignName,
    Incident,
    Message,
    MessageKey,
    MetricsReport,
    MetricsRow,
    Reply,
    Sighting,
    StaffComment,
    UpstreamNotice,
)
from mailbot.store.upsert import Bulk, bulk_insert, bulk_insert_returning
from sqlalchemy import Table, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

NOW = datetime(2026, 11, 2, 15, 0, 0, 123456, tzinfo=UTC)
TABLES = [
    Message,
    MessageKey,
    Sighting,
    Incident,
    CampaignName,
    MetricsReport,
    MetricsRow,
    UpstreamNotice,
    StaffComment,
    Reply,
]


def reference_insert(session: Session, spec: Bulk, rows: Sequence[tuple], memo: Any = None) -> Any:
    """What a Bulk does, the SQLAlchemy way: one dict row at a time."""
    table = spec.model.__table__  # type: ignore[attr-defined]
    stmt = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    if spec.keys and spec.update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(spec.keys), set_={c: stmt.excluded[c] for c in spec.columns if c not in spec.keys}
        )
    elif spec.keys:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(spec.keys))
    # Written rows counted by what they return (rowcount is not always known here).
    returning = stmt.returning(*(table.c[c] for c in spec.returning or [c.name for c in table.primary_key]))
    out = [tuple(r) for row in rows for r in session.execute(returning, dict(zip(spec.columns, row, strict=True)))]
    return out if spec.returning else len(out)


@pytest.fixture
def two_urls(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Two empty databases on the backend: one for the fast path, one for the reference."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fast.sqlite3'}", f"sqlite:///{tmp_path / 'reference.sqlite3'}"
        return
    first = request.getfixturevalue("pg_url")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield first, f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def _engine(url: str) -> Engine:
    engine = make_engine(url)
    create_schema(engine)
    return engine


def _contents(engine: Engine, model: type, skip: Sequence[str] = ()) -> tuple[list[tuple], list[tuple]]:
    """A table's rows as SQLAlchemy reads them, and as stored (SQLite's own values; PostgreSQL's text)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = [c for c in table.c if c.name not in skip]
    order = list(table.primary_key.columns)
    with engine.connect() as conn:
        read = [tuple(r) for r in conn.execute(select(*columns).order_by(*order))]
        quote = conn.dialect.identifier_preparer.quote
        as_text = "{}" if conn.dialect.name == "sqlite" else "CAST({} AS TEXT)"
        stored = [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT {', '.join(as_text.format(quote(c.name)) for c in columns)} FROM {quote(table.name)}"
                f" ORDER BY {', '.join(quote(c.name) for c in order)}"
            )
        ]
    return read, stored


def _arrivals() -> list[Arrival]:
    """The sample and the shapes, a Message-ID seen again elsewhere, and one place twice."""
    files = sorted(SAMPLE.glob("*.eml")) + sorted((ROOT / "fixtures" / "shapes").glob("*.eml"))
    arrivals = [Arrival("files", f.name, f.read_bytes()) for f in files]
    copies = [Arrival("copies", a.source_key, a.raw) for a in arrivals[::17]]
    return arrivals + copies + [Arrival("files", arrivals[3].source_key, b"Subject: same place\n\nagain\n")]


def _import(engine: Engine, arrivals: list[Arrival], size: int) -> Tally:
    tally = Tally()
    for start in range(0, len(arrivals), size):
        batch = arrivals[start : start + size]
        with session_scope(engine) as session:
            save_batch(session, batch, [parse_message(a.raw) for a in batch], tally)
    return tally


def test_save_batch_stores_what_sqlalchemy_stores(two_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "now", lambda: NOW)
    arrivals = _arrivals()
    copies = sum(a.source == "copies" for a in arrivals)
    # Batches of 50, then everything again in other batches: every place is stored
    # before (skipped), and later batches reread incidents stored by earlier ones.
    fast, reference = (_engine(url) for url in two_urls)
    tallies = [_import(fast, arrivals, 50), _import(fast, arrivals[::-1], 64)]
    monkeypatch.setattr(ingest, "bulk_insert", reference_insert)
    monkeypatch.setattr(ingest, "bulk_insert_returning", reference_insert)
    assert [_import(reference, arrivals, 50), _import(reference, arrivals[::-1], 64)] == tallies
    assert tallies[0].stored == len(arrivals) - 1 and tallies[1].skipped == len(arrivals)
    assert tallies[0].by_status["duplicate"] > copies  # the copies, and 006.eml and 007.eml
    for model in TABLES:
        contents = _contents(fast, model)
        assert contents[0], model  # every table has rows to compare
        assert contents == _contents(reference, model), model
    fast.dispose()
    reference.dispose()


def test_an_incident_seen_again_is_updated_as_sqlalchemy_updates_it(two_urls: tuple[str, str]) -> None:
    first = [
        ("100", "Camp", datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "+1202", None, "d", None, None, 0),
        ("101", None, None, None, None, None, NOW, NOW, 2),
    ]
    again = [
        ("100", "Later", None, "+1303", "+1404", None, NOW, NOW + timedelta(days=1), 3),
        ("102", "New", NOW, None, None, "x" * 3000, None, None, 1),
    ]
    engines = [_engine(url) for url in two_urls]
    for engine, insert in zip(engines, (bulk_insert, reference_insert), strict=True):
        for rows in (first, again):
            with session_scope(engine) as session:
                assert insert(session, ingest.INCIDENTS, rows) == 2
    assert _contents(engines[0], Incident) == _contents(engines[1], Incident)
    assert [r[:2] for r in _contents(engines[0], Incident)[0]] == [("100", "Later"), ("101", None), ("102", "New")]
    for engine in engines:
        engine.dispose()


def test_left_out_columns_get_their_defaults(db_url: str) -> None:
    engine = _engine(db_url)
    with session_scope(engine) as session:
        assert bulk_insert(session, ingest.INCIDENT_IDS, [("7",), ("8",), ("7",)]) == 2
        assert bulk_insert(session, ingest.INCIDENT_IDS, [("8",)]) == 0
        assert bulk_insert_returning(session, ingest.MESSAGES, []) == []
        assert bulk_insert(session, ingest.INCIDENT_IDS, []) == 0
    assert _contents(engine, Incident)[0] == [
        ("7", None, None, None, None, None, None, None, 0),
        ("8", None, None, None, None, None, None, None, 0),
    ]
    engine.dispose()


def test_returning_with_update_is_refused() -> None:
    with pytest.raises(ValueError, match="returning"):
        Bulk(Incident, ("incident_id", "campaign"), keys=("incident_id",), update=True, returning=("incident_id",))


# Values as awkward as the columns allow: any text PostgreSQL can hold (no NUL; no longer
# than the column), any bytes, aware datetimes at any minute offset and microsecond, None
# where allowed.
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # the literal type hypothesis asks for


def text(size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=SURROGATES, blacklist_characters="\x00"), max_size=size)


offsets = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets)
lists = st.lists(text(), max_size=4)
message_rows = st.tuples(
    st.sampled_from(["a", "b", "c", "é", "d e"]),  # source_key: a few, so places repeat and collide
    text(),
    text(64),
    st.binary(max_size=300),
    st.integers(0, 2**31 - 1),
    text(16),
    moments,
    text(16),
    st.none() | text(),
    st.none() | text(32),
    st.none() | moments,
    text(),
    st.none() | text(),
    lists | lists.map(tuple),
    lists,
    st.none() | moments,
)


@settings(
    max_examples=int(os.environ.get("STORE_FAST_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(message_rows, max_size=12), before=st.lists(message_rows, max_size=3))
def test_random_message_rows_are_stored_alike(
    two_urls: tuple[str, str], rows: list[tuple], before: list[tuple]
) -> None:
    """Places stored before (`before`) and places repeated within the rows are skipped alike."""
    source = uuid.uuid4().hex  # the databases outlive one example
    engines = [_engine(url) for url in two_urls]
    got = []
    for engine, insert in zip(engines, (bulk_insert_returning, reference_insert), strict=True):
        with session_scope(engine) as session:
            insert(session, ingest.MESSAGES, [(source, *row) for row in before])
        with session_scope(engine) as session:
            got.append(
                sorted(
                    (place, pk) for pk, _, place in insert(session, ingest.MESSAGES, [(source, *row) for row in rows])
                )
            )
    assert got[0] == got[1]
    assert len(got[0]) == len({r[0] for r in rows} - {r[0] for r in before})
    assert _contents(engines[0], Message) == _contents(engines[1], Message)
    for engine in engines:
        engine.dispose()


PG_DIALECT_URL = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # for its dialect: never connected to


def _processors(url: str) -> dict[str, Any]:
    """SQLAlchemy's bind processors of the message table's DateTime, JSON and binary columns."""
    dialect = make_engine(url).dialect
    columns = Message.__table__.c  # type: ignore[attr-defined]
    return {
        name: columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in ("date", "recipients", "raw")
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text(8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300)
@given(
    moment=st.datetimes(timezones=st.none() | offsets) | st.dates() | st.none(),
    items=st.lists(text()) | st.lists(text()).map(tuple) | json_values,
)
def test_faster_processors_give_what_sqlalchemys_give(moment: Any, items: Any) -> None:
    processors = _processors("sqlite://")
    date, recipients = processors["date"], processors["recipients"]
    assert upsert._faster(date)(moment) == date(moment)
    assert upsert._faster(recipients)(items) == recipients(items)
    # PostgreSQL: the text psycopg would have sent for SQLAlchemy's Json wrapper.
    pg_recipients = _processors(PG_DIALECT_URL)["recipients"]
    assert upsert._faster(pg_recipients)(items) == upsert._psycopg_sent(pg_recipients(items))
    assert upsert._psycopg_sent(pg_recipients(items)) == json.dumps(items)


def test_faster_processors_stand_in_only_where_they_agree(pg_url: str) -> None:
    sqlite_processors, pg_processors = _processors("sqlite://"), _processors(pg_url)
    assert upsert._faster(sqlite_processors["raw"]) is sqlite_processors["raw"]
    assert pg_processors["date"] is None  # psycopg takes datetimes as they are
    assert upsert._faster(pg_processors["raw"]) is pg_processors["raw"]
    assert upsert._faster(pg_processors["recipients"]) is not pg_processors["recipients"]
    assert all(upsert._faster(p) is not p for name, p in sqlite_processors.items() if name != "raw")


def _outcome(engine: Engine, insert: Any, rows: list[tuple]) -> str | None:
    """The name of the error inserting `rows` raised, or None if they were stored."""
    try:
        with session_scope(engine) as session:
            insert(session, ingest.MESSAGES, rows)
    except Exception as exc:
        return type(exc).__name__
    return None


def test_a_value_too_long_for_its_column_fails_as_through_sqlalchemy(two_urls: tuple[str, str]) -> None:
    """PostgreSQL refuses it (a cast of the array to VARCHAR(n) would have cut it short); SQLite stores it."""
    row: tuple[object, ...] = (
        "src",
        "k" * 600,
        "<id@x>",
        "0" * 64,
        b"raw",
        3,
        "import",
        NOW,
        "parsed",
        None,
        "reply",
        None,
        "",
        None,
        [],
        [],
        NOW,
    )
    engines = [_engine(url) for url in two_urls]
    outcomes = [
        _outcome(engine, insert, [row])
        for engine, insert in zip(engines, (bulk_insert_returning, reference_insert), strict=True)
    ]
    assert outcomes[0] == outcomes[1] == (None if engines[0].dialect.name == "sqlite" else "DataError")
    assert _contents(engines[0], Message) == _contents(engines[1], Message)
    for engine in engines:
        engine.dispose()


def test_postgresql_sessions_compress_with_lz4_where_the_server_can(pg_url: str) -> None:
    engine = _engine(pg_url)
    with engine.connect() as conn:
        lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        conn.rollback()  # what the pool does when a connection is returned
        assert conn.exec_driver_sql("SHOW default_toast_compression").scalar() == ("lz4" if lz4 else "pglz")
    arrival = Arrival("files", "big", (SAMPLE / "001.eml").read_bytes() * 4)
    with session_scope(engine) as session:
        save_batch(session, [arrival], [parse_message(arrival.raw)], Tally())
    with engine.connect() as conn:
        raw, method = conn.exec_driver_sql("SELECT raw, pg_column_compression(raw) FROM message").one()
    assert bytes(raw) == arrival.raw and method == ("lz4" if lz4 else "pglz")
    engine.dispose()


def _pragmas(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(
            connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # type: ignore[return-value]
            for name in ("page_size", "wal_autocheckpoint", "cache_size")
        )


def test_new_sqlite_databases_get_large_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    """The WAL checkpoints every ~40 MB whatever the page size."""
    fresh = make_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    create_schema(fresh)
    assert _pragmas(fresh) == (32768, 40_000_000 // 32768, -65536)
    old_path = tmp_path / "old.sqlite3"
    old = create_engine(f"sqlite:///{old_path}")  # made as before: 4 KiB pages
    with old.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    old.dispose()
    reopened = make_engine(f"sqlite:///{old_path}")
    assert _pragmas(reopened) == (4096, 40_000_000 // 4096, -65536)
    with reopened.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    with reopened.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
    for engine in (fresh, reopened):
        engine.dispose()
