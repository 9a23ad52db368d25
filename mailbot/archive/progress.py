"""The import's progress bar (tqdm): one bar per input, moved as its messages are committed.

Each input is measured the cheapest exact way it can be: a plain mbox file by bytes (its
size is known and a message's place in it is its offset), a directory, Maildir, .eml or
IMAP folder by messages (counted up front), anything else (a compressed mbox, a .zip or
.tar) by messages with no total, so it shows a rate but no ETA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mailbot.domain.records import Arrival
from mailbot.mailboxes import imap as imap_source
from mailbot.mailboxes import sources


@dataclass(frozen=True)
class Plan:
    """How one input's bar counts: its label, unit ("B" or "msg") and total (None: not known)."""

    label: str
    unit: str
    total: int | None


@dataclass(frozen=True)
class Mark:
    """Where an input stands once a message of it is committed: bytes or messages done."""

    input: int
    done: int


def plan_for(path: Path | imap_source.Mailbox) -> Plan:
    if isinstance(path, Path) and path.is_file() and sources.detect(path.resolve()) == "mbox":
        return Plan(str(path), "B", path.stat().st_size)
    return Plan(str(path), "msg", sources.count_hint(path))


def marked(index: int, how: Plan, arrivals: Iterable[Arrival]) -> Iterator[tuple[Arrival, Mark]]:
    """The input's arrivals, each with the mark the bar moves to once it is committed."""
    for n, arrival in enumerate(arrivals, 1):
        if how.unit == "B" and arrival.source_key.isdigit():  # mbox: the offset of its "From " line
            yield arrival, Mark(index, int(arrival.source_key) + len(arrival.raw))
        else:
            yield arrival, Mark(index, n)


class Progress:
    """The bars of one import; `advance(marks)` after each commit, `close()` at the end."""

    def __init__(self, plans: Sequence[Plan], show: bool) -> None:
        self.plans, self.show = plans, show
        self.bar: Any = None
        self.current = -1

    def advance(self, marks: Iterable[Mark]) -> None:
        for mark in marks:
            if mark.input != self.current:
                self._open(mark.input)
            total = self.bar.total
            done = min(mark.done, total) if total is not None else mark.done
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)

    def _open(self, index: int) -> None:
        self._finish()
        how = self.plans[index]
        bytes_ = how.unit == "B"
        self.bar = tqdm(
            total=how.total,
            desc=how.label,
            unit=how.unit,
            unit_scale=bytes_,
            unit_divisor=1024 if bytes_ else 1000,
            disable=not self.show,
            dynamic_ncols=True,
        )
        self.current = index

    def _finish(self, complete: bool = True) -> None:
        """Close the open bar; an input read to its end is at its total (mbox: its last blank line)."""
        if self.bar is None:
            return
        if complete and self.bar.total is not None and self.bar.n < self.bar.total:
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()
        self.bar = None

    def close(self, complete: bool) -> None:
        """`complete`: every input was read to its end (not an interrupted import)."""
        self._finish(complete)
