"""What a sysadmin meets first (issue 14): config discovery, missing or mistyped databases,
a taken port, Ctrl-C, readable one-line errors, --version and JSON logs. Real processes."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from helpers.mailbot_proc import MAILBOT, ROOT, free_port, mailbot_env, stored, wait_for
from helpers.paths import SAMPLE
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import OperationalError

SYSTEM_CONFIG = Path("/etc/mailbot/config.toml")


def run(args: list[str], cwd: Path, env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*MAILBOT, *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def bare_env(**extra: str) -> dict[str, str]:
    """No MAILBOT_* at all: as Postfix's pipe runs a command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_receive_without_any_config_exits_75_naming_what_it_looked_for_and_creates_nothing(tmp_path: Path) -> None:
    if SYSTEM_CONFIG.exists():
        pytest.skip(f"{SYSTEM_CONFIG} exists on this machine")
    # A checkout's config.toml in the working directory is not the MTA's: receive must not use it.
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite:///var/here.sqlite3"\n')
    before = sorted(tmp_path.rglob("*"))
    done = run(["receive"], tmp_path, bare_env(), (SAMPLE / "001.eml").read_bytes())
    assert done.returncode == 75, done.stderr
    [line] = done.stderr.splitlines()
    assert str(SYSTEM_CONFIG) in line and "MAILBOT_CONFIG" in line and "MAILBOT_DATABASE_URL" in line
    assert sorted(tmp_path.rglob("*")) == before  # no database, no secret, no var/


def test_receive_configured_by_the_environment_alone_stores(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'mailbot.sqlite3'}"
    done = run(
        ["receive"],
        tmp_path,
        bare_env(MAILBOT_DATABASE_URL=url, MAILBOT_MAIL_SECRET="s"),
        (SAMPLE / "001.eml").read_bytes(),
    )
    assert done.returncode == 0, done.stderr
    assert "created database" in done.stderr  # a command that writes may create it, and says so
    assert [status for _, _, status in stored(url)] == ["parsed"]


def test_receive_with_a_named_config_that_is_missing_exits_75(tmp_path: Path) -> None:
    done = run(["--config", str(tmp_path / "nope.toml"), "receive"], tmp_path, bare_env(), b"Subject: x\n\nx\n")
    assert done.returncode == 75 and "nope.toml" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["incidents"],
        ["export", "incidents"],
        ["quarantine"],
        ["traceback", "show", "1"],
        ["review", "list"],
        ["db", "current"],
    ],
)
def test_a_read_command_on_a_mistyped_sqlite_database_says_so_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "var" / "mailbto.sqlite3"
    done = run(["--db", f"sqlite:///{typo}", *command], tmp_path, bare_env())
    assert done.returncode == 66, done.stderr
    assert f"database {typo} does not exist" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # not even var/


def test_a_read_command_on_an_empty_postgresql_database_creates_no_tables(pg_url: str, tmp_path: Path) -> None:
    done = run(["--db", pg_url, "incidents"], tmp_path, bare_env())
    assert done.returncode == 66, done.stderr
    assert "has no mailbot tables" in done.stderr
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == []
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("notaurl", 78, "url must be a database URL"),
        ("mysqlx://u@h/db", 78, "unknown kind of database"),
        ("postgresql+psycopg2://postgres@127.0.0.1/test", 78, "pip install 'mailbot[postgres]'"),
        ("postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=5", 75, "Connection refused"),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/mailbot_no_such_db",
            66,
            'database "mailbot_no_such_db" does not exist',
        ),
        ("sqlite:///{tmp}/corrupt.sqlite3", 65, "damaged or not a database"),
    ],
)
def test_errors_are_one_or_two_readable_lines(tmp_path: Path, url: str, code: int, says: str) -> None:
    if "psycopg2" in url:
        pytest.importorskip("sqlalchemy")
        try:
            import psycopg2  # noqa: F401

            pytest.skip("psycopg2 is installed here")
        except ImportError:
            pass
    (tmp_path / "corrupt.sqlite3").write_bytes(b"this is not a SQLite file" * 100)
    done = run(["--db", url.format(port=free_port(), tmp=tmp_path), "incidents"], tmp_path, bare_env())
    assert done.returncode == code, done.stderr
    assert says in done.stderr
    assert 1 <= len(done.stderr.strip().splitlines()) <= 2 and "Traceback" not in done.stderr, done.stderr
    with_debug = run(["--debug", "--db", url.format(port=free_port(), tmp=tmp_path), "incidents"], tmp_path, bare_env())
    assert with_debug.returncode == code and "Traceback (most recent call last)" in with_debug.stderr


def test_serve_on_a_taken_port_exits_before_any_work_starts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = mailbot_env(url, smtp_listen=f"127.0.0.1:{port}", schedule_tick_seconds="1")
        done = run(["serve"], tmp_path, env)
    assert done.returncode == 69, done.stderr
    assert "address already in use" in done.stderr and "Traceback" not in done.stderr
    # The work services never started: no scheduler, no processing, nothing served.
    assert "scheduler" not in done.stderr and "serving:" not in done.stderr, done.stderr


def _copies(path: Path, n: int) -> Path:
    box = mailbox.mbox(path)
    raw = (SAMPLE / "001.eml").read_bytes()
    for i in range(n):
        box.add(raw.replace(b"Message-ID: <", f"Message-ID: <copy{i}.".encode(), 1))
    box.flush()
    box.close()
    return path


def _stored_count(url: str) -> int:
    """Messages committed so far (0 while the importer is still creating the schema)."""
    try:
        return len(stored(url))
    except OperationalError:
        return 0


def test_ctrl_c_during_import_says_what_was_kept_exits_130_and_a_rerun_resumes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    source = _copies(tmp_path / "big.mbox", 3000)
    command = [*MAILBOT, "import", "--batch-size", "20", "--no-progress", str(source)]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=mailbot_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: (tmp_path / "mailbot.sqlite3").exists() and _stored_count(url) >= 40, "the first batches")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "resume" in err
    kept = int(err.split("interrupted; ")[1].split(" ")[0])
    assert kept == len(stored(url)) and 0 < kept < 3000  # what it says is what is in the store

    rerun = subprocess.run(command, cwd=tmp_path, env=mailbot_env(url), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"already stored {kept})" in rerun.stdout
    assert len(stored(url)) == 3000


def test_version_and_json_logs_without_library_chatter(tmp_path: Path) -> None:
    version = run(["--version"], tmp_path, bare_env())
    assert version.returncode == 0 and version.stdout.startswith("mailbot, version ")

    port = free_port()
    env = mailbot_env(f"sqlite:///{tmp_path / 'mailbot.sqlite3'}", smtp_listen=f"127.0.0.1:{port}")
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([*MAILBOT, "--log-format", "json", "serve"], cwd=tmp_path, env=env, stderr=sink)
    try:
        wait_for(lambda: "serving:" in log.read_text(), "serve to start")
        with socket.create_connection(("127.0.0.1", port)) as client:  # one SMTP session: aiosmtpd logs it
            client.recv(1024)
            client.sendall(b"QUIT\r\n")
            client.recv(1024)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if not line.startswith("mailbot: created database")]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("serving: smtp") for r in records)
    assert not [r for r in records if r["logger"] == "mail.log"]  # aiosmtpd's per-session lines are DEBUG


def test_status_reports_health_for_scripts(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from mailbot.store.db import make_engine
    from mailbot.store.ingest import Arrival

    from mailbot.intake.pipeline import receive

    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    missing = run(["--db", url, "status"], tmp_path, bare_env())
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    assert list(tmp_path.iterdir()) == []

    assert (
        run(["--db", url, "providers", "add", "Acme", "--email", "noc@acme.example"], tmp_path, bare_env()).returncode
        == 0
    )
    healthy = run(["--db", url, "status", "--format", "json"], tmp_path, bare_env())
    assert healthy.returncode == 0, healthy.stdout
    assert json.loads(healthy.stdout)["healthy"] is True

    # Stored at 12:00 and never processed (no serve running): at 12:10 that is a problem.
    engine = make_engine(url)
    receive(
        engine,
        Arrival(source="pipe", source_key="k1", raw=(SAMPLE / "001.eml").read_bytes(), origin="pipe"),
        datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
    )
    engine.dispose()
    lagging = run(["--db", url, "--now", "2026-11-02T12:10:00Z", "status", "--format", "json"], tmp_path, bare_env())
    assert lagging.returncode == 1
    report = json.loads(lagging.stdout)
    assert report["unprocessed_oldest_seconds"] == 600.0 and "waited 600s" in report["problems"][0]
    assert (
        run(
            ["--db", url, "--now", "2026-11-02T12:10:00Z", "status", "--max-lag", "900"], tmp_path, bare_env()
        ).returncode
        == 0
    )
