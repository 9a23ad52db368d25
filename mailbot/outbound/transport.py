"""Where sent mail goes: a local Maildir (default, no mail server needed) or an SMTP relay.

A transport's `send` either returns (delivered, or accepted by the relay) or
raises `TemporaryFailure` (try again later) or `PermanentFailure` (never retry).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mailbot.config import Settings


class TemporaryFailure(Exception):
    """4xx, a dropped connection, an unreachable or misconfigured relay: retry later."""


class PermanentFailure(Exception):
    """5xx: the message will never be accepted as it is."""


class PartialDelivery(Exception):
    """Accepted for some recipients and refused for others: sent, with a note."""


class Transport(Protocol):
    def send(self, raw: bytes, *, sender: str, recipients: list[str], message_id: str) -> None: ...


class MaildirTransport:
    """Delivers into `path/new`, one file per Message-ID, as the final MTA would.

    Like a delivering MTA it records the envelope sender as the first header, Return-Path.

    The file name is derived from the Message-ID, and a file appears in `new/`
    only by an atomic link from `tmp/`, so delivering the same message twice
    (a sender killed after delivery but before recording it) leaves one copy.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def file_name(message_id: str) -> str:
        return "mailbot." + hashlib.sha256(message_id.strip().encode()).hexdigest()[:40]

    def delivered(self, message_id: str) -> bool:
        name = self.file_name(message_id)
        # A mail reader moves read mail to cur/ and appends ":2,<flags>".
        return (
            (self.path / "new" / name).exists()
            or any((self.path / "cur").glob(name + ":*"))
            or (self.path / "cur" / name).exists()
        )

    def send(self, raw: bytes, *, sender: str, recipients: list[str], message_id: str) -> None:
        if self.delivered(message_id):
            return
        name = self.file_name(message_id)
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}"
        try:
            with tmp.open("wb") as fh:
                fh.write(f"Return-Path: <{sender}>\n".encode())
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another sender delivered it first: still one copy
                os.link(tmp, self.path / "new" / name)
        except OSError as exc:
            raise TemporaryFailure(f"maildir {self.path}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.path / "new")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SmtpTransport:
    """An SMTP relay, with STARTTLS and AUTH when configured.

    SMTP cannot be made exactly-once: if the connection drops after the relay
    accepted the message but before we recorded it as sent, the next run sends it
    again (at-least-once). The window is one DATA exchange.
    """

    host: str
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    def send(self, raw: bytes, *, sender: str, recipients: list[str], message_id: str) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password)
                # Stored with LF line ends (as Maildir wants); SMTP wants CRLF.
                refused = smtp.sendmail(sender, recipients, re.sub(rb"\r?\n", b"\r\n", raw))
        except smtplib.SMTPAuthenticationError as exc:
            # A relay refusing our credentials is a configuration fault, not the message's:
            # keep the mail queued until someone fixes the password.
            raise TemporaryFailure(f"SMTP authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipients refused: {detail}") from exc
            raise TemporaryFailure(f"recipients deferred: {detail}") from exc
        except smtplib.SMTPResponseException as exc:
            error = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(error) from exc
            raise TemporaryFailure(error) from exc
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise TemporaryFailure(f"SMTP {self.host}:{self.port}: {exc!r}") from exc
        if refused:
            # sendmail raises when all are refused; here some took it, so a retry would duplicate it.
            raise PartialDelivery("; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items()))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def transport_from_config(settings: Settings) -> Transport:
    """The transport `[outbound]` asks for (its mode is checked when the settings load)."""
    out = settings.outbound
    if out.mode == "maildir":
        return MaildirTransport(out.maildir)
    context = ssl.create_default_context(cafile=str(out.cafile)) if out.cafile else None
    return SmtpTransport(
        host=out.host,
        port=out.port,
        starttls=out.starttls,
        username=out.username,
        password=out.password,
        timeout=out.timeout,
        ssl_context=context,
    )
