"""Helpers for tests that run `mailbot serve` as a real process and talk to it over sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mailbot.store.db import make_engine, session_scope
from mailbot.store.tables.messages import Message
from sqlalchemy import select
from sqlmodel import col

ROOT = Path(__file__).resolve().parents[2]
MAILBOT = [sys.executable, "-c", "from mailbot.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll until `condition()` is truthy; a deadline only so a broken run cannot hang the suite."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def mailbot_env(db_url: str, **settings: str) -> dict[str, str]:
    """The environment for a mailbot process configured only by MAILBOT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update({"MAILBOT_DATABASE_URL": db_url, "MAILBOT_SERVE_POLL_INTERVAL": "1", "PYTHONPATH": str(ROOT)})
    env.update({f"MAILBOT_{k.upper()}": v for k, v in settings.items()})
    return env


class Server:
    """A `mailbot serve` subprocess listening for SMTP on a free loopback port."""

    def __init__(self, db_url: str, workdir: Path, **settings: str) -> None:
        self.port = free_port()
        self.db_url = db_url
        self.log = workdir / f"serve-{self.port}.log"
        env = mailbot_env(db_url, smtp_listen=f"127.0.0.1:{self.port}", **settings)
        # cwd is the test's directory, so no config.toml is read: the env is the whole config.
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*MAILBOT, "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(self._listening, f"mailbot serve on port {self.port}")

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mailbot serve exited {self.proc.returncode}:\n{self.output()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()


def stored(db_url: str) -> list[tuple[str, bytes, str]]:
    """(origin, raw, status) of every stored message, read straight from the store."""
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            return [
                tuple(row)
                for row in session.execute(
                    select(col(Message.origin), col(Message.raw), col(Message.status)).order_by(col(Message.id))
                ).all()
            ]
    finally:
        engine.dispose()


def crlf(raw: bytes) -> bytes:
    """SMTP carries CRLF lines; the fixtures are files with LF."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message(n: int, tag: str = "t", size: int = 0) -> bytes:
    body = "Traceback 2640: we are not the originator.\r\n" + "x" * size
    return (
        f"From: noc@carrier.example\r\nTo: tb+2640@mailbot.localhost\r\n"
        f"Subject: Re: Traceback 2640\r\nMessage-ID: <{tag}-{n}@carrier.example>\r\n"
        f"Date: Mon, 02 Nov 2026 15:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()
