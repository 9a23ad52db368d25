"""One writer at a time to an SQLite store within `mailbot serve`, intake first.

SQLite takes one writer at a time. Left to its busy handler, a writer waiting
behind another sleeps in growing steps (up to 100 ms each), so an SMTP client
waits for its 250 far longer than the commit takes. Waiting on a condition
instead wakes the next writer the moment the store is free, and processing
steps aside while intake is waiting: acknowledging mail comes before
processing it a moment sooner. PostgreSQL has row locks and needs no gate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGate:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._cond = threading.Condition()
        self._busy = False
        self._intake_waiting = 0

    @contextmanager
    def intake(self) -> Iterator[None]:
        """Hold the store for one intake commit; goes before any waiting processing."""
        if not self.enabled:
            yield
            return
        with self._cond:
            self._intake_waiting += 1
            while self._busy:
                self._cond.wait()
            self._intake_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def work(self) -> Iterator[None]:
        """Hold the store for one processing step, once no intake is waiting."""
        if not self.enabled:
            yield
            return
        with self._cond:
            while self._busy or self._intake_waiting:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()
