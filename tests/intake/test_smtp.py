"""SMTP intake over real sockets against a real `mailbot serve` process."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers.mailbot_proc import Server, crlf, message, stored, wait_for
from helpers.paths import PG_ADMIN_URL, SAMPLE
from mailbot.store.db import create_schema, make_engine
from mailbot.store.ingest import Arrival
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from mailbot.intake.pipeline import receive

OURS = "tb+2640@mailbot.localhost"
SENDER = "noc@carrier.example"


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running afterwards are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def start(servers: list[Server], db_url: str, workdir: Path, **settings: str) -> Server:
    server = Server(db_url, workdir, **settings)
    servers.append(server)
    return server


def all_processed(db_url: str, count: int) -> bool:
    rows = stored(db_url)
    return len(rows) == count and all(status != "new" for _, _, status in rows)


def send(port: int, raw: bytes, rcpt: str = OURS) -> tuple[int, bytes]:
    """One message in its own session; the server's final reply to it."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo()
        client.mail(SENDER)
        code, reply = client.rcpt(rcpt)
        if code != 250:
            return code, reply
        return client.data(raw)


def test_accepts_mail_for_our_domains_stores_it_then_processes_it(
    db_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    server = start(servers, db_url, tmp_path, mail_domains="replies.example")
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        for name, rcpt in (
            ("001.eml", OURS),
            ("002.eml", "Traceback@MAILBOT.localhost"),
            ("006.eml", "desk+x@replies.example"),
        ):
            assert client.sendmail(SENDER, [rcpt], crlf((SAMPLE / name).read_bytes())) == {}
    wait_for(lambda: all_processed(db_url, 3), "three processed messages")
    rows = stored(db_url)
    assert [origin for origin, _, _ in rows] == ["smtp"] * 3
    # The envelope survives in the raw bytes: who sent it, and which plus-address it was for.
    assert rows[0][1].startswith(f"Return-Path: <{SENDER}>\r\nDelivered-To: {OURS}\r\n".encode())
    assert rows[0][1].endswith(crlf((SAMPLE / "001.eml").read_bytes()))
    assert [status for _, _, status in rows] == ["parsed", "parsed", "parsed"]


def test_refuses_relaying_and_stores_nothing(tmp_path: Path, sqlite_url: str, servers: list[Server]) -> None:
    server = start(servers, sqlite_url, tmp_path)
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        client.mail(SENDER)
        for rcpt in ("victim@elsewhere.example", "tb@mailbot.localhost.evil.example", "tb@sub.mailbot.localhost"):
            code, reply = client.rcpt(rcpt)
            assert (code, reply[:5]) == (550, b"5.7.1"), rcpt
            assert b"Relaying denied" in reply
        assert client.rcpt("no-domain")[0] == 501
        with pytest.raises(smtplib.SMTPDataError) as refused:  # no valid recipient: no transaction
            client.data(message(1))
        assert refused.value.smtp_code == 503
    assert stored(sqlite_url) == []


def test_refuses_oversize_messages_with_552(tmp_path: Path, sqlite_url: str, servers: list[Server]) -> None:
    server = start(servers, sqlite_url, tmp_path, smtp_max_size="20000")
    big = message(1, size=30000)
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        assert client.esmtp_features["size"] == "20000"
        # Announced too big in MAIL FROM: refused before any data is sent.
        assert client.mail(SENDER, [f"SIZE={len(big)}"])[0] == 552
        client.rset()
        # Not announced: the data is read and refused at its end.
        client.mail(SENDER)
        client.rcpt(OURS)
        code, _reply = client.data(big)
        assert code == 552
        assert client.sendmail(SENDER, [OURS], message(2)) == {}  # the session goes on
    wait_for(lambda: all_processed(sqlite_url, 1), "the small message processed")
    assert [b"<t-2@carrier.example>" in raw for _, raw, _ in stored(sqlite_url)] == [True]


def test_times_out_idle_and_slow_clients(tmp_path: Path, sqlite_url: str, servers: list[Server]) -> None:
    server = start(servers, sqlite_url, tmp_path, smtp_timeout="1")
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        idle.settimeout(30)
        assert idle.recv(1024).startswith(b"220")
        assert idle.recv(1024) == b""  # said nothing: the server hung up
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.settimeout(30)
        slow.recv(1024)
        slow.sendall(b"EHLO slow\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<tb@mailbot.localhost>\r\nDATA\r\n")
        received = b""
        while b"354" not in received:
            received += slow.recv(1024)
        slow.sendall(b"Subject: slow\r\n")  # then never finishes the message
        while chunk := slow.recv(1024):
            received += chunk
        assert b"250 " not in received.split(b"354", 1)[1]
    assert stored(sqlite_url) == []


def test_starttls_when_a_certificate_is_configured(tmp_path: Path, sqlite_url: str, servers: list[Server]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
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
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = start(servers, sqlite_url, tmp_path, smtp_tls_cert=str(cert), smtp_tls_key=str(key))
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=_trusting(cert))
        assert client.sendmail(SENDER, [OURS], message(1)) == {}
    wait_for(lambda: all_processed(sqlite_url, 1), "the message sent over TLS")


def _trusting(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the throwaway certificate names localhost, we dial 127.0.0.1
    return context


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own, which the test can make unreachable."""
    name = "mailbot_smtp_" + uuid.uuid4().hex[:8]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:
        import os

        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


def set_reachable(url: str, reachable: bool) -> None:
    """Refuse (or allow again) every connection to the database, cutting the open ones."""
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if reachable else 'false'}")
        if not reachable:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    admin.dispose()


def test_answers_451_while_the_store_is_down_and_250_once_it_is_back(
    tmp_path: Path, own_pg_database: str, servers: list[Server]
) -> None:
    server = start(servers, own_pg_database, tmp_path)
    assert send(server.port, message(1))[0] == 250
    set_reachable(own_pg_database, False)
    code, reply = send(server.port, message(2))
    assert (code, reply[:5]) == (451, b"4.3.0")  # temporary: the sender keeps it and retries
    set_reachable(own_pg_database, True)
    assert send(server.port, message(2))[0] == 250
    wait_for(lambda: all_processed(own_pg_database, 2), "both messages processed")
    assert server.proc.poll() is None  # the outage did not take the service down


def test_many_concurrent_clients_all_stored_once(db_url: str, tmp_path: Path, servers: list[Server]) -> None:
    server = start(servers, db_url, tmp_path)
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda n: send(server.port, message(n, "c"))[0], range(80)))
    assert replies == [250] * 80
    wait_for(lambda: all_processed(db_url, 80), "80 processed messages")
    raws = [raw for _, raw, _ in stored(db_url)]
    assert sorted(n for n in range(80) for raw in raws if f"<c-{n}@".encode() in raw) == list(range(80))


def test_kill_9_during_a_burst_loses_nothing_acknowledged_and_restart_processes_it(
    db_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    server = start(servers, db_url, tmp_path, serve_poll_interval="3600")
    acknowledged: set[int] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def client(first: int) -> None:
        for n in range(first, first + 50):
            try:
                code, _ = send(server.port, message(n, "k"))
            except (OSError, smtplib.SMTPException):
                return  # the server died under us: this one was never acknowledged
            if code == 250:
                with lock:
                    acknowledged.add(n)
                    if len(acknowledged) >= 40:
                        enough.set()

    threads = [threading.Thread(target=client, args=(i * 50,)) for i in range(8)]
    for t in threads:
        t.start()
    enough.wait(120)
    server.kill()
    for t in threads:
        t.join()
    raws = [raw for _, raw, _ in stored(db_url)]
    in_store = {n for n in range(400) for raw in raws if f"<k-{n}@".encode() in raw}
    assert len(acknowledged) >= 40
    assert acknowledged <= in_store
    assert len(in_store) < 400, "the kill came after the burst; it proved nothing"
    # Started again, the service processes what the dead one stored but never processed.
    start(servers, db_url, tmp_path)
    wait_for(lambda: all_processed(db_url, len(raws)), "every stored message processed after restart")


def test_restart_processes_messages_stored_but_not_processed(
    tmp_path: Path, sqlite_url: str, servers: list[Server]
) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    now = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    for name in ("001.eml", "002.eml"):
        receive(engine, Arrival("smtp", name, (SAMPLE / name).read_bytes(), origin="smtp"), now)
    engine.dispose()
    assert [status for _, _, status in stored(sqlite_url)] == ["new", "new"]
    start(servers, sqlite_url, tmp_path, serve_poll_interval="3600")  # only the start-up pass can do it
    wait_for(lambda: all_processed(sqlite_url, 2), "both processed at start")


def test_sigterm_finishes_the_open_session_and_its_processing_then_exits_0(
    tmp_path: Path, sqlite_url: str, servers: list[Server]
) -> None:
    server = start(servers, sqlite_url, tmp_path, serve_poll_interval="3600")
    client = smtplib.SMTP("127.0.0.1", server.port)
    client.ehlo()
    client.mail(SENDER)
    client.rcpt(OURS)
    server.proc.send_signal(15)
    # No longer accepting new connections...
    wait_for(lambda: _refused(server.port), "the listener closed")
    # ...but the open session is finished, and its message processed before exit.
    assert client.data(message(1))[0] == 250
    client.quit()
    assert server.proc.wait(60) == 0, server.output()
    assert [status for _, _, status in stored(sqlite_url)] == ["parsed"]
    assert "stopped cleanly" in server.output()


def test_sigterm_hangs_up_a_session_still_open_past_the_grace_then_exits_0(
    tmp_path: Path, sqlite_url: str, servers: list[Server]
) -> None:
    server = start(servers, sqlite_url, tmp_path, smtp_shutdown_grace="0")
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=60)
    client.ehlo()  # a session that never ends by itself
    server.proc.send_signal(15)
    assert server.proc.wait(60) == 0, server.output()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    assert "stopped cleanly" in server.output()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:  # a probe caught in the listener's closing (reset, timeout): look again
        return False


def test_serve_refuses_to_start_without_its_database(tmp_path: Path) -> None:
    from helpers.mailbot_proc import MAILBOT, free_port, mailbot_env

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=5"
    done = subprocess.run(
        [*MAILBOT, "serve"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        env=mailbot_env(url, smtp_listen=f"127.0.0.1:{free_port()}"),
    )
    assert done.returncode == 1
    assert b"cannot open the database" in done.stderr


def test_sessions_open_at_once_are_all_served(sqlite_url: str, tmp_path: Path, servers: list[Server]) -> None:
    """Eight clients hold their sessions open together (a barrier after RCPT) before any sends its data:
    a server taking one session at a time never lets all eight reach the barrier."""
    server = start(servers, sqlite_url, tmp_path)
    together = threading.Barrier(8, timeout=60)

    def client(n: int) -> int:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as smtp:
            smtp.ehlo()
            smtp.mail(SENDER)
            assert smtp.rcpt(OURS)[0] == 250
            together.wait()  # all eight sessions are open on the server now
            return smtp.data(message(n, "b"))[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(client, range(8))) == [250] * 8
    wait_for(lambda: all_processed(sqlite_url, 8), "8 processed messages")
