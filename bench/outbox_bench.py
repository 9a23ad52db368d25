"""Outbox speed against the stdlib writing the same messages into a Maildir.

    .venv/bin/python bench/outbox_bench.py [--notices 2000] [--db URL ...]

Measures, in this process:

  baseline   mailbox.Maildir.add of N already-rendered messages (no database, no rendering)
  enqueue    outbox.enqueue of N notices (render text+HTML, build MIME, record), 100 per transaction
  deliver    outbox.deliver_pending of those N into a Maildir (claim, write+fsync, mark sent)

and prints notices/s and the ratio to the baseline for each --db (default: a
temporary SQLite file). Each --db URL gets an empty schema first.
"""

from __future__ import annotations

import argparse
import mailbox
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.store.db import create_schema, make_engine, session_scope  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from mailbot.config import load  # noqa: E402
from mailbot.outbound import outbox  # noqa: E402
from mailbot.outbound.transport import MaildirTransport  # noqa: E402

T = TypeVar("T")
NOW = datetime(2020, 6, 26, 17, 44, tzinfo=UTC)
CALL = {
    "call_time": datetime(2020, 6, 26, 15, 34, tzinfo=UTC),
    "called": "+14072223658",
    "caller": "+14072613544",
    "campaign": "Utility-30MinDisconnect",
    "description": "Likely FRAUD.",
}


def _timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """Seconds `fn(*args, **kwargs)` took, and what it returned."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def _enqueue_all(engine: Engine, n: int, mail: outbox.MailSettings) -> None:
    for start in range(0, n, 100):
        with session_scope(engine) as session:
            for i in range(start, min(start + 100, n)):
                outbox.enqueue(
                    session,
                    mail=mail,
                    dedupe_key=f"hop:{i}:request:0",
                    kind="request",
                    to=[f"noc{i % 50}@example.com"],
                    now=NOW,
                    traceback_id=i,
                    context={"call": CALL},
                )


def _reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS outbox_bench CASCADE; CREATE SCHEMA outbox_bench"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--db", action="append", default=[])
    args = parser.parse_args()
    n = args.notices
    mail = outbox.MailSettings.from_settings(
        load(environ={"MAILBOT_OUTBOUND_RATE_PER_HOUR": str(n + 1)}), b"bench-secret"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sample = outbox.build_message(
            kind="request",
            to=["noc@example.com"],
            context={"traceback_id": 1, "call": CALL},
            now=NOW,
            sender="d@mailbot.localhost",
            domain="mailbot.localhost",
        ).as_bytes()
        box = mailbox.Maildir(folder / "baseline")
        baseline, _ = _timed(lambda: [box.add(sample) for _ in range(n)])
        print(f"baseline  {n / baseline:8.0f} notices/s  (mailbox.Maildir.add, {n} messages)")
        urls = args.db or [f"sqlite:///{folder / 'bench.sqlite3'}"]
        for url in urls:
            _reset(url)
            engine = make_engine(
                url + ("?options=-csearch_path%3Doutbox_bench" if url.startswith("postgresql") else "")
            )
            create_schema(engine)
            enq, _ = _timed(_enqueue_all, engine, n, mail)
            transport = MaildirTransport(folder / f"out-{abs(hash(url))}")
            dlv, sent = _timed(outbox.deliver_pending, engine, transport, NOW, limit=n, mail=mail)
            assert sent == n, sent
            name = url.split("://")[0]
            print(
                f"{name:<9} enqueue {n / enq:8.0f} notices/s ({baseline / enq:.3f}x the baseline rate)   "
                f"deliver {n / dlv:8.0f} notices/s ({baseline / dlv:.3f}x the baseline rate)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
