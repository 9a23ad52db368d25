"""Live intake queue: stored raw first, processed later, once."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers.paths import SAMPLE
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.ingest import Arrival

from mailbot.app import build_app
from mailbot.archive import export
from mailbot.config import load
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
