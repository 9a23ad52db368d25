"""A desk run as a real `mailbot serve`: its CLI, its outbox Maildir, and carriers answering over SMTP."""

from __future__ import annotations

import email
import email.message
import email.policy
import mailbox
import smtplib
import subprocess
import uuid
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from helpers.mailbot_proc import MAILBOT, wait_for

SETTINGS = {
    "mail_domain": "desk.example",
    "mail_from": "Traceback Desk <traceback@desk.example>",
    "mail_secret": "e2e-secret",
    "schedule_enabled": "false",
}


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([*MAILBOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def received(outbox: Path, to: str) -> list[email.message.Message]:
    """Notices delivered to `to`, oldest first."""
    if not (outbox / "new").exists():
        return []
    found = [
        email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
        for m in mailbox.Maildir(outbox, create=False)
    ]
    return sorted((m for m in found if to in str(m["To"])), key=lambda m: str(m["Date"]))


def notice_to(outbox: Path, to: str, kind: str) -> email.message.Message:
    def find() -> email.message.Message | None:
        return next((m for m in received(outbox, to) if m["X-Mailbot-Notice"] == kind), None)

    return wait_for(find, f"{kind} notice to {to}")  # type: ignore[return-value]


def plain(msg: email.message.Message) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def answer(
    port: int,
    notice: email.message.Message,
    sender: str,
    words: str,
    style: str,
    attachments: dict[str, bytes] | None = None,
) -> None:
    """`sender` replies to `notice` over SMTP, quoting it as `style` (gmail, outlook); with files attached."""
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
        body = (
            f"{words}\n\n________________________________\nFrom: Traceback Desk <traceback@desk.example>\n"
            f"Sent: Monday, November 2, 2026 10:00 AM\nTo: {sender}\nSubject: {notice['Subject']}\n\n"
            f"{plain(notice)}\n"
        )
    msg.set_content(body)
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(sender, [parseaddr(str(notice["Reply-To"]))[1]], msg.as_bytes())
