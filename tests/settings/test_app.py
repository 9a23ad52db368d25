"""The App: built once from the settings, passed explicitly; nothing depends on what was configured before."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.scheduler import jobs
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.desk import Hop
from mailbot.store.tables.outbox import OutboxMessage
from sqlmodel import select

from mailbot.app import build_app
from mailbot.config import load
from mailbot.desk import inbound, providers, workflow
from mailbot.domain.tokens import read_token, token_from_address

REQUESTED = datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("America/New_York"))  # a Monday morning


def test_a_reminder_from_the_scheduler_carries_its_signed_reply_to(db_url: str) -> None:
    engine = make_engine(db_url)
    create_schema(engine)
    app = build_app(
        load(environ={"MAILBOT_MAIL_SECRET": "reminder-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}), engine=engine
    )
    with session_scope(engine) as s:
        providers.add(s, "Smartbiz Telecom", emails=["noc@smartbiz.example"], now=REQUESTED)
        tb = workflow.open_traceback(app, s, provider_name="Smartbiz Telecom", campaign="C", now=REQUESTED)
        hop_id = s.exec(select(Hop.id).where(Hop.traceback_id == tb.id)).one()
        assert hop_id is not None
    later = REQUESTED + timedelta(hours=5)  # past the first reminder (4 business hours)
    with session_scope(engine) as s:  # the hop visit alone, as a second instance or a test would call it
        jobs.visit_hop(app, s, hop_id, later, jobs.Summary())
    with session_scope(engine) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).one()
    reply_to = str(email.message_from_bytes(row.raw, policy=email.policy.default)["Reply-To"])
    token = token_from_address(reply_to)
    assert token is not None and "@desk.example" in reply_to
    assert read_token(token, b"reminder-secret") == hop_id
    engine.dispose()


def test_the_app_holds_the_handlers_live_mail_goes_to() -> None:
    settings = load(environ={})
    assert build_app(settings).handlers == (inbound.handle,)
    assert build_app(settings, handlers=[]).handlers == ()
