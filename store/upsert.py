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
    out = []
    # RETURNING with executemany is not portable across drivers: one row at a time.
    for row in rows:
        result = session.execute(stmt.values(**row).returning(table.c[returning])).first()
        out.append(result[0] if result else None)
    return out


def upsert(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, or overwrite every non-key column of the row already there."""
    if not rows:
        return
    stmt = _insert(session, model)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))
