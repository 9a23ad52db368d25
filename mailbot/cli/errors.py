"""Errors a person can read: each failure as one or two lines and a sysexits code.

`explain` walks an exception and its causes and takes the first rule that fits; a
new kind of failure is one more row in RULES. Outside `--debug` no traceback is shown.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from mailbot.cli.exits import Exit
from mailbot.store.schema import DatabaseMissing, SchemaMismatch


@dataclass(frozen=True)
class Problem:
    message: str
    code: Exit


class Failure(Exception):
    """A failure already put in words, with its exit code (raised by the CLI itself)."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def _first_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


def _says(*needles: str) -> Callable[[BaseException], bool]:
    return lambda exc: any(n in str(getattr(exc, "orig", None) or exc).lower() for n in needles)


def _is(
    kind: type[BaseException], test: Callable[[BaseException], bool] = lambda exc: True
) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, kind) and test(exc)


def _oserror(*codes: int) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, OSError) and exc.errno in codes


def _missing_driver(exc: BaseException) -> bool:
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in ("psycopg", "psycopg2")


# (test, message, exit code); the message may use {url} (the database, password hidden),
# {detail} (the error's first line) and {filename} (of an OSError).
RULES: list[tuple[Callable[[BaseException], bool], str, Exit]] = [
    (_is(Failure), "{detail}", Exit.CONFIG),  # its own code, see explain
    (_is(DatabaseMissing), "{detail}", Exit.NOINPUT),
    (_is(SchemaMismatch), "{detail}", Exit.CONFIG),
    (
        _missing_driver,
        "the PostgreSQL driver is not installed (for {url}): pip install 'mailbot[postgres]'",
        Exit.CONFIG,
    ),
    (
        _is(NoSuchModuleError),
        "database URL {url} names an unknown kind of database: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        Exit.CONFIG,
    ),
    (_is(ArgumentError), "database URL {url} is not a valid URL: {detail}", Exit.CONFIG),
    (
        _is(OperationalError, _says("refused", "could not connect", "no route", "timeout expired")),
        "cannot connect to the database {url}: {detail}\nis PostgreSQL running and listening there?",
        Exit.TEMPFAIL,
    ),
    (_is(OperationalError, _says("does not exist")), "database {url}: {detail}", Exit.NOINPUT),
    (
        _is(OperationalError, _says("database is locked")),
        "database {url} is locked by another process: try again",
        Exit.TEMPFAIL,
    ),
    (
        _is(OperationalError, _says("unable to open database file", "readonly database")),
        "cannot open or write the SQLite database {url}: {detail}\n"
        "check that its directory exists and this user may write there",
        Exit.CANTCREAT,
    ),
    (
        _is(DatabaseError, _says("file is not a database", "malformed")),
        "the SQLite file {url} is damaged or not a database ({detail}): restore it from a backup",
        Exit.DATAERR,
    ),
    (_is(OperationalError), "database {url} is unavailable: {detail}", Exit.TEMPFAIL),
    (
        _oserror(errno.EADDRINUSE),
        "cannot listen: {detail}\nanother process (another mailbot serve?) has the port",
        Exit.UNAVAILABLE,
    ),
    (
        _oserror(errno.EACCES, errno.EPERM, errno.EROFS),
        "cannot write {filename}: {strerror} (a read-only directory, or another user's?)",
        Exit.CANTCREAT,
    ),
    (_oserror(errno.ENOSPC), "no space left on the device for {filename}", Exit.TEMPFAIL),
    (_is(KeyboardInterrupt), "interrupted", Exit.INTERRUPTED),
]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(exc: BaseException, url: str = "") -> Problem:
    """The first rule that fits the exception or one of its causes; else an internal error."""
    for cause in _chain(exc):
        for test, message, code in RULES:
            if test(cause):
                return Problem(
                    message.format(
                        url=url or "(unknown)",
                        detail=_first_line(cause),
                        filename=getattr(cause, "filename", None) or "(unknown)",
                        strerror=getattr(cause, "strerror", None) or _first_line(cause),
                    ),
                    cause.code if isinstance(cause, Failure) else code,
                )
    return Problem(
        f"internal error: {type(exc).__name__}: {_first_line(exc)} (run with --debug for the traceback)", Exit.SOFTWARE
    )


def safe_url(url: str) -> str:
    """The URL with its password hidden, or as given when it does not parse."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
