"""Reply-to-next-notice latency of a running `mailbot serve` at its default settings.

    .venv/bin/python bench/latency_bench.py [--paced 20] [--rate 20] [--seconds 10] [--db URL ...]

For each database (default: a fresh SQLite file; a postgresql URL gets a fresh schema,
dropped afterwards) tracebacks are opened in-process, one hop each asking "Smartbiz
Telecom", and a real `mailbot serve` (default `[serve]`, `[schedule]` and `[outbound]`
settings: the Maildir transport; only the per-address hourly limit is lifted, as every traceback
asks the same two carriers) is started. Each carrier's answer names "Lingo Telecom"
as its upstream; the latency measured is from the 250 that accepts the answer over SMTP
to the next hop's notice (the request to Lingo) appearing in the outbox Maildir.

- paced: one answer at a time, the next once the previous one's notice is out;
- at a rate: `--rate` answers a second for `--seconds`, each on its own connection.

The floor, measured in the same run on the same database, is the work itself done
in-process with no waiting: store the answer, process it, deliver the notice it queued.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.smtp_bench import each_database, free_port, wait_listening  # noqa: E402

CARRIER = ("Smartbiz Telecom", "noc@smartbiz.example")
UPSTREAM = ("Lingo Telecom", "tb@lingo.example")
DOMAIN = "desk.example"
SUBJECT_NUMBER = re.compile(r"\[Traceback #(\d+)\]")


def settings_env(url: str, outbox: Path) -> dict[str, str]:
    """Only what the desk must know; everything else (poll interval, schedule, transport) at its default."""
    return {
        "MAILBOT_DATABASE_URL": url,
        "MAILBOT_MAIL_DOMAIN": DOMAIN,
        "MAILBOT_MAIL_FROM": f"Traceback Desk <traceback@{DOMAIN}>",
        "MAILBOT_MAIL_SECRET": "latency-bench",
        "MAILBOT_OUTBOUND_MAILDIR": str(outbox),
        "MAILBOT_IMAP_HOST": "",
        # Every bench traceback asks the same two carriers: lift the per-address hourly limit (30).
        "MAILBOT_OUTBOUND_RATE_PER_HOUR": "1000000",
    }


def open_tracebacks(env: dict[str, str], count: int) -> list[int]:
    from datetime import UTC, datetime

    from mailbot.store.db import session_scope

    from mailbot import config
    from mailbot.app import build_app
    from mailbot.desk import providers, workflow

    app = build_app(config.load(None, env["MAILBOT_DATABASE_URL"], environ=env))
    now = datetime.now(UTC)
    with session_scope(app.engine) as session:
        for name, address in (CARRIER, UPSTREAM):
            providers.add(session, name, emails=(address,), now=now)
    numbers = []
    with session_scope(app.engine) as session:
        for _ in range(count):
            tb = workflow.open_traceback(
                app,
                session,
                provider_name=CARRIER[0],
                campaign="SSA-Suspended-SSN",
                now=now,
                call_time=datetime(2026, 10, 30, 14, 5, tzinfo=UTC),
                called="+12025550143",
                caller="+16465550178",
                description="Caller claims your SSN is suspended.",
            )
            numbers.append(int(tb.id or 0))
    app.engine.dispose()
    return numbers


class OutboxWatch:
    """Notices as they land in the Maildir: when each traceback's notice to `to` first appeared."""

    def __init__(self, maildir: Path, to: str) -> None:
        self.new = maildir / "new"
        self.to = to
        self.seen: set[str] = set()
        self.arrived: dict[int, float] = {}
        self.notices: dict[int, email.message.Message] = {}
        self.lock = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        parser = BytesHeaderParser(policy=email.policy.default)
        while not self.stop.is_set():
            try:
                names = os.listdir(self.new)
            except FileNotFoundError:
                names = []
            moment = time.perf_counter()
            for name in names:
                if name in self.seen:
                    continue
                self.seen.add(name)
                raw = (self.new / name).read_bytes()
                head = parser.parsebytes(raw)
                if head["X-Mailbot-Notice"] not in ("first_contact", "request") or self.to not in str(head["To"]):
                    continue
                found = SUBJECT_NUMBER.search(str(head["Subject"]))
                if found:
                    with self.lock:
                        number = int(found.group(1))
                        self.arrived.setdefault(number, moment)
                        self.notices[number] = email.message_from_bytes(raw, policy=email.policy.default)
                        self.lock.notify_all()
            time.sleep(0.005)

    def wait(self, numbers: list[int], proc: subprocess.Popen[bytes] | None = None, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not all(n in self.arrived for n in numbers):
                if proc is not None and proc.poll() is not None:
                    raise SystemExit(f"mailbot serve exited with {proc.returncode}")
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in numbers if n not in self.arrived]
                    raise SystemExit(f"no notice to {self.to} for {len(missing)} traceback(s), e.g. {missing[:5]}")
                self.lock.wait(min(left, 0.5))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def answer(notice: email.message.Message) -> tuple[str, bytes]:
    """The carrier's top-posted answer naming its upstream: (envelope recipient, raw bytes)."""
    msg = EmailMessage()
    msg["From"] = f"NOC <{CARRIER[1]}>"
    msg["To"] = str(notice["Reply-To"])
    msg["Subject"] = "RE: " + str(notice["Subject"])
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@smartbiz.example>"
    msg["In-Reply-To"] = str(notice["Message-ID"])
    msg.set_content("Hi team,\n\nWe received this call from Lingo Telecom.\n\nThanks,\nJohn Carter\nNOC\n")
    return parseaddr(str(notice["Reply-To"]))[1], msg.as_bytes()


def send(port: int, rcpt: str, raw: bytes) -> float:
    """Send one answer on its own connection; the moment its 250 came."""
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        refused = smtp.sendmail(CARRIER[1], [rcpt], raw)
        accepted = time.perf_counter()
    assert not refused
    return accepted


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def floor(env: dict[str, str], answers: list[tuple[str, bytes]], outbox: Path) -> list[float]:
    """The work alone, in-process: store each answer, process it, deliver what it queued; seconds each."""
    from datetime import UTC, datetime

    from mailbot import config
    from mailbot.app import build_app
    from mailbot.domain.records import Arrival
    from mailbot.intake.pipeline import process_pending, receive
    from mailbot.outbound.outbox import deliver_pending
    from mailbot.outbound.transport import MaildirTransport

    app = build_app(config.load(None, env["MAILBOT_DATABASE_URL"], environ=env))
    transport = MaildirTransport(outbox)
    while deliver_pending(app.engine, transport, datetime.now(UTC), mail=app.mail):
        pass  # what is queued already (the first notices) is not part of the work measured
    samples = []
    for rcpt, raw in answers:
        began = time.perf_counter()
        now = datetime.now(UTC)
        stamped = f"Return-Path: <{CARRIER[1]}>\r\nDelivered-To: {rcpt}\r\n".encode() + raw
        receive(app.engine, Arrival(source="smtp", source_key=uuid.uuid4().hex, raw=stamped, origin="smtp"), now)
        assert process_pending(app, now) == 1
        assert deliver_pending(app.engine, transport, now, mail=app.mail) >= 1
        samples.append(time.perf_counter() - began)
    app.engine.dispose()
    return samples


def report(label: str, phase: str, values: list[float], work50: float) -> None:
    p50, p99 = percentiles(values)
    print(
        f"{label:11} {phase:22} {len(values):>4} {p50 * 1000:8.0f} {p99 * 1000:8.0f} "
        f"{p50 / work50:9.1f} {p99 / work50:9.1f}",
        flush=True,
    )


def bench(url: str, label: str, args: argparse.Namespace, workdir: Path) -> None:
    """Open the tracebacks, measure the work floor on a few, then the paced and rated phases."""
    outbox = workdir / f"outbox-{uuid.uuid4().hex[:6]}"
    env = settings_env(url, outbox)
    floor_n, paced_n, rated_n = 10, args.paced, int(args.rate * args.seconds)
    warm, *numbers = open_tracebacks(env, 1 + floor_n + paced_n + rated_n)
    first = OutboxWatch(outbox, CARRIER[1])
    upstream = OutboxWatch(outbox, UPSTREAM[1])
    # Before serve starts: send the first notices, and measure the work alone on a few answers.
    floor(env, [], outbox)  # sends the queued first notices, measures nothing
    first.wait([warm, *numbers])
    answers = {n: answer(first.notices[n]) for n in [warm, *numbers]}
    floor_ids = numbers[:floor_n]
    paced_ids, rated_ids = numbers[floor_n : floor_n + paced_n], numbers[floor_n + paced_n :]
    work = floor(env, [answers[n] for n in floor_ids], outbox)
    work50 = statistics.median(work)
    report(label, "work (in-process floor)", work, work50)
    port = free_port()
    proc_env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    proc_env.update(env, PYTHONPATH=str(ROOT), MAILBOT_SMTP_LISTEN=f"127.0.0.1:{port}")
    log = (workdir / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mailbot.cli import main; main()",
            "--log-level",
            os.environ.get("BENCH_LOG", "warning"),
            "serve",
        ],
        cwd=workdir,
        env=proc_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, proc)
        send(port, *answers[warm])  # warm-up: serve's worker processes start, and its caches fill
        upstream.wait([warm], proc)
        paced = []
        for n in paced_ids:
            accepted = send(port, *answers[n])
            upstream.wait([n], proc)
            paced.append(upstream.arrived[n] - accepted)
        if paced:
            report(label, "paced", paced, work50)
        if rated_ids:
            start = time.perf_counter() + 0.1
            accepted_at: dict[int, float] = {}

            def paced_send(i: int, n: int) -> None:
                time.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
                accepted_at[n] = send(port, *answers[n])

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(paced_send, range(len(rated_ids)), rated_ids))
            upstream.wait(rated_ids, proc)
            rated = [upstream.arrived[n] - accepted_at[n] for n in rated_ids]
            report(label, f"{args.rate:g}/s for {args.seconds:g} s", rated, work50)
    finally:
        proc.terminate()
        proc.wait(120)
        log.close()
        first.close()
        upstream.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paced", type=int, default=20, help="answers sent one at a time")
    parser.add_argument("--rate", type=float, default=20.0, help="answers a second in the rated phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the rated phase (0: none)")
    parser.add_argument("--db", action="append", help="database URL (repeatable); default a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="latency-bench-"))
    print(f"{os.cpu_count()} CPUs; [serve], [schedule], [outbound] at their defaults; ms, reply's 250 -> next notice")
    print(f"{'database':11} {'phase':22} {'n':>4} {'p50':>8} {'p99':>8} {'p50/work':>9} {'p99/work':>9}")
    each_database(args.db, workdir, lambda url, label: bench(url, label, args, workdir))


if __name__ == "__main__":
    main()
