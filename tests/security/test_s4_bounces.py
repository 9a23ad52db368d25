"""Issue 12 §4: bounces count only for what was sent."""

from __future__ import annotations

import re

from .security_desk import CARRIER, DOMAIN, UPSTREAM, Desk


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


def _report(to: str, failed: str, *, status: str, action: str = "failed", quoted: str = "<x@desk.example>") -> bytes:
    """A delivery report as a carrier's MTA sends it: to the notice's own return path."""
    return (
        _dsn(quoted, failed)
        .replace(f"To: traceback@{DOMAIN}".encode(), f"To: {to}".encode(), 1)
        .replace(b"Action: failed\r\nStatus: 5.1.1", f"Action: {action}\r\nStatus: {status}".encode(), 1)
    )


def _return_path(notice: object) -> str:
    return str(notice["Return-Path"]).strip("<> ")  # type: ignore[index]


def _contacts(desk: Desk, name: str) -> dict[str, bool]:
    provider = next(p for p in desk.providers() if p["name"] == name)
    return {c["address"]: c["undeliverable"] for c in provider["contacts"]}


def test_a_hard_bounce_to_the_return_path_disables_that_contact_visibly(desk: Desk) -> None:
    desk.cli("providers", "add", CARRIER[0], "--email", CARRIER[1], "--email", "backup@smartbiz.example")
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    desk.send(_report(_return_path(notice), CARRIER[1], status="5.1.1"), "", [_return_path(notice)])
    desk.settled(1)
    assert _contacts(desk, CARRIER[0]) == {CARRIER[1]: True, "backup@smartbiz.example": False}
    (review,) = desk.reviews()
    assert review["kind"] == "bounce" and "disabled" in review["detail"] and CARRIER[1] in review["detail"], review
    resent = desk.notice("backup@smartbiz.example", "first_contact")  # the notice still reaches the provider
    assert f"#{number}" in str(resent["Subject"])


def test_bounces_count_once_per_message_and_recipient_until_the_limit(make_desk: object) -> None:
    desk: Desk = make_desk(mail_bounce_limit="2")  # type: ignore[operator]
    desk.open_traceback()
    first = desk.notice(CARRIER[1], "first_contact")
    path = _return_path(first)
    outbox_id, _, signature = path.partition("@")[0].partition("+")[2].partition("-")
    forged = f"bounces+{outbox_id}-{'0' * len(signature)}@{DOMAIN}"
    sends = [
        (_report(path, CARRIER[1], status="4.2.2"), path),  # counted: 1
        (_report(path, CARRIER[1], status="4.2.2"), path),  # the same message again: still 1
        (_report(path, UPSTREAM[1], status="5.1.1"), path),  # not a recipient of that message: nothing
        (_report(forged, CARRIER[1], status="5.1.1"), forged),  # a return path that does not verify: nothing
        (_report(path, CARRIER[1], status="4.4.7", action="delayed"), path),  # not a failure: nothing
    ]
    for count, (raw, rcpt) in enumerate(sends, start=1):
        desk.send(raw.replace(b"<dsn-1@", f"<dsn-{count}@".encode()), "", [rcpt])
        desk.settled(count)
    assert _contacts(desk, CARRIER[0]) == {CARRIER[1]: False}
    assert _contacts(desk, UPSTREAM[0]) == {UPSTREAM[1]: False}
    assert not desk.reviews()
    desk.open_traceback()  # a second notice to the same contact, with its own return path
    second = desk.notice(CARRIER[1], "request")
    assert _return_path(second) != path
    last = _report(_return_path(second), CARRIER[1], status="4.2.2").replace(b"<dsn-1@", b"<dsn-last@")
    desk.send(last, "", [_return_path(second)])
    desk.settled(len(sends) + 1)
    assert _contacts(desk, CARRIER[0]) == {CARRIER[1]: True}
    assert [r["kind"] for r in desk.reviews()] == ["bounce"]
