"""End to end over real sockets: `mailbot serve` as a process, carriers answering by SMTP.

A traceback is opened with the CLI; each notice is read from the Maildir outbox
as the carrier would receive it, answered top-posted and quoting the notice (Gmail
style, then Outlook style) over SMTP to its Reply-To; the next notice goes to the
upstream each answer names, three hops down to an `origin` answer.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import mailbox
import smtplib
import subprocess
import uuid
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from helpers.mailbot_proc import MAILBOT, Server, mailbot_env, wait_for

SETTINGS = {"mail_domain": "desk.example", "mail_from": "Traceback Desk <traceback@desk.example>",
            "mail_secret": "e2e-secret", "schedule_enabled": "false"}


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([*MAILBOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def received(outbox: Path, to: str) -> list[email.message.Message]:
    """Notices delivered to `to`, oldest first."""
    if not (outbox / "new").exists():
        return []
    found = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
             for m in mailbox.Maildir(outbox, create=False)]
    return sorted((m for m in found if to in str(m["To"])), key=lambda m: str(m["Date"]))


def notice_to(outbox: Path, to: str, kind: str) -> email.message.Message:
    def find() -> email.message.Message | None:
        return next((m for m in received(outbox, to) if m["X-Mailbot-Notice"] == kind), None)
    return wait_for(find, f"{kind} notice to {to}")  # type: ignore[return-value]


def plain(msg: email.message.Message) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def answer(port: int, notice: email.message.Message, sender: str, words: str, style: str) -> None:
    msg = EmailMessage()
    msg["From"] = f"NOC <{sender}>"
    msg["To"] = str(notice["Reply-To"])
    msg["Subject"] = "RE: " + str(notice["Subject"])
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.split('@')[1]}>"
    msg["In-Reply-To"] = str(notice["Message-ID"])
    if style == "gmail":
        quoted = "\n".join("> " + line for line in plain(notice).split("\n"))
        body = f"{words}\n\nOn Mon, Nov 2, 2026 at 10:00 AM Traceback Desk <traceback@desk.example> wrote:\n{quoted}\n"
    else:
        body = (f"{words}\n\n________________________________\nFrom: Traceback Desk <traceback@desk.example>\n"
                f"Sent: Monday, November 2, 2026 10:00 AM\nTo: {sender}\nSubject: {notice['Subject']}\n\n"
                f"{plain(notice)}\n")
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(sender, [parseaddr(str(notice["Reply-To"]))[1]], msg.as_bytes())


def test_three_hops_by_email_down_to_the_origin(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    cli(env, tmp_path, "providers", "add", "Lingo Telecom", "--email", "tb@lingo.example")
    server = Server(db_url, tmp_path, **settings)
    try:
        number = int(cli(env, tmp_path, "traceback", "open", "--provider", "Smartbiz Telecom",
                         "--campaign", "SSA-Suspended-SSN", "--call-time", "2026-10-30T14:05:00Z",
                         "--called", "+12025550143", "--caller", "+16465550178",
                         "--description", "Caller claims your SSN is suspended.").strip())

        first = notice_to(outbox, "noc@smartbiz.example", "first_contact")
        assert f"[Traceback #{number}]" in str(first["Subject"])
        assert f"Call Details for Traceback #{number}" in plain(first)
        answer(server.port, first, "noc@smartbiz.example",
               "Hi team,\n\nWe received this call from Lingo Telecom.\n\nThanks,\nJohn Carter\nNOC", "gmail")

        second = notice_to(outbox, "tb@lingo.example", "first_contact")
        assert "Smartbiz Telecom" in plain(second)  # its direct downstream, and nothing more
        assert notice_to(outbox, "noc@smartbiz.example", "acknowledgement")
        answer(server.port, second, "tb@lingo.example",
               "Hello,\n\nThe call came to us from Beta Voice Networks (noc@betavoice.example).\n\n"
               "Regards,\n\nMaria Lopez\nCompliance", "outlook")

        third = notice_to(outbox, "noc@betavoice.example", "first_contact")
        assert "Lingo Telecom" in plain(third) and "Smartbiz" not in plain(third)
        answer(server.port, third, "noc@betavoice.example",
               "This call was originated by our customer Sunrise Solar Marketing LLC. Account suspended.", "gmail")

        def closed() -> dict | None:
            shown = json.loads(cli(env, tmp_path, "traceback", "show", str(number), "--format", "json"))
            return shown if shown["status"] == "closed" else None

        shown = wait_for(closed, "the traceback to close")
        assert shown["result"] == "origin"  # type: ignore[index]
        assert [(h["provider"], h["outcome"]) for h in shown["hops"]] == [  # type: ignore[index]
            ("Smartbiz Telecom", "upstream"), ("Lingo Telecom", "upstream"), ("Beta Voice Networks", "origin")]
        assert all(h["requested_at"] and h["answered_at"] for h in shown["hops"])  # type: ignore[index]
        assert notice_to(outbox, "noc@betavoice.example", "acknowledgement")
        assert server.terminate() == 0
    finally:
        server.close()
