"""What PostgreSQL and SQLite do differently, decided here rather than at each call site.

A SQLite database has one writer at a time, so what PostgreSQL needs row and advisory
locks for is already serialised there: the SQLite side of each helper is "as is".
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import Select
from sqlmodel import Session

Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")  # a select of any columns


class LockSpace(IntEnum):
    """The advisory lock spaces, listed together so no two uses share one."""

    ESCALATION = 6_0001  # one provider's escalation count at a time
    CAMPAIGNS = 6_0002  # campaign clustering, one transaction at a time


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def skip_locked(query: Q, session: Session, of: Any = None) -> Q:
    """`query` locking the rows it reads, skipping those another instance has locked (PostgreSQL):
    whoever locks a row does its work, nobody waits for it."""
    if is_postgresql(session):
        return query.with_for_update(skip_locked=True, of=of)
    return query


def advisory_xact_lock(session: Session, space: LockSpace, key: int) -> None:
    """Wait for, then hold until the transaction ends, the lock (`space`, `key`) (PostgreSQL).

    The space is combined with the current schema, so deployments (or tests) sharing one
    database in separate schemas never wait for each other.
    """
    if is_postgresql(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space # hashtext(current_schema()), :key)"),
            {"space": int(space), "key": key},
        )


def among(session: Session, column: ColumnElement, values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL one array parameter rather than one per value
    (psycopg parses a long statement's placeholders in Python)."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
