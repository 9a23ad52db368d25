"""Monthly metrics: computed from the store, sent on the 1st once, and readable by our own parser."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers.paths import SAMPLE
from mailbot.parsers.message import parse_message
from mailbot.scheduler import jobs
from mailbot.scheduler.metrics import HopFact, duration_text, summarize
from mailbot.store.db import session_scope
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import select
from sqlmodel import col

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.domain.records import Kind
from mailbot.testing import simulate

NY = ZoneInfo("America/New_York")


def test_durations_read_like_the_sample() -> None:
    assert duration_text(69 * 60) == "1 hour 9 minutes"
    assert duration_text(35 * 60 + 48) == "35 minutes 48 seconds"
    assert duration_text(10 * 3600 + 16 * 60 + 5) == "10 hours 16 minutes"
    assert duration_text(2 * 86400 + 3600) == "2 days 1 hour"
    assert duration_text(3 * 3600 + 12) == "3 hours"  # the two largest units, zeros dropped
    assert duration_text(0) == "0 seconds"


def test_sample_metrics_notices_parse_with_the_same_columns_we_write() -> None:
    """Our tables have the sample's columns, so one parser reads both."""
    sample = next(p for p in sorted(SAMPLE.glob("*.eml")) if b"Monthly Metrics" in p.read_bytes())
    theirs = parse_message(sample.read_bytes()).metrics
    ours = summarize(
        "X",
        "2026-03",
        [HopFact("X", "origin", datetime(2026, 3, 2, 9, tzinfo=NY), datetime(2026, 3, 2, 10, tzinfo=NY), "Tax")],
        [],
    )
    assert theirs is not None and theirs.your_summary is not None
    assert list(ours.your) == list(theirs.your_summary.values)


@pytest.fixture
def app(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    return build_app(config_module.load(None, db_url))


def _metrics_rows(app: App) -> list[OutboxMessage]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(col(OutboxMessage.kind) == "monthly_metrics")
                .order_by(col(OutboxMessage.dedupe_key))
            )
        )


def test_monthly_metrics_on_the_first_once_and_parse_back(app: App) -> None:
    world = simulate.run_week(app, step=timedelta(hours=1))  # March 9-16
    app.fixed_now = datetime(2026, 4, 1, 6, 59, tzinfo=NY)
    assert jobs.run_due(app).metrics == 0  # not before the morning of the 1st
    app.fixed_now = datetime(2026, 4, 1, 7, 0, tzinfo=NY)
    first = jobs.run_due(app)
    assert first.metrics == len(simulate.PROVIDERS)  # every provider was asked in March
    app.fixed_now = datetime(2026, 4, 3, 12, 0, tzinfo=NY)
    assert jobs.run_due(app).metrics == 0  # once per provider and month, whatever runs later
    rows = _metrics_rows(app)
    assert [r.dedupe_key for r in rows] == sorted(f"metrics:{pid}:2026-03" for pid in world.providers.values())

    bluewave = next(r for r in rows if r.dedupe_key == f"metrics:{world.providers['bluewave']}:2026-03")
    assert bluewave.recipients == ["noc@bluewave.example"]
    parsed = parse_message(bluewave.raw)
    assert parsed.kind == Kind.MONTHLY_METRICS and parsed.quarantine is None
    metrics = parsed.metrics
    assert metrics is not None and metrics.organization == "Bluewave Telecom"
    assert metrics.your_summary is not None
    # Five hops, all answered naming an upstream, in 45, 40, 30, 20 and 30 minutes.
    assert metrics.your_summary.values == {
        "Total Hops": "5",
        "Open": "0",
        "POE": "0",
        "Downstream": "0",
        "Orig": "0",
        "No Resp": "0",
        "Not Found": "0",
        "Avg Response": "33 minutes",
        "Campaigns": "5",
    }
    # Upstream of Bluewave: Opextel answered; Silent Route never did (twice); Telcon's request
    # (Mar 13) went unanswered past its deadline by the time of the report. The upstream
    # Bluewave named on the StudentLoan traceback is unknown: no hop, so no row.
    assert {row.provider: row.values for row in metrics.upstream} == {
        "Opextel, LLC": {"Total Hops": "1", "Open": "0", "POE": "0", "Orig": "0", "No Resp": "0", "Not Found": "0"},
        "Silent Route VoIP": {
            "Total Hops": "2",
            "Open": "0",
            "POE": "0",
            "Orig": "0",
            "No Resp": "2",
            "Not Found": "0",
        },
        "Telcon Voice": {"Total Hops": "1", "Open": "0", "POE": "0", "Orig": "0", "No Resp": "1", "Not Found": "0"},
    }
    lata1 = parse_message(
        next(r.raw for r in rows if r.dedupe_key == f"metrics:{world.providers['lata1']}:2026-03")
    ).metrics
    assert lata1 is not None and lata1.your_summary is not None
    # Origin of two campaigns, answered in 21 hours and in 1.5 hours.
    assert {k: lata1.your_summary.values[k] for k in ("Total Hops", "Orig", "Avg Response", "Campaigns")} == {
        "Total Hops": "2",
        "Orig": "2",
        "Avg Response": "11 hours 15 minutes",
        "Campaigns": "2",
    }
    assert lata1.upstream == ()
