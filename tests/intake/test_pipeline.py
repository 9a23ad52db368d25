"""Live intake queue: stored raw first, processed later, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers.paths import SAMPLE
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.ingest import Arrival
from mailbot.store.tables.messages import Message

from mailbot.app import build_app
from mailbot.archive import export
from mailbot.archive.reparse import requeue_failed
from mailbot.config import load
from mailbot.intake import pipeline
from mailbot.intake.pipeline import process_pending, receive

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_received_messages_wait_then_process_once(db_url: str) -> None:
    engine = make_engine(db_url)
    create_schema(engine)
    for name in ("001.eml", "002.eml", "006.eml", "007.eml"):
        assert receive(engine, Arrival("smtp", name, (SAMPLE / name).read_bytes(), origin="smtp"), NOW)
    assert receive(engine, Arrival("smtp", "001.eml", b"again", origin="smtp"), NOW) is None
    with session_scope(engine) as session:
        assert {m["status"] for m in export.messages(session)} == {"new"}
    app = build_app(load(environ={}), handlers=[], engine=engine)  # the queue alone, no desk
    assert process_pending(app, NOW) == 4
    assert process_pending(app, NOW) == 0
    with session_scope(engine) as session:
        statuses = sorted(m["status"] for m in export.messages(session))
        incidents = {i["incident_id"]: i["sightings"] for i in export.incidents(session)}
    assert statuses == ["duplicate", "parsed", "parsed", "parsed"]  # 006 and 007 are one message
    assert incidents == {"2640": 2, "2708": 1, "2709": 1}


def test_a_failing_message_backs_off_then_is_quarantined_while_the_next_goes_on(db_url: str) -> None:
    """Issue 12 §1: tries 1..attempts at doubling intervals; the message after it never waits."""
    engine = make_engine(db_url)
    create_schema(engine)
    handled: list[int] = []

    def fails_on_the_first(app, session, delivery, now) -> None:
        if delivery.pk == first:
            raise RuntimeError("no such thing\nsecond line not kept")
        handled.append(delivery.pk)

    settings = load(environ={"MAILBOT_SERVE_ATTEMPTS": "3", "MAILBOT_SERVE_RETRY_AFTER": "60"})
    app = build_app(settings, handlers=[fails_on_the_first], engine=engine)
    first = receive(engine, Arrival("smtp", "a", (SAMPLE / "001.eml").read_bytes(), origin="smtp"), NOW)
    second = receive(engine, Arrival("smtp", "b", (SAMPLE / "002.eml").read_bytes(), origin="smtp"), NOW)
    assert process_pending(app, NOW) == 2  # the first failed once, the second went on
    assert handled == [second]

    def row() -> tuple[str, int, str | None]:
        with session_scope(engine) as session:
            m = session.get(Message, first)
            assert m is not None
            return m.status, m.failures, m.reason

    assert row() == ("new", 1, "RuntimeError: no such thing")
    assert process_pending(app, NOW + timedelta(seconds=59)) == 0  # waiting out 60 s
    assert process_pending(app, NOW + timedelta(seconds=60)) == 1
    assert row()[:2] == ("new", 2)
    assert process_pending(app, NOW + timedelta(seconds=60 + 119)) == 0  # then 120 s
    assert process_pending(app, NOW + timedelta(seconds=60 + 120)) == 1
    assert row() == ("quarantined", 3, "processing failed 3 times: RuntimeError: no such thing")
    assert process_pending(app, NOW + timedelta(days=1)) == 0
    # After the fix, reparse puts it back in the queue with its tries reset.
    with session_scope(engine) as session:
        assert requeue_failed(session) == 1
    first_fixed = build_app(settings, handlers=[lambda a, s, d, n: handled.append(d.pk)], engine=engine)
    assert process_pending(first_fixed, NOW + timedelta(days=1)) == 1
    assert handled == [second, first] and row()[:2] == ("parsed", 0)


def test_a_message_settled_by_another_process_after_the_claim_is_not_processed_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`receive` and `serve` both process the queue; SQLite has no SKIP LOCKED, so a claim can be overtaken."""
    engine = make_engine(db_url)
    create_schema(engine)
    handled: list[int] = []
    app = build_app(load(environ={}), handlers=[lambda a, s, d, n: handled.append(d.pk)], engine=engine)
    assert receive(engine, Arrival("smtp", "a", (SAMPLE / "001.eml").read_bytes(), origin="smtp"), NOW)
    real_parse = pipeline.parse_message
    overtaken: list[int] = []

    def parse_while_another_processes(raw: bytes, live: bool = False):
        if not overtaken:  # between this claim and its first write, the other process does its work
            overtaken.append(process_pending(app, NOW))
        return real_parse(raw, live=live)

    monkeypatch.setattr(pipeline, "parse_message", parse_while_another_processes)
    process_pending(app, NOW)
    assert len(handled) == 1  # PostgreSQL: the other skipped the locked row; SQLite: this one stops
