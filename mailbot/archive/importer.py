"""Bulk import of historical mailboxes, in archive mode.

Archive mode (as Zammad's import): messages are stored and parsed into
incidents, but nothing is sent and no traceback workflow runs.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import col

from mailbot.archive import parse_worker
from mailbot.archive.parse_worker import GC_THRESHOLD
from mailbot.archive.progress import Mark, Plan, Progress, marked, plan_for
from mailbot.domain.records import Arrival, ParsedMessage
from mailbot.mailboxes import sources
from mailbot.parsers.campaigns import canonical_names
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally, campaign_counts, save_batch, save_canonical
from mailbot.store.tables.messages import Message


@contextmanager
def _fewer_collections() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _already_stored(engine: Engine, batch: Sequence[Arrival], empty: dict[str, bool]) -> set[tuple[str, str]]:
    """The batch's places stored before. `empty` remembers the sources that had no rows
    when this import first met them: nothing of theirs needs looking up (another importer
    storing the same mailbox meanwhile is still caught, by save_batch's ON CONFLICT)."""
    for source in {a.source for a in batch} - empty.keys():
        with session_scope(engine) as session:
            empty[source] = (
                session.execute(select(col(Message.id)).where(col(Message.source) == source).limit(1)).first() is None
            )
    places = sorted({(a.source, a.source_key) for a in batch if not empty[a.source]})
    if not places:
        return set()
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            # A join against the batch's places. With IN lists on the two columns, PostgreSQL
            # (its statistics behind a growing table) read every message of the source for
            # each batch, so batches got slower as the import went on; a list of row values
            # is planned as 500 ORed index probes (~100 ms).
            rows = session.execute(
                text(
                    "SELECT m.source, m.source_key FROM message AS m"
                    " JOIN unnest(CAST(:sources AS text[]), CAST(:keys AS text[])) AS p(source, source_key)"
                    " ON m.source = p.source AND m.source_key = p.source_key"
                ),
                {"sources": [s for s, _ in places], "keys": [k for _, k in places]},
            ).all()
        else:
            rows = session.execute(
                select(col(Message.source), col(Message.source_key)).where(
                    col(Message.source).in_({s for s, _ in places}), col(Message.source_key).in_({k for _, k in places})
                )
            ).all()
    return {(s, k) for s, k in rows} & set(places)


PARSE_AHEAD = 2  # batches handed to the workers before the oldest is stored
CHUNK = 50  # messages per parsing task: small enough to share out, large enough to hand off cheaply

# A batch's raw messages in chunks, each with the worker's task parsing it (None: none is).
Parse = list[tuple[list[bytes], "Future[list[ParsedMessage]] | None"]]


def _parse_all(raws: list[bytes], pool: Executor | None) -> Parse:
    """Hand the batch's chunks to the workers, if there are any."""
    if pool is None:
        return [(raws, None)]
    chunks = [raws[i : i + CHUNK] for i in range(0, len(raws), CHUNK)]
    return [(chunk, pool.submit(parse_worker.parse_chunk, chunk)) for chunk in chunks]


def _results(parsed: Parse) -> list[ParsedMessage]:
    """The batch's parse. This process is one of the --jobs: chunks no worker has
    started yet it parses itself, from the end, while the workers work from the front."""
    mine = {
        i: parse_worker.parse_chunk(chunk)
        for i, (chunk, future) in reversed(list(enumerate(parsed)))
        if future is None or future.cancel()
    }
    # A chunk's future is None only when the chunk is in `mine` (mypy cannot tell).
    return [m for i, (_, future) in enumerate(parsed) for m in (mine[i] if i in mine else future.result())]  # type: ignore[union-attr]


def _start(
    engine: Engine, batch: Sequence[Arrival], pool: Executor | None, empty: dict[str, bool]
) -> tuple[list[Arrival], Parse, int]:
    """Begin a batch: the arrivals not stored before, their parse, and how many were skipped."""
    done = _already_stored(engine, batch, empty)
    fresh = [a for a in batch if (a.source, a.source_key) not in done]
    return fresh, _parse_all([a.raw for a in fresh], pool), len(batch) - len(fresh)


def _finish(engine: Engine, fresh: list[Arrival], parsed: Parse, skipped: int) -> Tally:
    tally = Tally(skipped=skipped)
    results = _results(parsed)
    with session_scope(engine) as session:
        save_batch(session, fresh, results, tally)  # places another importer stored meanwhile count as skipped
    return tally


def save(engine: Engine, batch: Sequence[Arrival], pool: Executor | None = None) -> Tally:
    """Store and parse one batch in one transaction; places already stored are skipped."""
    return _finish(engine, *_start(engine, batch, pool, {}))


def _mail(path: Path, tally: Tally) -> Iterator[Arrival]:
    """The messages a path holds; files in it that are not mail are counted, not stored."""
    for item in sources.read(path):
        if isinstance(item, sources.NotMail):
            tally.not_mail += 1
        else:
            yield item


def _arrivals(paths: Sequence[Path], plans: Sequence[Plan], tally: Tally) -> Iterator[tuple[Arrival, Mark]]:
    """Every path's messages, in order, each with where its input's progress bar stands after it."""
    for index, (path, how) in enumerate(zip(paths, plans, strict=True)):
        yield from marked(index, how, _mail(path, tally))


@contextmanager
def _ctrl_c_between_batches() -> Iterator[threading.Event]:
    """Ctrl-C sets the event instead of raising wherever it lands: the import stops before
    its next batch, so no commit is cut short and the tally is exactly what was committed."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: pressed.set())
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


class ImportInterrupted(Exception):
    """Ctrl-C stopped an import; `tally` is what this run committed before (a re-run skips it)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(f"interrupted after {tally.stored} stored")
        self.tally = tally


def _stop_if(pressed: threading.Event, pool: Executor | None, tally: Tally) -> None:
    """Stop for Ctrl-C: batches parsed ahead are dropped uncommitted (a re-run imports them)."""
    if not pressed.is_set():
        return
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    raise ImportInterrupted(tally)


def _commit(
    engine: Engine, started: tuple[list[Mark], tuple[list[Arrival], Parse, int]], tally: Tally, bars: Progress
) -> None:
    """Store a started batch, then move the bars: they show what is committed, not what is read."""
    marks, batch = started
    tally.add(_finish(engine, *batch))
    bars.advance(marks)


def import_paths(
    engine: Engine, paths: Sequence[Path], batch_size: int = 500, jobs: int = 1, progress: bool | None = None
) -> Tally:
    """Import the paths in batches of `batch_size`, `jobs` processes parsing; `progress`: show
    the bars (None: when stderr is a terminal)."""
    plans = [plan_for(p) for p in paths]  # counts up front: a PST file is refused before anything is read
    bars = Progress(plans, show=sys.stderr.isatty() if progress is None else progress)
    tally = Tally()
    arrivals = _arrivals(paths, plans, tally)
    # Spawned, not forked: a forked worker would inherit this process's database
    # connection and, outliving a kill -9, hold its transaction's locks open.
    # This process parses too (see _results), so --jobs N starts N - 1 workers.
    pool_cm = (
        ProcessPoolExecutor(
            max_workers=jobs - 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=parse_worker.start,
            initargs=(os.getpid(),),
        )
        if jobs > 1
        else nullcontext(None)
    )
    with (
        _fewer_collections(),
        _ctrl_c_between_batches() as pressed,
        pool_cm as pool,
    ):
        # With a pool, the workers parse the next two batches while this process stores
        # one: with only the next one queued they ran dry as a batch ended, and this
        # process waited for the last chunks they held.
        ahead: deque[tuple[list[Mark], tuple[list[Arrival], Parse, int]]] = deque()
        empty: dict[str, bool] = {}
        try:
            for pairs in batched(arrivals, batch_size):
                _stop_if(pressed, pool, tally)
                batch = [arrival for arrival, _ in pairs]
                ahead.append(([mark for _, mark in pairs], _start(engine, batch, pool, empty)))
                if len(ahead) > PARSE_AHEAD:
                    _commit(engine, ahead.popleft(), tally, bars)
            while ahead:
                _stop_if(pressed, pool, tally)
                _commit(engine, ahead.popleft(), tally, bars)
        except BaseException:
            bars.close(complete=False)
            raise
        bars.close(complete=True)
    with session_scope(engine) as session:
        save_canonical(session, canonical_names(campaign_counts(session)))
    return tally
