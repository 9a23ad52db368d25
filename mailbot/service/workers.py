"""Processing in worker processes, so parsing never holds intake's event loop.

Parsing a large message is pure Python and holds the GIL for seconds; in `serve`'s own
process that delayed SMTP greetings by as long (issue 12 §6). Each of `[serve] workers`
processes builds its own App from the same settings and runs `process_pending` when
`serve` asks it to, one message per request. `serve` keeps the scheduling: which
worker runs when, and on SQLite the write gate, which the worker asks `serve` for
once it has parsed a message and is about to record it (parsing needs no gate), so
intake still goes first. Several workers on PostgreSQL take different rows (`FOR
UPDATE SKIP LOCKED` in the claim); on SQLite the gate has them record in turn.

A worker is started with `spawn` (a fresh interpreter: forking a process that runs an
event loop and threads is unsafe), sends its log records down its pipe to `serve`'s own
handlers (one format, one destination), and
ignores SIGINT/SIGTERM: `serve` stops it by closing its pipe, after the last request.
A worker that dies (killed, out of memory) is started again for the next request;
the message it held is still `new` (its transaction never committed).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import signal
import threading
import traceback
import types
from collections.abc import Iterator
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

from mailbot.app import App, build_app
from mailbot.config import Settings
from mailbot.intake.pipeline import process_pending
from mailbot.store.write_gate import WriteGate

if TYPE_CHECKING:
    from mailbot.intake.pipeline import Handler

_SPAWN = multiprocessing.get_context("spawn")


# The settings (frozen, read-only mappings inside) travel to each worker as they are, so a
# worker runs with exactly what `serve` was given (flags, file, environment).
def _read_only(values: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(values)


ForkingPickler.register(types.MappingProxyType, lambda m: (_read_only, (dict(m),)))


class WorkerDied(Exception):
    """The worker process went away during a request; its message stays `new`."""


def _worker_main(
    conn: Connection,
    settings: Settings,
    handlers: tuple[Handler, ...],
    fixed_now: datetime | None,
    levels: dict[str, int],
    parent_pid: int,
) -> None:
    """The worker's loop: one `process_pending(limit)` per request; exits when the pipe closes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # serve stops its workers itself, after the last request
    logging.getLogger().handlers[:] = [logging.handlers.QueueHandler(_PipeQueue(conn))]  # type: ignore[arg-type]
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    app = build_app(settings, handlers=handlers, now=fixed_now, create_missing=False)
    app.engine  # noqa: B018 - open the store before saying ready
    conn.send(("ready", None))
    while True:
        try:
            limit = conn.recv()
        except (EOFError, OSError):
            break
        if limit is None:
            break
        try:
            conn.send(("done", process_pending(app, app.now(), limit=limit, write_turn=lambda: _turn(conn))))
        except Exception:
            conn.send(("failed", traceback.format_exc()))  # serve logs it, once
    app.engine.dispose()


@contextlib.contextmanager
def _turn(conn: Connection) -> Iterator[None]:
    """The write gate, held by `serve` for this worker while it records one message."""
    conn.send(("turn", None))
    assert conn.recv() == "go"
    try:
        yield
    finally:
        conn.send(("turned", None))


def _die_with_parent(parent_pid: int) -> None:
    """Linux: be killed when `serve` dies, even by SIGKILL, rather than parse on as an orphan
    (the message being processed stays `new`: its transaction never commits)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the worker still exits once its current message is done
    if os.getppid() != parent_pid:  # serve died before the request above took effect
        os._exit(1)


class Worker:
    """One processing process, driven from a thread of `serve`: `run(limit)` blocks until it answers."""

    def __init__(self, app: App, name: str) -> None:
        self.app, self.name = app, name
        self.process: Any = None
        self.conn: Connection | None = None
        self.lock = threading.Lock()  # one request at a time per worker

    def start(self) -> None:
        """Start the process unless it runs (again, if it died)."""
        with self.lock:
            self._connection()

    def _connection(self) -> Connection:
        if self.conn is not None and self.process.is_alive():
            return self.conn
        parent, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_worker_main,
            args=(child, self.app.settings, self.app.handlers, self.app.fixed_now, _levels(), os.getpid()),
            name=self.name,
            daemon=True,
        )
        self.process.start()
        child.close()
        try:
            ready, _ = _receive(parent)
        except EOFError:
            self.process.join()
            raise WorkerDied(f"{self.name} exited with {self.process.exitcode} while starting") from None
        assert ready == "ready", ready
        self.conn = parent
        return parent

    def run(self, gate: WriteGate, limit: int = 1) -> int:
        """Have the worker process up to `limit` messages, taking `gate` for it when it records one; how many."""
        with self.lock, contextlib.ExitStack() as held:
            conn = self._connection()
            try:
                conn.send(limit)
                while True:
                    outcome, value = _receive(conn)
                    if outcome == "turn":
                        held.enter_context(gate.work())
                        conn.send("go")
                    elif outcome == "turned":
                        held.close()
                    else:
                        break
            except (EOFError, OSError, BrokenPipeError):
                self.conn = None
                self.process.join()
                raise WorkerDied(f"{self.name} exited with {self.process.exitcode} while processing") from None
        if outcome == "failed":
            raise RuntimeError(f"in {self.name}:\n{value}")
        return int(value)

    def stop(self) -> None:
        with self.lock:
            if self.conn is not None:
                with contextlib.suppress(OSError, BrokenPipeError):
                    self.conn.send(None)
                self.conn.close()
                self.conn = None
            if self.process is not None:
                self.process.join(60)
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join()


def _levels() -> dict[str, int]:
    """The levels `serve` set (the root's, and libraries kept quiet), for a worker to set alike."""
    named = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    }
    return {"": logging.getLogger().level, **named}


def _receive(conn: Connection) -> tuple[str, Any]:
    """The worker's next message; its log records, on the way, are handled as `serve`'s own."""
    while True:
        kind, value = conn.recv()
        if kind != "log":
            return kind, value
        logging.getLogger(value.name).handle(value)


class _PipeQueue:
    """What QueueHandler puts records into: the worker's pipe, read by `Worker._receive`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put_nowait(self, record: logging.LogRecord) -> None:
        self.conn.send(("log", record))
