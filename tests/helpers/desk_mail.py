"""The desk's test mail: open a traceback, read its notices as the carrier gets them, answer them."""

from __future__ import annotations

import email
import email.message
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Hop, Review
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailbot.app import App
from mailbot.desk import workflow
from mailbot.domain.records import Arrival
from mailbot.intake.pipeline import process_pending, receive

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
CALL: dict[str, Any] = {  # open_traceback's keyword arguments
    "campaign": "SSA-Suspended-SSN",
    "call_time": datetime(2026, 10, 30, 14, 5, tzinfo=UTC),
    "called": "+12025550143",
    "caller": "+16465550178",
    "description": "Caller claims your SSN is suspended.",
}


def open_tb(app: App, provider: str = "Smartbiz Telecom") -> int:
    with session_scope(app.engine) as s:
        tb = workflow.open_traceback(app, s, provider_name=provider, now=NOW, **CALL)
        assert tb.id is not None
        return tb.id


def outbox(engine: Engine) -> list[OutboxMessage]:
    with session_scope(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def notice(engine: Engine, kind: str, to: str) -> EmailMessage:
    """The newest notice of `kind` to `to`, as the carrier receives it."""
    rows = [m for m in outbox(engine) if m.kind == kind and to in m.recipients]
    assert rows, f"no {kind} to {to}: {[(m.kind, m.recipients) for m in outbox(engine)]}"
    return email.message_from_bytes(rows[-1].raw, policy=email.policy.default)


def text_of(msg: email.message.Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr]


def reply_to(
    original: email.message.Message,
    body: str,
    sender: str = "noc@smartbiz.example",
    extra: dict[str, str] | None = None,
    to: str | None = None,
) -> bytes:
    """A top-posted Gmail-style reply quoting the notice."""
    msg = EmailMessage()
    msg["From"] = f"NOC <{sender}>"
    msg["To"] = to or str(original["Reply-To"] or original["From"])
    msg["Subject"] = "Re: " + str(original["Subject"])
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@carrier.example>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = str(original["Message-ID"])
    for name, value in (extra or {}).items():
        msg[name] = value
    quoted = "\n".join("> " + line for line in text_of(original).split("\n"))
    msg.set_content(
        f"{body}\n\nOn Mon, Nov 2, 2026 at 10:00 AM Traceback Desk <traceback@desk.example> wrote:\n{quoted}\n"
    )
    return bytes(msg)


def deliver(app: App, raw: bytes, now: datetime = NOW) -> None:
    engine = app.engine
    assert receive(engine, Arrival("smtp", uuid.uuid4().hex, raw, origin="smtp"), now)
    assert process_pending(app, now) == 1


def hops(engine: Engine, tb: int) -> list[Hop]:
    with session_scope(engine) as s:
        return list(s.exec(select(Hop).where(col(Hop.traceback_id) == tb).order_by(col(Hop.position))).all())


def reviews(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine) as s:
        return [(r.kind, r.detail) for r in s.exec(select(Review).order_by(col(Review.id))).all()]
