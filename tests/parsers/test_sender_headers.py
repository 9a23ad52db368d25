"""Authentication-Results (RFC 8601) and delivery reports (RFC 3464) as the desk reads them."""

from __future__ import annotations

import email

from mailbot.parsers import authentication, dsn

from mailbot.domain.records import AuthResult

HEADERS = (
    b"Authentication-Results: mx.desk.example;\r\n dkim=pass header.d=mail.carrier.example header.s=s1;\r\n"
    b" spf=fail smtp.mailfrom=bounce@evil.example; dmarc=fail (p=reject) header.from=carrier.example\r\n"
    b"Authentication-Results: mx.evil.example; dkim=pass header.d=carrier.example\r\n"
    b"Authentication-Results: this is ;; not = a header\r\n"
    b"From: noc@carrier.example\r\n\r\nbody\r\n"
)


def test_every_header_is_read_with_who_says_so_and_an_unreadable_one_is_skipped() -> None:
    found = authentication.read(email.message_from_bytes(HEADERS))
    assert found == (
        AuthResult("mx.desk.example", "dkim", "pass", "mail.carrier.example"),
        AuthResult("mx.desk.example", "spf", "fail", "evil.example"),
        AuthResult("mx.desk.example", "dmarc", "fail", "carrier.example"),
        AuthResult("mx.evil.example", "dkim", "pass", "carrier.example"),
    )


def _report(*blocks: str) -> email.message.Message:
    body = "\r\n".join(blocks)
    return email.message_from_string(
        "From: MAILER-DAEMON@mx.example\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nnot delivered\r\n"
        f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n{body}\r\n--B--\r\n"
    )


def test_a_report_gives_each_failed_recipient_and_whether_it_is_hard() -> None:
    msg = _report(
        "Final-Recipient: rfc822; <A@x.example>\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        "Final-Recipient: rfc822; b@x.example\r\nAction: failed\r\nStatus: 4.2.2\r\n",
        "Final-Recipient: rfc822; c@x.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n",
        "Final-Recipient: rfc822; d@x.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
    )
    assert dsn.failures(msg, "") == (
        dsn.Failure("a@x.example", "5.1.1", True),
        dsn.Failure("b@x.example", "4.2.2", False),
    )


def test_a_plain_text_bounce_is_read_for_its_recipients_as_soft() -> None:
    msg = email.message_from_string("From: MAILER-DAEMON@mx.example\r\n\r\nno\r\n")
    assert dsn.failures(msg, "Final-Recipient: rfc822; x@y.example\n") == (dsn.Failure("x@y.example", None, False),)
