"""The durable outbox and its transports, on SQLite and PostgreSQL, with a real SMTP server."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as modern
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from helpers.paths import ROOT
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import select
from sqlmodel import col

from mailbot.cli import main
from mailbot.config import load
from mailbot.domain.timeutil import utc
from mailbot.domain.vocabulary import OutboxStatus
from mailbot.outbound import outbox
from mailbot.outbound.transport import MaildirTransport, SmtpTransport, transport_from_config

NOW = datetime(2020, 6, 26, 17, 44, tzinfo=UTC)
CALL = {
    "call_time": datetime(2020, 6, 26, 15, 34, tzinfo=UTC),
    "called": "+14072223658",
    "caller": "+14072613544",
    "campaign": "Utility-30MinDisconnect",
    "description": "Likely FRAUD.",
}


# The outbox settings of these tests: rate limit 2/hour, retries for 10 minutes.
MAIL = outbox.MailSettings.from_settings(
    load(environ={"MAILBOT_OUTBOUND_RATE_PER_HOUR": "2", "MAILBOT_OUTBOUND_RETRY_FOR": "10m"}), b"test-secret"
)


@pytest.fixture
def engine(db_url: str):
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def queue(engine, key: str, to: str = "noc@smartbiztel.com", hop_id: int = 1, now: datetime = NOW) -> bool:
    with session_scope(engine) as session:
        return outbox.enqueue(
            session,
            dedupe_key=key,
            kind="request",
            to=[to],
            now=now,
            traceback_id=2640,
            hop_id=hop_id,
            context={"call": CALL, "provider_name": "Smartbiz"},
            reply_to="traceback+1-0123456789abcdef0123@mailbot.localhost",
            mail=MAIL,
        )


def rows(engine) -> list[OutboxMessage]:
    with session_scope(engine) as session:
        return list(session.execute(select(OutboxMessage).order_by(col(OutboxMessage.id))).scalars().all())


def delivered(maildir: Path) -> list[Path]:
    return sorted((maildir / "new").iterdir()) if (maildir / "new").exists() else []


# --- exactly once --------------------------------------------------------------


def test_enqueue_is_exactly_once_per_dedupe_key(engine, tmp_path: Path) -> None:
    assert queue(engine, "hop:1:request:0") is True
    assert queue(engine, "hop:1:request:0") is False  # a second decision to send the same notice
    assert queue(engine, "hop:1:reminder:1") is True  # another (hop, kind, sequence) is another notice
    maildir = tmp_path / "outbox"
    assert outbox.deliver_pending(engine, MaildirTransport(maildir), NOW, mail=MAIL) == 2
    assert outbox.deliver_pending(engine, MaildirTransport(maildir), NOW + timedelta(days=1), mail=MAIL) == 0
    assert len(delivered(maildir)) == 2
    assert [r.status for r in rows(engine)] == [OutboxStatus.SENT, OutboxStatus.SENT]
    first = message_from_bytes(delivered(maildir)[0].read_bytes(), policy=modern)
    assert "[Traceback #2640]" in str(first["Subject"])


def test_enqueue_belongs_to_the_callers_transaction(engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        outbox.enqueue(
            session,
            dedupe_key="hop:1:request:0",
            kind="request",
            to=["noc@smartbiztel.com"],
            now=NOW,
            traceback_id=2640,
            context={"call": CALL},
            mail=MAIL,
        )
        raise RuntimeError("the state change failed")
    assert rows(engine) == []
    assert queue(engine, "hop:1:request:0") is True  # the key is free: nothing was recorded


def test_bad_recipient_is_a_clear_error_and_records_nothing(engine) -> None:
    with pytest.raises(ValueError, match="not a single email address"), session_scope(engine) as session:
        outbox.enqueue(
            session,
            dedupe_key="k",
            kind="request",
            to=["not an address"],
            now=NOW,
            context={"call": CALL, "traceback_id": 1},
            mail=MAIL,
        )
    assert rows(engine) == []


def test_enqueue_message_records_a_prebuilt_message_once(engine, tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = (
        "Desk <d@mailbot.localhost>",
        "ops@a.example, Ops Two <ops2@b.example>",
        "Digest",
    )
    msg["Message-ID"] = "<digest-1@mailbot.localhost>"
    msg.set_content("today")
    with session_scope(engine) as session:
        assert outbox.enqueue_message(session, dedupe_key="digest:2020-06-26", kind="digest", msg=msg, now=NOW)
        assert not outbox.enqueue_message(session, dedupe_key="digest:2020-06-26", kind="digest", msg=msg, now=NOW)
    (row,) = rows(engine)
    assert (row.sender, row.recipients, row.message_id) == (
        "d@mailbot.localhost",
        ["ops@a.example", "ops2@b.example"],
        "<digest-1@mailbot.localhost>",
    )
    assert outbox.deliver_pending(engine, MaildirTransport(tmp_path / "outbox"), NOW, mail=MAIL) == 1
    del msg["Message-ID"]
    with pytest.raises(ValueError, match="Message-ID"), session_scope(engine) as session:
        outbox.enqueue_message(session, dedupe_key="digest:2", kind="digest", msg=msg, now=NOW)


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime, UTC
    from mailbot.outbound import outbox
    from mailbot.config import load
    from mailbot.outbound.transport import MaildirTransport
    from mailbot.store.db import make_engine, session_scope

    url, maildir, stage = sys.argv[1:4]
    mail = outbox.MailSettings.from_settings(load(environ={}), b"test-secret")
    engine = make_engine(url)
    now = datetime(2020, 6, 26, 17, 44, tzinfo=UTC)
    call = {"call_time": now, "called": "+14072223658", "caller": "+14072613544", "campaign": "C", "description": "D"}
    if stage == "recorded":
        with session_scope(engine) as session:
            outbox.enqueue(session, dedupe_key="hop:1:request:0", kind="request", to=["noc@smartbiztel.com"],
                           now=now, traceback_id=2640, context={"call": call}, mail=mail)
        print("recorded", flush=True)
        time.sleep(600)  # killed here, before any delivery
    else:
        class Stalling(MaildirTransport):
            def send(self, raw, **kw):
                super().send(raw, **kw)
                print("delivered", flush=True)
                time.sleep(600)  # killed here, after delivery, before the row is marked sent
        outbox.deliver_pending(engine, Stalling(maildir), now, mail=mail)
""")


def _run_until_killed(db_url: str, maildir: Path, stage: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(maildir), stage], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == stage
    finally:
        child.kill()  # SIGKILL: no cleanup, no rollback handlers
        child.wait()


def test_kill_9_between_recording_and_sending_then_one_copy(db_url: str, engine, tmp_path: Path) -> None:
    maildir = tmp_path / "outbox"
    _run_until_killed(db_url, maildir, "recorded")
    assert [r.status for r in rows(engine)] == [OutboxStatus.QUEUED]
    assert delivered(maildir) == []
    # The next run delivers it; a second process killed mid-send leaves it delivered but unmarked.
    _run_until_killed(db_url, maildir, "delivered")
    assert len(delivered(maildir)) == 1
    assert [r.status for r in rows(engine)] == [OutboxStatus.SENDING]
    # While the sender's lease runs, nobody else sends it; after it, a re-run finishes the job.
    assert outbox.deliver_pending(engine, MaildirTransport(maildir), NOW, mail=MAIL) == 0
    assert outbox.deliver_pending(engine, MaildirTransport(maildir), NOW + outbox.SEND_LEASE, mail=MAIL) == 1
    assert [r.status for r in rows(engine)] == [OutboxStatus.SENT]
    assert len(delivered(maildir)) == 1  # Maildir delivery is keyed by Message-ID: still one copy


def test_maildir_delivery_is_idempotent_even_after_a_reader_moved_it(tmp_path: Path) -> None:
    maildir = MaildirTransport(tmp_path / "md")
    maildir.send(b"Subject: x\n\nbody\n", sender="a@b", recipients=["c@d"], message_id="<1@x>")
    (only,) = delivered(tmp_path / "md")
    only.rename(tmp_path / "md" / "cur" / (only.name + ":2,S"))  # what a mail reader does when it reads it
    maildir.send(b"Subject: x\n\nbody\n", sender="a@b", recipients=["c@d"], message_id="<1@x>")
    assert delivered(tmp_path / "md") == []
    maildir.send(b"Subject: y\n\nbody\n", sender="a@b", recipients=["c@d"], message_id="<2@x>")
    assert len(delivered(tmp_path / "md")) == 1


# --- rate limit ------------------------------------------------------------------


def test_rate_limit_defers_and_never_drops(engine, tmp_path: Path) -> None:
    maildir = tmp_path / "outbox"
    transport = MaildirTransport(maildir)
    for n in range(3):
        queue(engine, f"hop:{n}:request:0", to="NOC@smartbiztel.com", hop_id=n)
    queue(engine, "hop:9:request:0", to="abuse@other.example", hop_id=9)
    assert (
        outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 3
    )  # 2 to the busy address (the limit), 1 elsewhere
    waiting = [r for r in rows(engine) if r.status == OutboxStatus.QUEUED]
    assert len(waiting) == 1 and waiting[0].recipients == ["NOC@smartbiztel.com"]
    assert "rate limit" in (waiting[0].last_error or "")
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(minutes=59), mail=MAIL) == 0
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(minutes=60), mail=MAIL) == 1
    assert [r.status for r in rows(engine)] == [OutboxStatus.SENT] * 4
    assert len(delivered(maildir)) == 4


# --- SMTP against a real aiosmtpd server -----------------------------------------


class Recorder:
    """aiosmtpd handler: answers DATA from a script of replies, then 250; keeps what it accepted."""

    def __init__(self, replies: list[str] | None = None) -> None:
        self.replies = list(replies or [])
        self.accepted: list[tuple[str, list[str], bytes]] = []
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.accepted.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"desk", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Recorder, SmtpTransport]]:
    """A relay that insists on STARTTLS and AUTH, and a transport configured to use both."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    handler = Recorder()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    transport = SmtpTransport(
        host="127.0.0.1",
        port=controller.port,
        starttls=True,
        username="desk",
        password="s3cret",
        timeout=10,
        ssl_context=ssl.create_default_context(cafile=str(cert)),
    )
    yield handler, transport
    controller.stop()


def test_smtp_with_starttls_and_auth_delivers(engine, smtp_server) -> None:
    handler, transport = smtp_server
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 1
    ((mail_from, rcpt_tos, content),) = handler.accepted
    # MAIL FROM is the message's own signed return path (VERP), which a bounce must come back to.
    (row,) = rows(engine)
    assert row.id is not None
    assert mail_from == MAIL.return_path(row.id) and rcpt_tos == ["noc@smartbiztel.com"]
    assert mail_from.startswith(f"bounces+{row.id}-") and mail_from.endswith("@mailbot.localhost")
    sent = message_from_bytes(content, policy=modern)
    assert sent["Message-ID"].strip() == row.message_id
    assert sent["Auto-Submitted"] == "auto-generated"


def test_smtp_transport_from_config(engine, smtp_server, certificate, tmp_path: Path) -> None:
    handler, configured = smtp_server
    config = load(
        environ={
            "MAILBOT_OUTBOUND_MODE": "smtp",
            "MAILBOT_OUTBOUND_HOST": "127.0.0.1",
            "MAILBOT_OUTBOUND_PORT": str(configured.port),
            "MAILBOT_OUTBOUND_USERNAME": "desk",
            "MAILBOT_OUTBOUND_PASSWORD": "s3cret",
            "MAILBOT_OUTBOUND_CAFILE": str(certificate[0]),
        }
    )
    transport = transport_from_config(config)
    assert isinstance(transport, SmtpTransport) and transport.starttls
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 1 and len(handler.accepted) == 1
    default = load(environ={"MAILBOT_OUTBOUND_MAILDIR": str(tmp_path / "md")})
    assert isinstance(transport_from_config(default), MaildirTransport)  # the default mode
    with pytest.raises(ValueError, match="mode must be"):
        transport_from_config(load(environ={"MAILBOT_OUTBOUND_MODE": "carrier-pigeon"}))


def test_smtp_wrong_password_keeps_the_mail_queued(engine, smtp_server) -> None:
    handler, transport = smtp_server
    transport.password = "wrong"
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 0
    (row,) = rows(engine)
    assert row.status == OutboxStatus.QUEUED and "authentication" in (row.last_error or "")
    assert handler.accepted == []


def test_smtp_4xx_retries_with_backoff_then_succeeds(engine, smtp_server) -> None:
    handler, transport = smtp_server
    handler.replies = ["451 4.3.0 Try again later", "421 4.7.0 Busy"]
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 0
    (row,) = rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 1) and "451" in (row.last_error or "")
    assert utc(row.next_attempt_at) == NOW + outbox.BACKOFF_FIRST
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(seconds=59), mail=MAIL) == 0  # not due yet
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(minutes=1), mail=MAIL) == 0  # 421
    (row,) = rows(engine)
    assert utc(row.next_attempt_at) == NOW + timedelta(minutes=1) + 2 * outbox.BACKOFF_FIRST  # doubled
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(minutes=3), mail=MAIL) == 1
    assert handler.attempts == 3 and len(handler.accepted) == 1
    assert rows(engine)[0].status == OutboxStatus.SENT


def test_smtp_5xx_fails_permanently_without_retry(engine, smtp_server) -> None:
    handler, transport = smtp_server
    handler.replies = ["554 5.7.1 Message rejected as spam"]
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 0
    assert outbox.deliver_pending(engine, transport, NOW + timedelta(days=1), mail=MAIL) == 0
    (row,) = rows(engine)
    assert row.status == OutboxStatus.FAILED and "554 5.7.1 Message rejected as spam" in (row.last_error or "")
    assert handler.attempts == 1 and handler.accepted == []


def test_temporary_failures_give_up_after_retry_for(engine, smtp_server) -> None:
    handler, transport = smtp_server
    handler.replies = ["451 4.3.0 Try again later"] * 2
    queue(engine, "hop:1:request:0")
    assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 0
    assert (
        outbox.deliver_pending(engine, transport, NOW + timedelta(minutes=10), mail=MAIL) == 0
    )  # retry_for is 10m here
    (row,) = rows(engine)
    assert row.status == OutboxStatus.FAILED and (row.last_error or "").startswith("gave up after 2 attempts")
    assert handler.accepted == []


def test_unreachable_relay_is_temporary(engine) -> None:
    queue(engine, "hop:1:request:0")
    closed = SmtpTransport(host="127.0.0.1", port=_free_port(), starttls=False, timeout=5)
    assert outbox.deliver_pending(engine, closed, NOW, mail=MAIL) == 0
    (row,) = rows(engine)
    assert row.status == OutboxStatus.QUEUED and row.last_error and row.last_error.startswith("temporary")


# --- concurrency and the CLI ---------------------------------------------------------


def test_two_senders_at_once_send_each_notice_once(engine, tmp_path: Path) -> None:
    for n in range(12):
        queue(engine, f"hop:{n}:request:0", to=f"noc{n}@carrier{n}.example", hop_id=n)
    sends: list[str] = []
    # Each sender's first send waits for the other's: both hold a claimed notice at the same moment,
    # so the claim itself (not luck in timing) must keep them apart.
    both_inside, waited = threading.Barrier(2, timeout=60), set()

    class Counting(MaildirTransport):
        def send(self, raw: bytes, **kw) -> None:
            sends.append(kw["message_id"])
            if threading.get_ident() not in waited:
                waited.add(threading.get_ident())
                both_inside.wait()
            super().send(raw, **kw)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            outbox.deliver_pending(engine, Counting(tmp_path / "outbox"), NOW, mail=MAIL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(sends) == sorted(set(sends)) and len(sends) == 12
    assert all(r.status == OutboxStatus.SENT for r in rows(engine))


def test_cli_lists_and_sends(db_url: str, engine, tmp_path: Path) -> None:
    queue(engine, "hop:1:request:0")
    env = {"MAILBOT_OUTBOUND_MAILDIR": str(tmp_path / "cli-outbox"), "MAILBOT_MAIL_SECRET": "x"}
    runner = CliRunner()
    listed = runner.invoke(main, ["--db", db_url, "outbox", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "queued" in listed.output and "noc@smartbiztel.com" in listed.output
    sent = runner.invoke(main, ["--db", db_url, "--now", NOW.isoformat(), "outbox", "send"], env=env)
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.startswith("sent 1;")
    assert len(delivered(tmp_path / "cli-outbox")) == 1
    as_json = runner.invoke(main, ["--db", db_url, "outbox", "list", "--format", "json", "--status", "sent"], env=env)
    assert '"status": "sent"' in as_json.output


def test_a_relay_whose_certificate_is_not_trusted_gets_nothing(engine, smtp_server, tmp_path: Path) -> None:
    """STARTTLS to a relay with a self-signed certificate not in cafile: refused, nothing sent, kept queued."""
    handler, trusted = smtp_server
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(other / "key.pem"),
            "-out",
            str(other / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    config = load(
        environ={
            "MAILBOT_OUTBOUND_MODE": "smtp",
            "MAILBOT_OUTBOUND_HOST": "127.0.0.1",
            "MAILBOT_OUTBOUND_PORT": str(trusted.port),
            "MAILBOT_OUTBOUND_USERNAME": "desk",
            "MAILBOT_OUTBOUND_PASSWORD": "s3cret",
            "MAILBOT_OUTBOUND_CAFILE": str(other / "cert.pem"),
        }
    )
    system_cas = SmtpTransport(
        host="127.0.0.1", port=trusted.port, starttls=True, username="desk", password="s3cret", timeout=10
    )
    for n, transport in enumerate((transport_from_config(config), system_cas)):
        queue(engine, f"hop:1:request:{n}")  # a fresh notice each, so no backoff hides the second try
        assert outbox.deliver_pending(engine, transport, NOW, mail=MAIL) == 0
        row = rows(engine)[-1]
        assert row.status != OutboxStatus.SENT and "certificate" in (row.last_error or "").lower(), row.last_error
    assert handler.accepted == []
