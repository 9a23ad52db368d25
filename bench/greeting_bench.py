"""SMTP greeting latency of `mailbot serve` while it processes large messages (issue 12 §6).

    .venv/bin/python bench/greeting_bench.py [--messages 3] [--mb 24] [--db URL ...]

`--messages` messages of `--mb` MB each are delivered, then, while serve parses and
processes them, a new connection is opened every 50 ms and timed to its 220 greeting.
The floor is the same measurement on the same idle server, in the same run.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.smtp_bench import each_database, free_port, wait_listening  # noqa: E402

RCPT = "traceback@desk.example"


def greetings(port: int, until: float | None = None, count: int = 40) -> list[float]:
    """Seconds from connect to the 220, every 50 ms, `count` times or until `until()` is false."""
    samples = []
    while len(samples) < count if until is None else until():
        began = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            assert sock.recv(512).startswith(b"220")
        samples.append(time.perf_counter() - began)
        time.sleep(0.05)
    return samples


def unprocessed(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM message WHERE status = 'new'")).scalar_one())
    finally:
        engine.dispose()


def bench(url: str, label: str, args: argparse.Namespace, workdir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        MAILBOT_DATABASE_URL=url,
        MAILBOT_SMTP_LISTEN=f"127.0.0.1:{port}",
        MAILBOT_MAIL_DOMAIN="desk.example",
        MAILBOT_MAIL_SECRET="bench",
        MAILBOT_OUTBOUND_MAILDIR=str(workdir / "outbox"),
        MAILBOT_SCHEDULE_ENABLED="false",
    )
    line = b"x" * 76 + b"\r\n"
    body = line * (args.mb * 2**20 // len(line))
    with (workdir / f"serve-{port}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from mailbot.cli import main; main()", "--log-level", "warning", "serve"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, proc)
        time.sleep(3)  # let the worker processes start
        idle = greetings(port)
        with smtplib.SMTP("127.0.0.1", port, timeout=600) as smtp:
            for n in range(args.messages):
                head = f"From: noc@carrier.example\r\nTo: {RCPT}\r\nSubject: big {n}\r\n\r\n".encode()
                smtp.sendmail("noc@carrier.example", [RCPT], head + body)
        began = time.perf_counter()
        busy = greetings(port, until=lambda: unprocessed(url) > 0)
        took = time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(300)
    for phase, values in (("idle (floor)", idle), (f"processing ({took:.0f} s)", busy)):
        ordered = sorted(values)
        p50, p99 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        base = statistics.median(idle)
        print(f"{label:11} {phase:20} {len(values):>4} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p99 / base:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--mb", type=int, default=24)
    parser.add_argument("--db", action="append", help="database URL (repeatable); default a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="greeting-bench-"))
    print(f"{os.cpu_count()} CPUs; {args.messages} messages of {args.mb} MB; ms from connect to the 220")
    print(f"{'database':11} {'phase':20} {'n':>4} {'p50':>8} {'p99':>8} {'p99/idle':>9}")
    each_database(args.db, workdir, lambda url, label: bench(url, label, args, workdir))


if __name__ == "__main__":
    main()
