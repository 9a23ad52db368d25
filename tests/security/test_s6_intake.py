"""Issue 12 §6: intake cannot be exhausted.

Limits are set small through the environment (MAILBOT_SMTP_*), so a handful of
sockets reaches them; past a limit the answer is a 4xx reply at once, never a stall.
"""

from __future__ import annotations

import smtplib
import socket
import threading
from pathlib import Path

from helpers.mailbot_proc import wait_for

from .security_desk import DOMAIN, Desk

RCPT = f"traceback@{DOMAIN}"


def _greeting(port: int) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock, sock.recv(512)


def test_recipients_past_the_limit_get_452(desk: Desk) -> None:
    with smtplib.SMTP("127.0.0.1", desk.port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("noc@smartbiz.example")
        codes = [smtp.rcpt(f"traceback+{n}@{DOMAIN}")[0] for n in range(101)]
    assert codes[:100] == [250] * 100
    assert codes[100] == 452


def test_sessions_per_client_past_the_limit_get_421(make_desk: object) -> None:
    desk: Desk = make_desk(smtp_max_sessions_per_client="3")  # type: ignore[operator]
    opened = [_greeting(desk.port) for _ in range(3)]
    try:
        assert all(greeting.startswith(b"220") for _, greeting in opened)
        extra, greeting = _greeting(desk.port)
        extra.close()
        assert greeting.startswith(b"421"), greeting
    finally:
        for sock, _ in opened:
            sock.close()
    # Once they are gone, the client is welcome again.
    with smtplib.SMTP("127.0.0.1", desk.port, timeout=30) as smtp:
        assert smtp.noop()[0] == 250


def test_sessions_past_the_limit_get_421(make_desk: object) -> None:
    desk: Desk = make_desk(smtp_max_sessions="4", smtp_max_sessions_per_client="100")  # type: ignore[operator]
    opened = [_greeting(desk.port) for _ in range(4)]
    try:
        extra, greeting = _greeting(desk.port)
        extra.close()
        assert greeting.startswith(b"421"), greeting
    finally:
        for sock, _ in opened:
            sock.close()


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_messages_are_spooled_not_held_in_memory(desk: Desk) -> None:
    assert desk.server is not None
    size, senders = 8 * 1024 * 1024, 6
    body = b"x" * 76 + b"\r\n"
    raw = (f"From: noc@smartbiz.example\r\nTo: {RCPT}\r\nSubject: big\r\n\r\n").encode() + body * (size // 78)
    before = _peak_rss_kb(desk.server.proc.pid)
    barrier = threading.Barrier(senders)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", desk.port, timeout=600) as smtp:
                smtp.ehlo()
                smtp.mail("noc@smartbiz.example")
                smtp.rcpt(RCPT)
                barrier.wait()
                smtp.data(raw.replace(b"Subject: big", f"Subject: big {n}".encode()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    grown_mb = (_peak_rss_kb(desk.server.proc.pid) - before) / 1024
    # Held in memory, six 8 MB messages cost several times 48 MB; spooled, far less than their sum.
    assert grown_mb < senders * size / 2**20, f"peak RSS grew {grown_mb:.0f} MB"


def test_running_out_of_descriptors_logs_one_line(make_desk: object) -> None:
    desk: Desk = make_desk(nofile=100, smtp_max_sessions="1000", smtp_max_sessions_per_client="1000")  # type: ignore[operator]
    assert desk.server is not None
    opened = []
    try:
        for _ in range(250):
            try:
                opened.append(socket.create_connection(("127.0.0.1", desk.port), timeout=5))
            except OSError:
                break
        # Each accepted connection is greeted; the rest wait in the backlog while the server is out.
        for sock in opened[:20]:
            sock.settimeout(30)
            assert sock.recv(64).startswith(b"220")
    finally:
        for sock in opened:
            sock.close()

    # Descriptors freed, the server takes connections again.
    def greets() -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", desk.port, timeout=30) as smtp:
                return smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    wait_for(greets, "a session after the descriptors came back", 120)
    log = desk.server.output()
    assert "Too many open files" in log or "file descriptors" in log, log[-3000:]
    assert log.count("Traceback (most recent call last)") == 0, log[-3000:]
    assert 1 <= log.count("file descriptors") <= 3, log[-3000:]
