"""Shared fixtures: a fresh database per test, on SQLite and on the real PostgreSQL.

`--backends sqlite,postgres` (default both) picks the backends the `db_url`
fixture runs on. Each PostgreSQL test gets its own schema in database `test`, so
runs cannot collide. Outside CI a missing PostgreSQL skips; in CI it fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.paths import PG_ADMIN_URL, SAMPLE
from mailbot.store.db import create_schema, make_engine
from mailbot.store.ingest import Tally
from sqlalchemy.engine import Engine

from mailbot.archive.importer import import_paths


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b.strip() for b in metafunc.config.getoption("--backends").split(",") if b.strip()]
        # Module scope: a module's fixtures may then be shared by all its tests on one backend.
        metafunc.parametrize("backend", chosen, scope="module")


def _pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def _pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield _pg_schema_url(schema)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    with _pg_schema() as url:
        yield url


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database of its own, beside (not the same as) `db_url`'s."""
    return f"sqlite:///{tmp_path / 'reference.sqlite3'}"


@pytest.fixture(scope="module")
def module_db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like `db_url`, but one database for the whole module (for fixtures its tests only read)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'mailbot.sqlite3'}"
        return
    with _pg_schema() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A fresh, empty store at `db_url`, schema created."""
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """A fresh, empty store at `sqlite_url`, schema created (tests that use SQLite alone)."""
    engine = make_engine(sqlite_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sample_import(module_db_url: str) -> Iterator[tuple[Engine, Tally]]:
    """The sample mailbox (fixtures/emails) imported once per module and backend: (engine, tally)."""
    engine = make_engine(module_db_url)
    create_schema(engine)
    tally = import_paths(engine, [SAMPLE], batch_size=64, progress=False)
    yield engine, tally
    engine.dispose()
