"""INSERT ... ON CONFLICT for both backends, so uniqueness is the database's job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def _insert(session: Session, model: type[SQLModel]):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def insert_ignore(
    session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str], returning: str | None = None
) -> list[Any]:
    """Insert rows, skipping those that collide on `keys`; returns `returning` of inserted rows."""
    if not rows:
        return []
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        session.execute(stmt, list(rows))
        return []
    table = model.__table__  # type: ignore[attr-defined]
    # One statement for all rows (SQLAlchemy's insertmanyvalues); rows skipped by
    # the conflict return nothing, so results are matched to rows by their keys.
    result = session.execute(stmt.returning(table.c[returning], *(table.c[k] for k in keys)), list(rows))
    got = {tuple(r[1:]): r[0] for r in result}
    out = []
    for row in rows:
        place = tuple(row[k] for k in keys)
        out.append(got.pop(place, None))  # pop: a key repeated in `rows` was inserted once
    return out


def upsert(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, or overwrite every non-key column of the row already there."""
    if not rows:
        return
    stmt = _insert(session, model)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))
