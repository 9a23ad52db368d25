"""SMTP intake (aiosmtpd): accept mail for our domains, store it, only then say 250.

The handler refuses relaying (recipients outside the configured domains), and
answers 451 when the store cannot take the message so the sender retries; a
250 therefore always means the raw bytes are committed. aiosmtpd enforces the
size limit (552) and the timeout (idle between commands, and the whole DATA
phase, so slow senders are cut too).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from mailbot.app import App
from mailbot.intake.pipeline import StoreUnavailable, receive
from mailbot.store.write_gate import WriteGate
from mailbot.domain.records import Arrival

log = logging.getLogger(__name__)

# Replies, with RFC 3463 enhanced codes.
RELAY_DENIED = "550 5.7.1 Relaying denied: we accept mail only for {domains}"
BAD_ADDRESS = "501 5.1.3 Bad recipient address syntax"
STORE_DOWN = "451 4.3.0 Message not stored, please try again later"
QUEUED = "250 2.0.0 Message accepted (queue id {queue_id})"


def domains(app: App) -> list[str]:
    """The bot's own mail domains: `[mail] domain` plus any in `[mail] domains`."""
    names = [app.settings.mail.domain, *app.settings.mail.domains]
    return list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))


def is_ours(address: str, ours: Sequence[str]) -> bool:
    """True for local@domain or local+tag@domain at one of our domains (case-insensitive)."""
    _, addr = parseaddr(address)
    local, at, domain = addr.rpartition("@")
    return bool(at and local) and domain.lower().rstrip(".") in ours


def stamp(raw: bytes, mail_from: str | None, rcpt_tos: Sequence[str]) -> bytes:
    """Prepend the envelope as a delivering MTA does (Return-Path, Delivered-To).

    The envelope recipient is often the only trace of which plus-address a
    reply was sent to (Bcc, forwarded mail), so it must survive in the raw bytes.
    """
    newline = b"\r\n" if b"\r\n" in raw[:2048] else b"\n"
    lines = [f"Return-Path: <{mail_from or ''}>".encode()]
    lines += [f"Delivered-To: {rcpt}".encode() for rcpt in rcpt_tos]
    return newline.join(lines) + newline + raw


@dataclass
class IntakeHandler:
    """aiosmtpd handler: the recipient check and the store-before-250 rule."""

    engine: Engine
    domains: list[str]
    now: Callable[[], Any]
    on_stored: Callable[[], None] = lambda: None
    gate: WriteGate = field(default_factory=lambda: WriteGate(enabled=False))
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if "@" not in address:
            return BAD_ADDRESS
        if not is_ours(address, self.domains):
            return RELAY_DENIED.format(domains=", ".join(self.domains))
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        queue_id = uuid.uuid4().hex
        raw = stamp(bytes(envelope.original_content or b""), envelope.mail_from, envelope.rcpt_tos)
        arrival = Arrival(source="smtp", source_key=queue_id, raw=raw, origin="smtp")
        # A task of its own: if the client hangs up, the commit still finishes and
        # shutdown still waits for it.
        task = asyncio.ensure_future(asyncio.to_thread(self._store, arrival))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        try:
            await asyncio.shield(task)
        except StoreUnavailable as exc:
            log.warning("smtp: message from %s not stored, answered 451: %s", envelope.mail_from, exc)
            return STORE_DOWN
        log.info("smtp: stored %s from %s for %s (%d bytes)", queue_id, envelope.mail_from,
                 ",".join(envelope.rcpt_tos), len(raw))
        self.on_stored()
        return QUEUED.format(queue_id=queue_id)


    def _store(self, arrival: Arrival) -> int | None:
        with self.gate.intake():
            return receive(self.engine, arrival, self.now())


class TrackedSMTP(SMTP):
    """An SMTP session that registers itself, so shutdown can wait for open sessions."""

    # RFC 5321 caps lines at 1000 bytes, but real carriers' HTML mail breaks it;
    # refusing would bounce their answer, so accept long lines (as Postfix does).
    line_length_limit = 1 << 20

    def __init__(self, handler: IntakeHandler, sessions: set[TrackedSMTP], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sessions = sessions

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._sessions.discard(self)
        super().connection_lost(error)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def tls_context(app: App) -> ssl.SSLContext | None:
    cert, key = app.settings.smtp.tls_cert, app.settings.smtp.tls_key
    if cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key) if key else None)
    return context


class SMTPIntake:
    """The listening server: start, stop accepting, wait for open sessions and commits."""

    def __init__(self, app: App, on_stored: Callable[[], None], gate: WriteGate | None = None) -> None:
        self.app = app
        self.handler = IntakeHandler(app.engine, domains(app), app.now, on_stored, gate or WriteGate(enabled=False))
        self.sessions: set[TrackedSMTP] = set()
        self.server: asyncio.AbstractServer | None = None
        smtp = app.settings.smtp
        # Worked out once: aiosmtpd would look up the FQDN (DNS) for every connection.
        self.options: dict[str, Any] = {
            "data_size_limit": smtp.max_size,
            "timeout": smtp.timeout,
            "tls_context": tls_context(app),
            "hostname": smtp.hostname or socket.getfqdn(),
            "ident": "mailbot ESMTP",
        }

    def _session(self) -> TrackedSMTP:
        return TrackedSMTP(self.handler, self.sessions, **self.options)

    async def start(self) -> None:
        assert self.app.settings.smtp.listen is not None, "SMTP intake runs only when [smtp] listen is set"
        host, port = self.app.settings.smtp.listen
        self.server = await asyncio.get_running_loop().create_server(self._session, host, port)
        log.info("smtp: listening on %s:%d for %s", host, port, ", ".join(self.handler.domains))

    async def stop(self, grace: float) -> None:
        """Stop accepting; let open sessions finish for `grace` seconds, then hang up on the rest."""
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.sessions and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.close()
        # Commits already under way finish: their senders may have had no 250 yet, but
        # the message is stored either way (a retry is then a duplicate by Message-ID).
        if self.handler.in_flight:
            await asyncio.gather(*self.handler.in_flight, return_exceptions=True)
        log.info("smtp: stopped")
