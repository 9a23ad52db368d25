"""What an `import --jobs N` worker process runs: the parsers, and nothing else.

Kept apart from the importer so that a worker imports only `parsers` (~0.1 s)
rather than the database layer and the CLI.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

from mailbot.domain.records import ParsedMessage
from mailbot.parsers.message import parse_message

# Collect young objects every 20 000 allocations rather than 700: parsing and storing
# allocate heavily and keep little, and the frequent passes cost ~5% of an import.
GC_THRESHOLD = 20_000


def start(importer: int) -> None:
    """Worker start-up: exit once the importer is gone (after a kill -9 nobody stops the pool).

    The importer's pid is passed in: a worker still starting when the importer
    died already has another parent, and must not take that one for it.
    """

    def watch() -> None:
        while os.getppid() == importer:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    # Ctrl-C reaches the whole process group; it is the importer's to handle (it keeps what
    # it committed and stops the pool), not a reason for each worker to print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])  # a worker lives for one import


def parse_chunk(raws: list[bytes]) -> list[ParsedMessage]:
    return [parse_message(raw) for raw in raws]
