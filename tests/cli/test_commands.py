"""The commands the README names that no other test drives: demo, export, tick --until, digest --send,
review resolve. Each runs through the `mailbot` click group, as a shell would call it."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers.exports import exports_of
from helpers.paths import ROOT, SAMPLE

from mailbot.cli import main

BASE_ENV = {
    "MAILBOT_MAIL_SECRET": "test-secret",
    "MAILBOT_MAIL_DOMAIN": "desk.example",
    "MAILBOT_PATHS_SAMPLE": str(SAMPLE),
}


def mailbot(
    workdir: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True, stdin: bytes | None = None
) -> Result:
    """Run `mailbot ARGS` with outbound mail into workdir/outbox, and no ./config.toml read."""
    environ = {
        **BASE_ENV,
        "MAILBOT_OUTBOUND_MAILDIR": str(workdir / "outbox"),
        "MAILBOT_CONFIG": str(workdir / "none.toml"),
        **(env or {}),
    }
    (workdir / "none.toml").touch()
    result = CliRunner().invoke(main, list(args), env=environ, input=stdin)
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """`mailbot demo` run as the README's Quick start says, in what a fresh clone holds (its config.toml
    and sample mailbox), once for the module: (the demo's folder, its database URL, what it printed)."""
    clone = tmp_path_factory.mktemp("clone")
    shutil.copy(ROOT / "config.toml", clone / "config.toml")
    (clone / "fixtures").symlink_to(ROOT / "fixtures")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mailbot"), "demo"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (clone / "var" / "mailbot.sqlite3").exists()  # the user's own database is not touched
    folder = clone / "var" / "demo"
    return folder, f"sqlite:///{folder / 'mailbot.sqlite3'}", done.stdout


def test_demo_tells_the_story_on_a_database_of_its_own(demo: tuple[Path, str, str]) -> None:
    folder, url, output = demo
    assert "309 messages stored, 265 incidents" in output
    data = exports_of(url)
    assert len(data["incidents"]) == 265
    # Three hops upstream by email, one reading confirmed by its carrier and then settled by ops replying
    # to the digest; the silent one escalated.
    assert re.search(r"hop 2 +Lata 1 Communications Inc +answered origin", output), output
    assert 'ops replied\n   to the digest with the line it showed: forward 1 "Lata 1 Communications Inc"' in output
    assert "it asked that carrier to confirm its reading" in output and "'Sí, correcto'" in output
    assert "escalation letters 1" in output and "hops ended no_response 3" in output
    assert "mailbot --config var/demo/config.toml traceback show 1" in output
    notices = sorted(p.name for p in (folder / "notices").iterdir())
    assert any("-escalation-noc_at_silentroute" in n for n in notices)
    assert any("-ops_reply-ops_at_desk" in n for n in notices)
    assert "Top campaigns" in (folder / "digest.html").read_text()


@pytest.mark.parametrize("kind", ["incidents", "messages", "replies"])
def test_export_json_is_the_stored_rows_and_csv_holds_the_same(
    demo: tuple[Path, str, str], kind: str, tmp_path: Path
) -> None:
    _, url, _ = demo
    workdir = tmp_path
    rows = json.loads(mailbot(workdir, "--db", url, "export", kind, "--format", "json").stdout)
    assert rows == exports_of(url)[kind]
    assert rows or kind == "replies"
    out = workdir / f"{kind}.csv"
    mailbot(workdir, "--db", url, "export", kind, "--format", "csv", "-o", str(out))
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(table) == len(rows)
    for row, line in zip(rows, table, strict=True):
        # CSV cells: lists space-joined, objects (a reply's `proposed`) as JSON, None empty, numbers as digits.
        assert line == {k: _cell(v) for k, v in row.items()}


def _cell(value: object) -> str:
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _open_traceback(workdir: Path, url: str, now: str) -> int:
    mailbot(workdir, "--db", url, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    opened = mailbot(
        workdir,
        "--db",
        url,
        "--now",
        now,
        "traceback",
        "open",
        "--provider",
        "Smartbiz Telecom",
        "--campaign",
        "SSA-Suspended-SSN",
        "--call-time",
        "2026-10-30T14:05:00Z",
        "--called",
        "+12025550143",
        "--caller",
        "+16465550178",
    )
    return int(opened.stdout.strip())


def _notices(workdir: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted((workdir / "outbox" / "new").iterdir())
    ]


def test_tick_until_replays_every_step_of_a_missed_stretch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    number = _open_traceback(tmp_path, url, "2026-11-02T15:00:00Z")  # Monday 10:00 New York
    # The service was down all week: a replay runs each 15-minute step, so each day's reminder goes out
    # before the deadline ends the hop (one tick at the end would send no reminder at all).
    replayed = json.loads(
        mailbot(
            tmp_path, "--db", url, "--now", "2026-11-02T15:00:00Z", "tick", "--until", "2026-11-06T15:00:00Z"
        ).stdout
    )
    assert replayed["reminders"] == 3 and replayed["no_response"] == 1
    shown = json.loads(mailbot(tmp_path, "--db", url, "traceback", "show", str(number), "--format", "json").stdout)
    assert (shown["status"], shown["result"]) == ("closed", "no_response")
    kinds = [n["X-Mailbot-Notice"] for n in _notices(tmp_path)]
    assert kinds.count("reminder") == 3 and "non_responsive" in kinds
    # A tick at the stretch's end, as a restarted service runs, finds nothing left to do.
    again = json.loads(mailbot(tmp_path, "--db", url, "--now", "2026-11-06T15:00:00Z", "tick").stdout)
    assert set(again.values()) == {0}, again


def test_digest_send_delivers_one_digest_to_the_ops_addresses(demo: tuple[Path, str, str], tmp_path: Path) -> None:
    _, url, _ = demo
    own = tmp_path / "digest.sqlite3"
    source = url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):  # WAL mode: recent pages may not be in the main file yet
        if Path(source + suffix).exists():
            shutil.copy(source + suffix, str(own) + suffix)
    env = {"MAILBOT_OPS_EMAIL": "ops@example.com,noc-lead@example.com"}
    sent = mailbot(tmp_path, "--db", f"sqlite:///{own}", "--now", "2026-11-02T12:00:00Z", "digest", "--send", env=env)
    assert "queued <" in sent.output
    (digest,) = _notices(tmp_path)
    assert {a.addr_spec for a in digest["To"].addresses} == {"ops@example.com", "noc-lead@example.com"}
    printed = mailbot(tmp_path, "--db", f"sqlite:///{own}", "--now", "2026-11-02T12:00:00Z", "digest", "--print").stdout
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.strip() == printed.strip()


def test_review_resolve_takes_an_item_off_the_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    # A forwarded notice answers nothing: the desk files it for a human as `unmatched`.
    raw = (
        (SAMPLE / "001.eml")
        .read_bytes()
        .replace(b"Subject: Traceback Request #2640", b"Subject: Fwd: Traceback Request #2640")
    )
    mailbot(tmp_path, "--db", url, "db", "upgrade")
    mailbot(tmp_path, "--db", url, "receive", stdin=raw)
    (item,) = json.loads(mailbot(tmp_path, "--db", url, "review", "list", "--format", "json").stdout)
    assert item["kind"] == "unmatched" and not item["resolved"]
    done = mailbot(tmp_path, "--db", url, "review", "resolve", str(item["id"]))
    assert done.stdout.strip() == f"review {item['id']} resolved"
    assert json.loads(mailbot(tmp_path, "--db", url, "review", "list", "--format", "json").stdout) == []
    (after,) = json.loads(mailbot(tmp_path, "--db", url, "review", "list", "--all", "--format", "json").stdout)
    assert after["id"] == item["id"] and after["resolved"]
    missing = mailbot(tmp_path, "--db", url, "review", "resolve", "9999", ok=False)
    assert missing.exit_code != 0
