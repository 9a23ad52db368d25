"""INSERT ... ON CONFLICT for both backends, so uniqueness is the database's job.

`insert_ignore` and `upsert` take dict rows through SQLAlchemy; `Bulk` writes many
tuple rows through the driver, for the import's hot inserts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring_ascii
from typing import Any
from weakref import WeakKeyDictionary

from mailbot.store.tables import table_of
from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Session, SQLModel


def _insert(session: Session, model: type[SQLModel]) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    table = table_of(model)
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def insert_ignore(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    returning: str | None = None,
) -> list[Any]:
    """Insert rows, skipping those that collide on `keys`; returns `returning` of inserted rows."""
    if not rows:
        return []
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        session.execute(stmt, list(rows))
        return []
    table = table_of(model)
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


@dataclass(frozen=True)
class Bulk:
    """A multi-row INSERT of one table's `columns`, written through the driver for speed.

    For imports SQLAlchemy's per-row parameter handling cost more than the database's
    own work. Here the statement text is built once per dialect, rows are tuples in
    `columns` order, and values go through each column type's own bind processor, so
    what is stored is exactly what SQLAlchemy would have stored. Rows colliding on
    `keys` are skipped, or with `update` overwrite the other columns (rows to update
    must have distinct keys: PostgreSQL writes them in one statement); no `keys`: a
    plain INSERT. `returning` columns come back for the rows inserted.
    """

    model: type[SQLModel]
    columns: tuple[str, ...]
    keys: tuple[str, ...] = ()
    update: bool = False
    returning: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.update and self.returning:
            raise ValueError("returning is for inserts: updated rows are not read back")


# Bind-processed values by column type and id(value), shared by the statements of one
# batch so that a value they repeat (the batch's timestamp, a message's date in its
# sightings and incidents) is processed once: per type, the values by id (held, so no
# other object can take an id while the memo lives) and what they were processed to.
Memo = dict[str, tuple[dict[int, Any], dict[int, Any]]]


def _element_type(type_: TypeEngine, dialect: Dialect) -> str:
    """A column's type for the elements of its array parameter. Strings lose their length,
    so that one too long fails as in a plain INSERT: a cast to VARCHAR(n) cuts it short."""
    base = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    return (String() if isinstance(base, String) else base).compile(dialect=dialect)


class _Plan:
    """A Bulk's statements and value processing for one dialect."""

    def __init__(self, spec: Bulk, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        table = table_of(spec.model)
        # Columns left out get their default, as SQLAlchemy would give them.
        omitted = [(c.name, c.default) for c in table.c if c.name not in spec.columns and c.default is not None]
        if any(not default.is_scalar for _, default in omitted):
            raise ValueError(f"{spec}: only columns with scalar defaults can be left out")
        self.defaults = [default.arg for _, default in omitted]  # type: ignore[attr-defined]  # scalar ones have it
        names = [*spec.columns, *(name for name, _ in omitted)]
        cols = [table.c[name] for name in names]
        # Types with the same repr are configured alike, so process values alike.
        self.processors = [
            (i, repr(c.type), _faster(p))
            for i, c in enumerate(cols)
            if (p := c.type.dialect_impl(dialect).bind_processor(dialect))
        ]
        action = ""
        if spec.keys:
            others = [quote(c) for c in spec.columns if c not in spec.keys]
            update = f"UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}" if spec.update else "NOTHING"
            action = f" ON CONFLICT ({', '.join(map(quote, spec.keys))}) DO {update}"
        returning = ", ".join(map(quote, spec.returning))
        head = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))})"
        self.unnest = dialect.name == "postgresql"
        if self.unnest:
            # One statement whatever the row count, each column one array parameter, sent
            # in binary: psycopg parses a long statement's placeholders in Python.
            arrays = ", ".join(f"%b::{_element_type(c.type, dialect)}[]" for c in cols)
            self.sql = f"{head} SELECT * FROM unnest({arrays}){action}" + (f" RETURNING {returning}" * bool(returning))
        else:
            # executemany, then the rows inserted read back by rowid: a multi-row INSERT ..
            # RETURNING took twice the time. The writer holds the database until commit, and
            # SQLite gives each new row the largest rowid yet plus one, so the rows this
            # statement inserted are the last `rowcount` rowids, ending at last_insert_rowid().
            self.sql = f"{head} VALUES ({', '.join('?' * len(cols))}){action}"
            self.read_back = (
                f"SELECT {returning} FROM {dialect.identifier_preparer.format_table(table)}"
                " WHERE rowid > last_insert_rowid() - ?"
            )

    def columns(self, rows: Sequence[tuple], memo: Memo) -> list[Sequence[Any]]:
        """The rows' values column by column (lists on PostgreSQL, as psycopg takes arrays), bind-processed."""
        columns: list[Sequence[Any]] = [*zip(*rows, strict=True), *((d,) * len(rows) for d in self.defaults)]
        if self.unnest:
            columns = [*map(list, columns)]
        for i, kind, process in self.processors:
            kept, done = memo.setdefault(kind, ({}, {}))
            ids = [*map(id, columns[i])]
            new = {k: v for k, v in zip(ids, columns[i], strict=True) if k not in done}
            kept.update(new)
            done.update(zip(new, map(process, new.values()), strict=True))
            columns[i] = [*map(done.__getitem__, ids)]
        return columns


def _datetime_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite's DATETIME text (wall clock, always microseconds, no zone), for datetimes."""

    def fast(value: Any) -> Any:
        # The first 26 characters: a four-digit year always, so any zone suffix is all that is cut.
        return value.isoformat(" ", "microseconds")[:26] if type(value) is datetime else process(value)

    return fast


def _json_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """json.dumps of a list or tuple of str, without the encoder it sets up on every call."""

    def fast(value: Any) -> Any:
        if type(value) in (list, tuple) and all(type(item) is str for item in value):
            return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
        return process(value)

    return fast


def _psycopg_json_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The text psycopg sends for SQLAlchemy's JSON bind value (a psycopg Json wrapper), made
    here: a column of such text goes as a text array that the statement casts to JSON[], which
    the server stores as it stores the wrappers' text."""
    text = _json_text(process)

    def fast(value: Any) -> Any:
        return _psycopg_sent(out) if (out := text(value)) is not None and type(out) is not str else out

    return fast


def _psycopg_sent(value: Any) -> str:
    """The text psycopg sends for a Json wrapper with psycopg's default dumps; a TypeError for anything else."""
    if type(value).__name__ != "Json" or type(value).__module__ != "psycopg.types.json":
        raise TypeError(f"not a psycopg Json: {value!r}")
    from psycopg.types.json import JsonDumper  # only where psycopg made the value

    if JsonDumper._dumps is not json.dumps:  # changed by psycopg.types.json.set_json_dumps
        raise TypeError("psycopg dumps JSON with its own function")
    return (value.dumps or json.dumps)(value.obj)


def _same(value: Any) -> Any:
    return value


# Faster equals of bind processors for the values an import carries (each message's date,
# recipients and incident ids cost more to process than to store). One stands in for a
# processor only if they agree on a probe, and hands other values to it; tests hold them
# to the processors they stand for on random values.
# A rule is (probe, stand-in maker, what is stored given what the processor returns).
_JSON_PROBE = ["\u00e9 \" \\ \n \u2603 \U0001f600 \x7f", ""]
_FASTER = (
    (datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5))), _datetime_text, _same),
    (_JSON_PROBE, _json_text, _same),
    (_JSON_PROBE, _psycopg_json_text, _psycopg_sent),
)


def _faster(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    for probe, faster, stored in _FASTER:
        fast = faster(process)
        try:
            if fast(probe) == stored(process(probe)):
                return fast
        except (TypeError, ValueError):  # not a processor of such values
            continue
    return process


_PLANS: WeakKeyDictionary[Dialect, dict[Bulk, _Plan]] = WeakKeyDictionary()


def _execute(session: Session, spec: Bulk, rows: Sequence[tuple], memo: Memo | None) -> tuple:
    """Run the insert; the connection, plan and result."""
    connection = session.connection()
    plans = _PLANS.setdefault(connection.dialect, {})
    plan = plans.get(spec) or plans.setdefault(spec, _Plan(spec, connection.dialect))
    columns = plan.columns(rows, {} if memo is None else memo)
    params = tuple(columns) if plan.unnest else list(zip(*columns, strict=True))
    return connection, plan, connection.exec_driver_sql(plan.sql, params)


def bulk_insert(session: Session, spec: Bulk, rows: Sequence[tuple], memo: Memo | None = None) -> int:
    """Insert `rows` (tuples in `spec.columns` order); how many were written."""
    return _execute(session, spec, rows, memo)[2].rowcount if rows else 0


def bulk_insert_returning(
    session: Session, spec: Bulk, rows: Sequence[tuple], memo: Memo | None = None
) -> Sequence[Row]:
    """Insert `rows` (tuples in `spec.columns` order); the `returning` values of the rows inserted."""
    if not rows:
        return []
    connection, plan, result = _execute(session, spec, rows, memo)
    if plan.unnest:
        return result.all()
    if not (inserted := result.rowcount):
        return []
    out = connection.exec_driver_sql(plan.read_back, (inserted,)).all()
    if len(out) != inserted:  # rowids no longer ascending (the largest possible one was used): never seen
        raise RuntimeError(f"{spec.model.__name__}: inserted {inserted} rows, read back {len(out)}")
    return out
