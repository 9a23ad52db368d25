"""One INFO line per decision, with its ids: message stored, processed, notice queued and sent,
review opened. Real `mailbot` processes, mail over SMTP to a real `serve`."""

from __future__ import annotations

import re
import smtplib
import subprocess
from pathlib import Path

from helpers.mailbot_proc import MAILBOT, Server, mailbot_env, wait_for

SETTINGS = {"mail_secret": "s", "schedule_enabled": "false"}


def cli(args: list[str], url: str, tmp_path: Path, outbox: Path) -> subprocess.CompletedProcess[str]:
    env = mailbot_env(url, outbound_maildir=str(outbox), **SETTINGS)
    done = subprocess.run([*MAILBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_each_decision_is_one_info_line_with_its_ids(tmp_path: Path) -> None:
    url, outbox = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}", tmp_path / "outbox"
    cli(["providers", "add", "Acme Telecom", "--email", "noc@acme.example"], url, tmp_path, outbox)
    opened = cli(
        [
            "traceback",
            "open",
            "--provider",
            "Acme Telecom",
            "--campaign",
            "Tax-Debt",
            "--call-time",
            "2026-10-30T14:05:00Z",
            "--called",
            "+12025550143",
            "--caller",
            "+18885550100",
        ],
        url,
        tmp_path,
        outbox,
    )
    traceback_id = int(opened.stdout.strip())
    queued = re.search(
        r"INFO mailbot\.outbound\.outbox: queued notice (\d+) \((\w+); traceback (\d+), hop (\d+)\) to (\S+)",
        opened.stderr,
    )
    assert queued, opened.stderr
    assert (queued[2], int(queued[3]), queued[5]) == ("first_contact", traceback_id, "noc@acme.example")

    server = Server(url, tmp_path, outbound_maildir=str(outbox), **SETTINGS)
    try:
        # The outbox sends what the command queued: one line naming the same notice.
        wait_for(lambda: f"sent notice {queued[1]} (first_contact" in server.output(), "the notice sent")
        # A stray message from a stranger: stored, processed, and a review opened for a person.
        stray = (
            b"From: someone@stranger.example\r\nTo: traceback@mailbot.localhost\r\n"
            b"Subject: about a call\r\nMessage-ID: <stray-1@stranger.example>\r\n\r\nWho are you?\r\n"
        )
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
            client.sendmail("someone@stranger.example", ["traceback@mailbot.localhost"], stray)
        wait_for(lambda: "processed message" in server.output(), "the message processed")
        assert server.terminate() == 0
        log = server.output()
    finally:
        server.close()
    stored = re.search(r"INFO mailbot\.intake\.pipeline: stored message (\d+) \(smtp [0-9a-f]{32}, \d+ bytes\)", log)
    assert stored, log
    message = stored[1]
    assert re.search(
        rf"INFO mailbot\.intake\.pipeline: processed message {message}: parsed, \w+, disposition [\w-]+", log
    ), log
    assert re.search(
        rf"INFO mailbot\.desk\.workflow: opened review \d+ \(\w+; traceback None, hop None, message {message}\)", log
    ), log
    # One line per decision: the SMTP session's own "stored" line and the batch count stay below INFO.
    assert len(re.findall(rf"stored message {message} ", log)) == 1
    assert "smtp: stored" not in log and "message(s)" not in log
