"""Issue 12 §4: bounces count only for what was sent."""

from __future__ import annotations

import re

from .security_desk import CARRIER, DOMAIN, Desk


def _dsn(quoted_message_id: str, failed: str) -> bytes:
    """A made-up delivery report, as any stranger can write one."""
    boundary = "dsn-boundary"
    return (
        f"From: MAILER-DAEMON@stranger.example\r\nTo: traceback@{DOMAIN}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@stranger.example>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; stranger.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {quoted_message_id}\r\n"
        f"To: {failed}\r\n--{boundary}--\r\n"
    ).encode()


def test_a_made_up_bounce_disables_nobody(desk: Desk) -> None:
    desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    desk.send(_dsn(str(notice["Message-ID"]), CARRIER[1]), "", [f"traceback@{DOMAIN}"])
    desk.settled(1)
    smartbiz = next(p for p in desk.providers() if p["name"] == CARRIER[0])
    assert [c["undeliverable"] for c in smartbiz["contacts"]] == [False]


def test_each_notice_has_its_own_signed_return_path(desk: Desk) -> None:
    desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    sent = desk.json("outbox", "list")
    path = str(notice["Return-Path"] or notice["Sender"] or "")
    assert re.search(rf"bounces\+{sent[0]['id']}-[0-9a-z]+@{re.escape(DOMAIN)}", path, re.I), path
