"""Import speed against the stdlib parse of the same mailbox, and peak memory.

    .venv/bin/python bench/import_bench.py [--messages 50000] [--db URL ...] [--jobs N ...]

Builds a synthetic mbox of notices rendered from the sample mailbox's own
messages (every layout it has; fresh incident numbers and Message-IDs), then
measures, each in a fresh process:

  baseline   email.message_from_bytes + decoding the text parts of every message
  import     mailbot's import (default settings) into each --db, at each --jobs

and prints messages/s, the ratio to the baseline in wall time and in CPU time
(the CPU ratio holds still when other work shares the machine; it adds up the
parsing workers, so with --jobs it is the total work, not the elapsed time),
and the peak resident memory of the largest process. Each --db URL gets an empty schema before each run.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "fixtures" / "emails"
_ID = re.compile(rb"#\s*(\d{3,6})\b")
_MESSAGE_ID = re.compile(rb"^Message-ID:.*$", re.M | re.I)
_FROM_LINE = re.compile(rb"^(>*From )", re.M)


def build_mbox(path: Path, count: int) -> int:
    """Write `count` notices to an mbox, one at a time; returns its size in bytes."""
    templates = [p.read_bytes() for p in sorted(SAMPLE.glob("*.eml"))]
    next_id = 100_000
    with path.open("wb") as out:
        for i in range(count):
            raw = templates[i % len(templates)]
            fresh: dict[bytes, bytes] = {}
            for old in dict.fromkeys(_ID.findall(raw)):
                fresh[old] = str(next_id).encode()
                next_id += 1
            raw = _ID.sub(lambda m, fresh=fresh: b"#" + fresh[m.group(1)], raw)
            raw = _MESSAGE_ID.sub(f"Message-ID: <bench.{i}@bench.invalid>".encode(), raw, count=1)
            raw = _FROM_LINE.sub(rb">\1", raw)  # mboxrd quoting
            out.write(b"From bench@bench.invalid Mon Jan  3 00:00:00 2022\n" + raw.rstrip(b"\n") + b"\n\n")
    return path.stat().st_size


def child_baseline(mbox: Path) -> dict:
    from mailbot.mailboxes.sources import read_mbox

    # Only the parse is timed (not reading the file), message by message, so the
    # mailbox never has to sit in memory.
    seconds, cpu, count = 0.0, 0.0, 0
    for arrival in read_mbox(mbox):
        started, started_cpu = time.perf_counter(), time.process_time()
        msg = email.message_from_bytes(arrival.raw)
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    payload.decode(part.get_content_charset() or "utf-8", "replace")
        seconds += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        count += 1
    return {"seconds": seconds, "cpu": cpu, "messages": count}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_import(mbox: Path, url: str, jobs: int) -> dict:
    from mailbot.store.db import create_schema, make_engine

    from mailbot.archive.importer import import_paths
    from mailbot.config import DEFAULTS

    engine = make_engine(url)
    create_schema(engine)
    started, started_cpu = time.perf_counter(), time.process_time() + _children_cpu()
    tally = import_paths(engine, [mbox], batch_size=int(DEFAULTS["import"]["batch_size"]), jobs=jobs, progress=False)
    # CPU seconds of this process and its (joined) parsing workers; the database server's are not counted.
    cpu = time.process_time() + _children_cpu() - started_cpu
    return {
        "seconds": time.perf_counter() - started,
        "cpu": cpu,
        "messages": tally.stored,
        "incidents": len(tally.new_incidents),
        "by_status": tally.by_status,
    }


def run_child(*args: str) -> dict:
    """Run this script in child mode; its figures plus the peak RSS (MB) of its largest process."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child {args} failed with {proc.returncode}")
    figures = json.loads(output.strip().splitlines()[-1])
    figures["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return figures


def reset_schema(url: str) -> None:
    from mailbot.store.db import make_engine
    from sqlalchemy.engine import make_url
    from sqlmodel import SQLModel

    if make_url(url).get_backend_name() == "sqlite":
        db = make_url(url).database
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(url)
    SQLModel.metadata.drop_all(engine)
    engine.dispose()


PG_URL = os.environ.get("MAILBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema(create: bool) -> str | None:
    """A schema of this run's own in the CI PostgreSQL (created, or dropped); None if it is not there."""
    from sqlalchemy import create_engine

    name = f"bench_{os.getpid()}"
    try:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}" if create else f"DROP SCHEMA {name} CASCADE")
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}): SQLite only")
        return None
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def print_ratios(rates: dict[tuple[str, int], float]) -> None:
    """The comparisons asked of every run: PostgreSQL against SQLite, and --jobs N against --jobs 1."""
    backends = list(dict.fromkeys(b for b, _ in rates))
    jobs = sorted({j for _, j in rates})
    for other in backends[1:]:
        pairs = [
            f"--jobs {j} {rates[other, j] / rates[backends[0], j]:.2f}x"
            for j in jobs
            if (other, j) in rates and (backends[0], j) in rates
        ]
        print(f"{other} / {backends[0]} (msg/s): " + ", ".join(pairs))
    for backend in backends:
        pairs = [
            f"--jobs {j} {rates[backend, j] / rates[backend, jobs[0]]:.2f}x" for j in jobs[1:] if (backend, j) in rates
        ]
        if pairs:
            print(f"{backend}: against --jobs {jobs[0]} (msg/s): " + ", ".join(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument(
        "--db",
        action="append",
        help="database URL (repeat for several); default a temp SQLite and, when it is reachable, "
        "a fresh schema in the PostgreSQL at $MAILBOT_TEST_PG (the CI one)",
    )
    parser.add_argument("--jobs", type=int, action="append", help=f"--jobs to run (default 1 and {os.cpu_count()})")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mbox, *rest = args.child
        figures = child_baseline(Path(mbox)) if kind == "baseline" else child_import(Path(mbox), rest[0], int(rest[1]))
        print(json.dumps(figures))
        return

    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp:
        mbox = Path(tmp) / "bench.mbox"
        started = time.perf_counter()
        size = build_mbox(mbox, args.messages)
        print(f"mailbox: {args.messages} notices, {size / 2**20:.0f} MB, built in {time.perf_counter() - started:.1f}s")
        base = run_child("baseline", str(mbox))
        base_rate = base["messages"] / base["seconds"]
        print(f"{'run':<34} {'msg/s':>8} {'x baseline':>10} {'x cpu':>6} {'peak MB':>8}")
        print(f"{'stdlib parse (baseline)':<34} {base_rate:>8.0f} {1.0:>10.2f} {1.0:>6.2f} {base['peak_mb']:>8.0f}")
        pg = None if args.db else postgres_schema(create=True)
        urls = args.db or [f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", *([pg] if pg else [])]
        rates: dict[tuple[str, int], float] = {}
        for url in urls:
            backend = url.split(":", 1)[0]
            for jobs in args.jobs or sorted({1, os.cpu_count() or 1}):
                reset_schema(url)
                run = run_child("import", str(mbox), url, str(jobs))
                rate = rates[backend, jobs] = run["messages"] / run["seconds"]
                label = f"import {backend} --jobs {jobs}"
                print(
                    f"{label:<34} {rate:>8.0f} {run['seconds'] / base['seconds']:>10.2f} "
                    f"{run['cpu'] / base['cpu']:>6.2f} {run['peak_mb']:>8.0f}"
                    f"   ({run['messages']} stored, {run['incidents']} incidents, {run['by_status']})"
                )
            reset_schema(url)
        print_ratios(rates)
        if pg:
            postgres_schema(create=False)


if __name__ == "__main__":
    main()
