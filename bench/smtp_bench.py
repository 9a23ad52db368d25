"""SMTP intake throughput and latency: N concurrent clients on loopback, a fixed number of messages.

    .venv/bin/python bench/smtp_bench.py [--clients 8] [--messages 400] [--db URL ...]

Each target is a real server process. The baseline is a bare aiosmtpd server whose
handler answers 250 at once (no storage): the price of SMTP itself on this machine.
`mailbot serve` is measured on each --db (default: a fresh SQLite file; a
postgresql URL gets a fresh schema, dropped afterwards), and its figures are printed
as ratios to the baseline measured in the same run. Latency is from MAIL FROM to
the 250 after DATA, which `mailbot serve` sends only once the message is committed.
"""

from __future__ import annotations

import argparse
import os
import re
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "fixtures" / "emails" / "001.eml"
RCPT = "tb+2640@mailbot.localhost"
BASELINE = """
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Accept:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Accept()), "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def messages(count: int) -> list[bytes]:
    """The sample notice (~7 KB) with a unique Message-ID each, CRLF lines as SMTP carries."""
    raw = SAMPLE.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    out = []
    for n in range(count):
        mid = f"<bench-{n}-{uuid.uuid4().hex}@carrier.example>".encode()
        out.append(re.sub(rb"(?im)^Message-ID:[^\r\n]*", b"Message-ID: " + mid, raw, count=1))
    return out


def run_clients(port: int, batch: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Send `batch` over `clients` connections at once; (seconds taken, latencies to each 250)."""
    latencies: list[float] = []
    lock = threading.Lock()
    shares = [batch[i::clients] for i in range(clients)]
    go = threading.Barrier(clients + 1)

    def client(share: list[bytes]) -> None:
        mine = []
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            smtp.ehlo()
            go.wait()
            for raw in share:
                started = time.perf_counter()
                refused = smtp.sendmail("noc@carrier.example", [RCPT], raw)
                mine.append(time.perf_counter() - started)
                assert not refused
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    go.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def measure(
    name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace, workdir: Path
) -> dict[str, float | str]:
    with (workdir / f"{name.split()[0]}.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, proc)
        run_clients(port, messages(args.clients * 2), args.clients)  # warm up connections and caches
        seconds, latencies = run_clients(port, messages(args.messages), args.clients)
    finally:
        proc.terminate()
        proc.wait(120)
    latencies.sort()
    return {
        "name": name,
        "rate": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def pg_schema_url(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine

    schema = "bench_" + uuid.uuid4().hex[:8]
    with create_engine(url).begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine

    with create_engine(url).begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def each_database(urls: list[str] | None, workdir: Path, run: Callable[[str, str], None]) -> None:
    """`run(url, label)` on each database to bench: by default a fresh SQLite file; for a
    PostgreSQL URL, a fresh schema of it, dropped afterwards."""
    for url in urls or [f"sqlite:///{workdir / 'bench.sqlite3'}"]:
        if not url.startswith("postgresql"):
            run(url, "SQLite")
            continue
        db_url, schema = pg_schema_url(url)
        try:
            run(db_url, "PostgreSQL")
        finally:
            drop_schema(url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--db", action="append", help="database URL (repeatable); default a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="smtp-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    base_env["PYTHONPATH"] = str(ROOT)
    results = []
    port = free_port()
    results.append(
        measure(
            "baseline (aiosmtpd, no storage)",
            [sys.executable, "-c", BASELINE, str(port)],
            base_env,
            port,
            args,
            workdir,
        )
    )
    for url in args.db or [f"sqlite:///{workdir / 'bench.sqlite3'}"]:
        schema = None
        db_url = url
        if url.startswith("postgresql"):
            db_url, schema = pg_schema_url(url)
        port = free_port()
        env = {
            **base_env,
            "MAILBOT_DATABASE_URL": db_url,
            "MAILBOT_SMTP_LISTEN": f"127.0.0.1:{port}",
            "MAILBOT_IMAP_HOST": "",
            "MAILBOT_SCHEDULE_ENABLED": "false",
        }
        label = "mailbot serve, " + ("PostgreSQL" if schema else "SQLite")
        try:
            results.append(
                measure(
                    label,
                    [sys.executable, "-c", "from mailbot.cli import main; main()", "--log-level", "warning", "serve"],
                    env,
                    port,
                    args,
                    workdir,
                )
            )
        finally:
            if schema:
                drop_schema(url, schema)
    base = results[0]
    print(
        f"{args.messages} messages of {len(messages(1)[0])} bytes, {args.clients} concurrent clients, "
        f"loopback, {os.cpu_count()} CPUs"
    )
    print(f"{'server':34} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'rate/base':>10} {'p50/base':>9}")
    for r in results:
        print(
            f"{r['name']:34} {r['rate']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} "
            f"{r['rate'] / base['rate']:10.2f} {r['p50'] / base['p50']:9.1f}"
        )


if __name__ == "__main__":
    main()
