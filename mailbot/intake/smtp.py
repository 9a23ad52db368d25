"""SMTP intake (aiosmtpd): accept mail for our domains, store it, only then say 250.

The handler refuses relaying (recipients outside the configured domains), and
answers 451 when the store cannot take the message so the sender retries; a
250 therefore always means the raw bytes are committed. aiosmtpd enforces the
size limit (552) and the timeout (idle between commands, and the whole DATA
phase, so slow senders are cut too).

Intake cannot be exhausted (issue 12 §6): past `[smtp] max_sessions` open
sessions, or `max_sessions_per_client` from one address, a new connection is
answered 421 and closed at once; past `max_recipients` a RCPT is answered 452.
A message's data goes to a temporary file past `spool_threshold` bytes rather
than into memory, and large messages are read back and stored one at a time, so
many concurrent large messages cost disk, not memory. Running out of file
descriptors is logged once (again after five minutes if it lasts), not once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from mailbot.app import App
from mailbot.domain.records import Arrival
from mailbot.intake.pipeline import StoreUnavailable, receive
from mailbot.store.write_gate import WriteGate

log = logging.getLogger(__name__)

# Replies, with RFC 3463 enhanced codes.
RELAY_DENIED = "550 5.7.1 Relaying denied: we accept mail only for {domains}"
BAD_ADDRESS = "501 5.1.3 Bad recipient address syntax"
STORE_DOWN = "451 4.3.0 Message not stored, please try again later"
QUEUED = "250 2.0.0 Message accepted (queue id {queue_id})"
TOO_MANY_SESSIONS = "421 4.7.0 Too many connections, please try again later"
TOO_MANY_FROM_YOU = "421 4.7.0 Too many connections from your address, please try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_MUCH_DATA = "552 5.3.4 Error: Too much mail data"
LINE_TOO_LONG = "500 5.5.2 Line too long"
CONNECTION_LOST = "421 4.4.2 Connection lost during DATA"
# What asyncio's accept loop reports when the process is out of descriptors (it retries each second).
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# Seconds between two such lines while it lasts: one line per episode, not one per retry.
DESCRIPTORS_LOG_EVERY = 300.0


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
    max_recipients: int = 100
    # Spooled messages are read back into memory to be stored: one at a time.
    large_store: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if "@" not in address:
            return BAD_ADDRESS
        if not is_ours(address, self.domains):
            return RELAY_DENIED.format(domains=", ".join(self.domains))
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        queue_id = uuid.uuid4().hex
        spool = getattr(envelope, "spool", None)  # TrackedSMTP's; a bare aiosmtpd session holds the bytes
        # A task of its own: if the client hangs up, the commit still finishes and
        # shutdown still waits for it.
        task = asyncio.ensure_future(
            asyncio.to_thread(
                self._read_and_store,
                queue_id,
                envelope.mail_from,
                list(envelope.rcpt_tos),
                spool,
                envelope.original_content,
            )
        )
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        try:
            await asyncio.shield(task)
        except StoreUnavailable as exc:
            log.warning("smtp: message from %s not stored, answered 451: %s", envelope.mail_from, exc)
            return STORE_DOWN
        log.debug(  # the pipeline's "stored message N" line is the INFO one
            "smtp: stored %s from %s for %s (%d bytes)",
            queue_id,
            envelope.mail_from,
            ",".join(envelope.rcpt_tos),
            task.result(),
        )
        self.on_stored()
        return QUEUED.format(queue_id=queue_id)

    def _read_and_store(
        self,
        queue_id: str,
        mail_from: str | None,
        rcpt_tos: list[str],
        spool: tempfile.SpooledTemporaryFile[bytes] | None,
        content: bytes | None,
    ) -> int:
        """Store the message (read back from its spool file, if any); its size."""
        rolled = spool is not None and bool(getattr(spool, "_rolled", False))  # past the threshold: on disk
        with self.large_store if rolled else contextlib.nullcontext():
            if spool is not None:
                with spool:  # closed here, by whoever reads it: the session may be gone already
                    spool.seek(0)
                    content = spool.read()
            raw = stamp(content or b"", mail_from, rcpt_tos)
            del content
            arrival = Arrival(source="smtp", source_key=queue_id, raw=raw, origin="smtp")
            with self.gate.intake():
                receive(self.engine, arrival, self.now())
            return len(raw)


@dataclass
class SessionCounts:
    """Connections since start, for the metrics endpoint: sessions accepted, and refused with 421."""

    accepted: int = 0
    refused: int = 0


@dataclass(frozen=True)
class Limits:
    """What one intake allows at once (`[smtp]` max_sessions, max_sessions_per_client, spool_threshold)."""

    sessions: int = 100
    per_client: int = 20
    spool_threshold: int = 1024 * 1024


class TrackedSMTP(SMTP):
    """An SMTP session that registers itself, so shutdown can wait for open sessions; past the
    session limits it answers 421 and closes, and its DATA goes to a spool file past a threshold."""

    # RFC 5321 caps lines at 1000 bytes, but real carriers' HTML mail breaks it;
    # refusing would bounce their answer, so accept long lines (as Postfix does).
    line_length_limit = 1 << 20

    def __init__(
        self,
        handler: IntakeHandler,
        sessions: set[TrackedSMTP],
        limits: Limits = Limits(),
        counts: SessionCounts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._sessions = sessions
        self._limits = limits
        self._counts = counts or SessionCounts()
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        refusal = self._refusal(transport)
        if refusal is not None:
            # Never a session: no greeting task, no timeout, nothing for connection_lost to undo.
            self._refused = True
            self._counts.refused += 1
            transport.write(refusal.encode() + b"\r\n")  # type: ignore[attr-defined]  # a socket transport writes
            transport.close()
            return
        if self.transport is None:  # not the same session again after STARTTLS
            self._counts.accepted += 1
        self._sessions.add(self)
        super().connection_made(transport)

    def _refusal(self, transport: asyncio.BaseTransport) -> str | None:
        if self.transport is not None:
            return None  # STARTTLS: the same session on a new transport
        if len(self._sessions) >= self._limits.sessions:
            log.warning("smtp: %d sessions open, refusing another (421)", len(self._sessions))
            return TOO_MANY_SESSIONS
        host = _host(transport.get_extra_info("peername"))
        if (
            sum(1 for s in self._sessions if s.session is not None and _host(s.session.peer) == host)
            >= self._limits.per_client
        ):
            log.warning("smtp: %d sessions open from %s, refusing another (421)", self._limits.per_client, host)
            return TOO_MANY_FROM_YOU
        return None

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self._sessions.discard(self)
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        return False if self._refused else super().eof_received()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA (RFC 5321 §4.5.2 transparency, size limit answered after the data, as
        §4.2.5 implies), with the data written to a file past the threshold rather than listed in memory."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        try:
            # Not a with-block: the spool outlives this method, handed to the handler that closes it.
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=self._limits.spool_threshold, prefix="mailbot-smtp-"
            )
        except OSError as exc:
            log.warning("smtp: cannot open a spool file, answered 451: %s", exc)
            await self.push(STORE_DOWN)
            return
        try:
            failure = await self._receive_data(spool)
        except BaseException:
            spool.close()
            raise
        if failure is not None:
            spool.close()
            self._set_post_data_state()
            await self.push(failure)
            return
        self.envelope.spool = spool  # type: ignore[attr-defined]  # the handler reads and closes it
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _receive_data(self, spool: tempfile.SpooledTemporaryFile[bytes]) -> str | None:
        """Read up to the lone dot into `spool`; the reply for data refused (too much, line too long), else None."""
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        limit, size, failure = self.data_size_limit, 0, None
        fragments: list[bytes] = []
        while self.transport is not None:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:  # longer than the stream's limit: drain, answer after
                failure = failure or LINE_TOO_LONG
                line = await self._reader.read(exc.consumed)
            if not fragments and line == b".\r\n":
                return failure
            size += len(line)
            if limit and size > limit:
                failure = failure or TOO_MUCH_DATA
            fragments.append(line)
            if line.endswith(b"\r\n"):
                whole = b"".join(fragments)
                fragments.clear()
                if len(whole) > self.line_length_limit:
                    failure = failure or LINE_TOO_LONG
                if failure is None:
                    spool.write(whole[1:] if whole.startswith(b".") else whole)
        return CONNECTION_LOST  # the client went away before the lone dot: nothing to store

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _host(peer: object) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


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
        limits = app.settings.smtp
        self.handler = IntakeHandler(
            app.engine,
            domains(app),
            app.now,
            on_stored,
            gate or WriteGate(enabled=False),
            max_recipients=limits.max_recipients,
        )
        self.limits = Limits(
            sessions=limits.max_sessions,
            per_client=limits.max_sessions_per_client,
            spool_threshold=limits.spool_threshold,
        )
        self.sessions: set[TrackedSMTP] = set()
        self.counts = SessionCounts()
        self.server: asyncio.AbstractServer | None = None
        smtp = app.settings.smtp
        self.descriptors_logged_at: float | None = None  # loop time of the last "out of descriptors" line
        # Worked out once: aiosmtpd would look up the FQDN (DNS) for every connection.
        self.options: dict[str, Any] = {
            "data_size_limit": smtp.max_size,
            "timeout": smtp.timeout,
            "tls_context": tls_context(app),
            "hostname": smtp.hostname or socket.getfqdn(),
            "ident": "mailbot ESMTP",
        }

    def _session(self) -> TrackedSMTP:
        return TrackedSMTP(self.handler, self.sessions, self.limits, self.counts, **self.options)

    async def start(self) -> None:
        assert self.app.settings.smtp.listen is not None, "SMTP intake runs only when [smtp] listen is set"
        host, port = self.app.settings.smtp.listen
        loop = asyncio.get_running_loop()
        self._watch_accept_errors(loop)
        self.server = await loop.create_server(self._session, host, port)
        log.info("smtp: listening on %s:%d for %s", host, port, ", ".join(self.handler.domains))

    def _watch_accept_errors(self, loop: asyncio.AbstractEventLoop) -> None:
        """One log line when accept() runs out of descriptors, not asyncio's traceback every second."""
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS and "accept" in context.get("message", ""):
                if (
                    self.descriptors_logged_at is None
                    or loop.time() - self.descriptors_logged_at >= DESCRIPTORS_LOG_EVERY
                ):
                    self.descriptors_logged_at = loop.time()
                    log.error("smtp: out of file descriptors (%s); new connections wait until some close", exc)
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

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
