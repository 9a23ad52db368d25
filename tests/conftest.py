"""Shared fixtures: a fresh database per test, on SQLite and on the real PostgreSQL.

`--backends sqlite,postgres` (default both) picks the backends the `db_url`
fixture runs on. Each PostgreSQL test gets its own schema in database `test`, so
runs cannot collide. Outside CI a missing PostgreSQL skips; in CI it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.paths import PG_ADMIN_URL



def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b.strip() for b in metafunc.config.getoption("--backends").split(",") if b.strip()]
        metafunc.parametrize("backend", chosen)


def _pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield _pg_schema_url(schema)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database of its own, beside (not the same as) `db_url`'s."""
    return f"sqlite:///{tmp_path / 'reference.sqlite3'}"
