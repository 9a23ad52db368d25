"""Issue 12 §2 and §5 inside the desk: pending contacts, the clarification cap, grouped reviews, the digest."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from helpers.desk_mail import NOW, deliver, hops, notice, open_tb, outbox, reply_to
from mailbot.scheduler import digest
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import ProviderContact, Review
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailbot.app import App, build_app
from mailbot.desk import workflow

MALLORY = "mallory@evil.example"


def _reviews(engine: Engine, kind: str) -> list[Review]:
    with session_scope(engine) as s:
        return list(s.exec(select(Review).where(col(Review.kind) == kind).order_by(col(Review.id))).all())


def _contacts(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return sorted(s.exec(select(ProviderContact.address)).all())


def test_a_proposed_contact_applies_only_when_accepted(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    before = _contacts(engine)
    deliver(desk_app, reply_to(first, f"Our upstream is Lingo Telecom, contact {MALLORY}."))
    deliver(desk_app, reply_to(first, f"Again: our upstream is Lingo Telecom, contact {MALLORY}."))
    assert [h.outcome for h in hops(engine, tb)] == ["upstream", None]  # the next hop goes to Lingo's own contacts
    assert _contacts(engine) == before and not [m for m in outbox(engine) if MALLORY in m.recipients]
    (proposal,) = _reviews(engine, "contact_change")  # one per provider and address
    assert proposal.id is not None and MALLORY in proposal.detail
    ack = notice(engine, "acknowledgement", "noc@smartbiz.example").get_body(preferencelist=("plain",))
    assert ack is not None and "is pending" in ack.get_content() and "queda pendiente" in ack.get_content()
    # Resolved without --accept: dropped; nothing changes.
    with session_scope(engine) as s:
        workflow.resolve_review(s, proposal.id, NOW)
    assert _contacts(engine) == before


def test_an_accepted_proposal_adds_the_contact(desk_app: App, engine: Engine) -> None:
    open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, f"Our upstream is Lingo Telecom, contact {MALLORY}."))
    (proposal,) = _reviews(engine, "contact_change")
    assert proposal.id is not None
    with session_scope(engine) as s:
        workflow.resolve_review(s, proposal.id, NOW, accept=True)
    assert MALLORY in _contacts(engine)


def test_the_clarification_cap_is_a_setting(desk_app: App, engine: Engine) -> None:
    app = build_app(
        dataclasses.replace(desk_app.settings, desk=dataclasses.replace(desk_app.settings.desk, max_clarifications=1)),
        engine=engine,
    )
    tb = open_tb(app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    for n in range(4):
        deliver(app, reply_to(first, f"Thanks, we are looking at it ({n})."))
    assert len([m for m in outbox(engine) if m.kind == "clarification"]) == 1
    assert [h.outcome for h in hops(engine, tb)] == [None]
    (waiting,) = _reviews(engine, "clarification_limit")
    assert waiting.count == 3 and waiting.traceback_id == tb
    assert len(_reviews(engine, "low_confidence")) == 1  # past the cap, no review per answer


def _stray(n: int) -> bytes:
    return (
        f"From: someone@stranger.example\r\nTo: traceback@desk.example\r\nSubject: hello {n}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@stranger.example>\r\n\r\nIs this the right address for abuse reports?\r\n"
    ).encode()


def test_a_burst_from_one_stranger_is_one_review_a_day_and_one_digest_line(desk_app: App, engine: Engine) -> None:
    for n in range(25):
        deliver(desk_app, _stray(n))
    deliver(desk_app, _stray(99), now=NOW + timedelta(days=1))  # the next day: a new review
    rows = _reviews(engine, "unmatched")
    assert [r.count for r in rows] == [25, 1]
    with session_scope(engine) as s:
        text = digest.render_text(digest.collect(s, desk_app.rules, NOW + timedelta(days=1, hours=1)))
    lines = [line for line in text.splitlines() if "someone@stranger.example" in line]
    assert len(lines) == 2 and "(25 times from someone@stranger.example that day)" in lines[0]
