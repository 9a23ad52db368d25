"""A real Postfix, configured with deploy/postfix/*, delivering to `mailbot receive` through its pipe.

Postfix acts on the pipe's exit code: 0 delivered, EX_TEMPFAIL deferred and retried,
anything else bounced (EX_CONFIG too: so receive exits EX_TEMPFAIL for a wrong config).
These tests check the shipped files and those codes end to end: stored and processed when
all is well; deferred, kept and delivered by a retry once the database is back.
"""

from __future__ import annotations

import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.mailbot_proc import free_port, stored, wait_for
from helpers.paths import SAMPLE
from helpers.postfix import PIPE_USER, Postfix, mailbot_for

DOMAIN = "mailbot.localhost"
RECIPIENT = f"traceback@{DOMAIN}"


@pytest.fixture
def site() -> Iterator[Path]:
    """What /etc/mailbot and /var/lib/mailbot are on a server: a directory the pipe's user may write."""
    path = Path(tempfile.mkdtemp(prefix="mailbot-site-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def postfix(site: Path) -> Iterator[Postfix]:
    instance = Postfix(DOMAIN, mailbot_for(PIPE_USER, site), config=site / "config.toml")
    yield instance
    instance.stop()


def configure(site: Path, database_url: str) -> Path:
    config = site / "config.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n[mail]\ndomain = "{DOMAIN}"\nsecret = "test-secret"\n\n'
        f'[outbound]\nmaildir = "{site / "outbox"}"\n'
    )
    config.chmod(0o644)
    return config


def send(postfix: Postfix, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
        smtp.sendmail("noc@carrier.example", [RECIPIENT], raw)


def sqlite_url(site: Path) -> str:
    return f"sqlite:///{site / 'mailbot.sqlite3'}"


def test_postfix_pipes_a_message_to_receive_which_stores_and_processes_it(site: Path, postfix: Postfix) -> None:
    configure(site, sqlite_url(site))
    raw = (SAMPLE / "001.eml").read_bytes()
    send(postfix, raw)
    wait_for(postfix.deliveries, "Postfix's delivery to the mailbot pipe")
    assert postfix.deliveries() == ["sent"], postfix.maillog()
    rows = stored(sqlite_url(site))
    assert [(origin, status) for origin, _, status in rows] == [("pipe", "parsed")]
    # The pipe's --sender/--recipient are recorded, ahead of what Postfix received.
    assert rows[0][1].startswith(f"Return-Path: <noc@carrier.example>\nDelivered-To: {RECIPIENT}\n".encode())
    assert raw.split(b"\n\n", 1)[1].strip() in rows[0][1]
    assert wait_for(lambda: postfix.queue() == [], "Postfix's queue to empty")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("database down", "cannot connect to the database"),
        ("database URL invalid", "url must be a database URL"),
        ("config file missing", "config file not found"),
    ],
)
def test_a_failing_receive_makes_postfix_defer_then_a_retry_delivers(
    site: Path, postfix: Postfix, failure: str, reason: str
) -> None:
    if failure == "database down":
        configure(site, f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=5")
    elif failure == "database URL invalid":
        configure(site, "notaurl")
    send(postfix, (SAMPLE / "001.eml").read_bytes())
    wait_for(postfix.deliveries, "Postfix's first delivery attempt")
    assert postfix.deliveries() == ["deferred"], postfix.maillog()
    # qmgr moves the message from the active to the deferred queue just after the pipe returns.
    [held] = wait_for(lambda: [m for m in postfix.queue() if m["queue_name"] == "deferred"], "the deferred queue")
    assert len(postfix.queue()) == 1
    assert reason in held["recipients"][0]["delay_reason"], held
    assert not (site / "mailbot.sqlite3").exists()  # nothing was created by the failed run

    configure(site, sqlite_url(site))  # the administrator fixes it
    postfix.flush()
    wait_for(lambda: postfix.deliveries()[-1:] == ["sent"], "Postfix's retry to be delivered")
    assert postfix.deliveries() == ["deferred", "sent"]
    assert [(origin, status) for origin, _, status in stored(sqlite_url(site))] == [("pipe", "parsed")]
    assert wait_for(lambda: postfix.queue() == [], "Postfix's queue to empty")
