"""`mailbot receive`: one message on stdin, as an MTA pipe delivers it (exit 0, 75, 65)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.mailbot_proc import MAILBOT, free_port, mailbot_env, stored
from helpers.paths import SAMPLE


def receive(db_url: str, raw: bytes, workdir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*MAILBOT, "receive", *args], input=raw, cwd=workdir, env=mailbot_env(db_url), capture_output=True, timeout=120
    )


def test_stores_and_processes_then_exits_0(db_url: str, tmp_path: Path) -> None:
    raw = (SAMPLE / "001.eml").read_bytes()
    done = receive(db_url, raw, tmp_path, "--sender", "noc@carrier.example", "--recipient", "tb+2640@mailbot.localhost")
    assert done.returncode == 0, done.stderr
    assert receive(db_url, raw, tmp_path).returncode == 0  # a redelivery is stored, then found a duplicate
    rows = stored(db_url)
    assert [(origin, status) for origin, _, status in rows] == [("pipe", "parsed"), ("pipe", "duplicate")]
    assert rows[0][1] == b"Return-Path: <noc@carrier.example>\nDelivered-To: tb+2640@mailbot.localhost\n" + raw
    assert rows[1][1] == raw


def test_exits_75_when_the_store_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on this port: the database is down, so the MTA must keep the message.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=5"
    done = receive(url, (SAMPLE / "001.eml").read_bytes(), tmp_path)
    assert done.returncode == 75
    assert b"not stored" in done.stderr


def test_exits_75_when_the_database_file_cannot_be_written(tmp_path: Path) -> None:
    # A directory where the SQLite file should be: the store cannot open it.
    (tmp_path / "db.sqlite3").mkdir()
    done = receive(f"sqlite:///{tmp_path / 'db.sqlite3'}", (SAMPLE / "001.eml").read_bytes(), tmp_path)
    assert done.returncode == 75, done.stderr


def test_empty_input_is_a_data_error(sqlite_url: str, tmp_path: Path) -> None:
    done = receive(sqlite_url, b"\n", tmp_path)
    assert done.returncode == 65
    assert b"no message" in done.stderr
