"""How long one scheduler run (`run_due`) takes as open hops grow, against an empty run.

    .venv/bin/python bench/scheduler_bench.py [--hops 200] [--db URL ...]

For each database: the baseline is `run_due` over providers but no hops (measured in
the same run); then `--hops` open hops all due at once (the first run sends a reminder
each), then the same hops with nothing due (a steady-state minute tick). Figures are
milliseconds per run and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.scheduler import jobs  # noqa: E402
from mailbot.store.db import session_scope  # noqa: E402
from mailbot.store.tables.desk import Hop, Traceback  # noqa: E402

from mailbot import config  # noqa: E402
from mailbot.app import App, build_app  # noqa: E402
from mailbot.domain.timeutil import utc as as_utc  # noqa: E402
from mailbot.testing import simulate  # noqa: E402

NY = ZoneInfo("America/New_York")
START = datetime(2026, 3, 9, 9, 0, tzinfo=NY)


def timed(app: App, now: datetime, repeat: int) -> float:
    app.fixed_now = now
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        jobs.run_due(app)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000


def bench(url: str, hops: int, work: Path) -> list[tuple[str, float]]:
    settings = config.load(
        None, url, environ={"MAILBOT_OUTBOUND_MAILDIR": str(work / "outbox"), "MAILBOT_MAIL_SECRET": "bench"}
    )
    app = build_app(settings)
    with session_scope(app.engine) as session:
        providers = simulate.add_providers(session)
    baseline = timed(app, START, 5)
    with session_scope(app.engine) as session:
        for i in range(hops):
            tb = Traceback(campaign="Tax-Debt-P1", opened_at=as_utc(START))
            session.add(tb)
            session.flush()
            session.add(
                Hop(
                    traceback_id=tb.id,
                    provider_id=providers["telcon"],
                    requested_at=as_utc(START + timedelta(seconds=i)),
                )
            )
    due = timed(app, START + timedelta(hours=4, minutes=5), 1)  # every hop's first reminder
    steady = timed(app, START + timedelta(hours=4, minutes=6), 5)  # nothing new is due
    return [
        ("baseline: no hops", baseline),
        (f"{hops} hops, reminder each", due),
        (f"{hops} hops, nothing due", steady),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=200)
    parser.add_argument("--db", action="append", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.db or [f"sqlite:///{tmp}/bench.sqlite3"]
        print("| database | run | ms | / baseline |\n|---|---|---|---|")
        for url in urls:
            rows = bench(url, args.hops, Path(tmp))
            base = rows[0][1]
            for name, ms in rows:
                print(f"| {url.split(':')[0]} | {name} | {ms:.1f} | {ms / base:.1f} |")


if __name__ == "__main__":
    main()
