"""The daily digest from the sample mailbox's import plus a simulated week of tracebacks."""

from __future__ import annotations

import email
from datetime import timedelta
from email.message import Message as EmailMsg
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.paths import SAMPLE
from mailbot.scheduler import digest
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Hop, Traceback
from mailbot.store.tables.messages import CampaignName, Incident
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import func, select
from sqlmodel import col

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.cli import main
from mailbot.desk import workflow
from mailbot.testing import simulate


@pytest.fixture
def week(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    monkeypatch.setenv("MAILBOT_OPS_EMAIL", "ops@example.com,noc-lead@example.com")
    app = build_app(config_module.load(None, db_url))
    tally = simulate.import_mailbox(app, [SAMPLE, simulate.write_broken_mail(tmp_path / "broken")])
    assert tally.by_status == {"parsed": 308, "duplicate": 1, "quarantined": 2}
    simulate.run_week(app, step=timedelta(hours=1))
    return app


def test_digest_sections_and_numbers(week: App) -> None:
    app = week
    assert app.now() == simulate.DIGEST_AT
    with session_scope(app.engine) as session:
        d = digest.for_app(app, session, app.now())
        # Top campaign, counted independently: incidents of its spelling cluster, plus the week's traceback.
        canonical = dict(session.execute(select(col(CampaignName.name), col(CampaignName.canonical))).all())
        testcall = sum(
            1
            for (c,) in session.execute(select(col(Incident.campaign)))
            if canonical.get(c, c) == "TestCall-StaySafeStayHome"
        )
        incidents = session.execute(select(func.count()).select_from(Incident)).scalar_one()

    # Monday's digest covers the weekend: since Friday's digest.
    assert d.since == simulate.ny(13, 7).astimezone(simulate.NY)
    assert [(t["campaign"], t["provider"]) for t in d.new_tracebacks] == [
        ("Amazon-AuthorizeOrder", "Bluewave Telecom"),
        ("StudentLoan-Payments-P1", "Bluewave Telecom"),
        ("DebtRelief-ZeroTax", "Opextel, LLC"),
    ]
    assert [(h["provider"], h["age"], h["left"], h["reminders"]) for h in d.open_hops] == [
        ("Telcon Voice", "5.7 h", "18.3 h", 1),  # asked Fri 11:20: 5h40 of business time, reminded Fri
        ("Opextel, LLC", "0.0 h", "24.0 h", 0),  # asked Sunday evening: its clock starts Monday 9:00
    ]
    assert [(o["provider"], o["reminders"]) for o in d.overdue] == [("Silent Route VoIP", 3)]
    assert [e["provider"] for e in d.escalated] == ["Silent Route VoIP"]
    # Each decided by the desk from a carrier's emailed answer.
    assert [(r["kind"], r["provider"]) for r in d.reviews] == [
        ("dispute", "Keystone Networks"),
        ("unknown upstream", "Bluewave Telecom"),
        ("low confidence", "Telcon Voice"),
    ]
    assert "VoxRoute Global" in d.reviews[1]["detail"]
    # Each waiting item names its review id and the one command that settles it, by email and in a shell.
    unknown = d.reviews[1]
    assert unknown["settle"].email == f'resolve {unknown["id"]} upstream "VoxRoute Global" ADDRESS'
    assert unknown["settle"].cli == f'mailbot review resolve {unknown["id"]} upstream "VoxRoute Global" ADDRESS'
    assert len({r["id"] for r in d.reviews}) == 3
    assert [(c["provider"], c["old"], c["new"]) for c in d.status_changes] == [
        ("Lata 1 Communications Inc", "YELLOW", "RED")
    ]
    # The import, and the carriers' five emailed answers since Friday morning, plus one carrier's
    # YES to "We read your answer as ..." (an upstream new to the directory is confirmed first).
    assert {(i["origin"], i["status"]): i["count"] for i in d.imports} == {
        ("import", "parsed"): 308,
        ("import", "duplicate"): 1,
        ("import", "quarantined"): 2,
        ("smtp", "parsed"): 6,
    }
    assert sorted(q["reason"] for q in d.quarantined) == [
        "call-details block #12 has no readable fields",
        "no mail headers and no notice text: not an email",
    ]
    assert d.quarantined_total == 2
    # 30 days: the sample (stored Sunday) plus the week's tracebacks; the period (since Friday's
    # digest): the sample only, as TestCall's traceback was opened on Thursday.
    assert d.top_campaigns[0] == ("TestCall-StaySafeStayHome", testcall + 1) and testcall >= 30
    assert d.top_campaigns_period[0] == ("TestCall-StaySafeStayHome", testcall)
    assert len(d.top_campaigns) == digest.TOP_CAMPAIGNS and incidents > 250
    assert [s["provider"] for s in d.slowest][:2] == ["Telcon Voice", "Lata 1 Communications Inc"]
    assert d.slowest[0]["mean"] == "21.0 h"  # Wed 10:00 to Fri 15:00 in business hours
    assert d.needs_attention == 1 + 1 + 3 + 2

    text = digest.render_text(d)
    for heading in (
        "New tracebacks since Fri 13 Mar 07:00: 3",
        "Open hops: 2",
        "Overdue",
        "Escalated",
        "Replies waiting for a human: 3",
        "Provider status changes",
        "Mail stored",
        "Top campaigns",
        "Slowest to answer",
    ):
        assert heading in text
    assert "Lata 1 Communications Inc: YELLOW -> RED" in text
    assert f"review {unknown['id']} [unknown upstream]" in text and f"reply: {unknown['settle'].email}" in text
    assert "Top campaigns, last 30 days" in text


def test_digest_waits_only_on_open_tracebacks_and_counts_no_negative_time(week: App) -> None:
    app = week
    with session_scope(app.engine) as session:
        closed = session.scalars(select(Traceback).where(col(Traceback.status) == "closed")).first()
        assert closed is not None
        hop = session.scalars(select(Hop).where(col(Hop.traceback_id) == closed.id)).first()
        # A late correction on a closed traceback leaves an unresolved review: nothing waits on it.
        late = workflow.open_review(session, "correction", app.now(), "a late answer", hop=hop)
        stray = workflow.open_review(session, "unmatched", app.now(), "a forwarded notice")
        waiting = [r["id"] for r in digest.for_app(app, session, app.now()).reviews]
        # Before the Sunday hop was asked and long after every deadline: no duration is negative.
        early = digest.collect(session, app.rules, simulate.ny(15, 12))
        later = digest.collect(session, app.rules, simulate.DIGEST_AT + timedelta(days=20))
    assert stray.id in waiting and late.id not in waiting
    hours = [h[k] for d in (early, later) for h in d.open_hops for k in ("age", "left")]
    hours += [s["mean"] for d in (early, later) for s in d.slowest]
    assert hours and not [h for h in hours if h.startswith("-")]
    assert all(h["late"] and h["left"] == "0.0 h" for h in later.open_hops)


def _parts(msg: EmailMsg) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def test_scheduled_digest_mail_has_text_html_and_an_inline_chart(week: App) -> None:
    app = week
    with session_scope(app.engine) as session:
        rows = list(
            session.scalars(
                select(OutboxMessage).where(col(OutboxMessage.kind) == "digest").order_by(col(OutboxMessage.id))
            )
        )
    # One digest per business morning of the week (none on Saturday or Sunday), each once.
    assert [r.dedupe_key for r in rows] == [f"digest:2026-03-{day}" for day in ("09", "10", "11", "12", "13", "16")]
    monday = email.message_from_bytes(rows[-1].raw, policy=default_policy)
    assert rows[-1].recipients == ["ops@example.com", "noc-lead@example.com"]
    assert monday["Subject"] == "mailbot daily digest 2026-03-16: 7 item(s) need attention"
    assert _parts(monday) == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    plain_part, html_part = monday.get_body(("plain",)), monday.get_body(("html",))
    assert plain_part is not None and html_part is not None
    text, html = plain_part.get_content(), html_part.get_content()
    image = next(p for p in monday.walk() if p.get_content_type() == "image/png")
    assert "Silent Route VoIP" in text and "Silent Route VoIP" in html
    assert image["Content-ID"] == f"<{digest.CHART_CID}>" and f'src="cid:{digest.CHART_CID}"' in html
    assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script" not in html  # mail clients drop scripts; the digest needs none
    # Each waiting review with the line that settles it, in the HTML too.
    assert html.count("reply: <code>") == 3 and "shell: <code>mailbot review resolve " in html


def test_digest_command_prints_and_writes_a_browser_preview(week: App, tmp_path: Path) -> None:
    url = week.settings.database_url
    now = simulate.DIGEST_AT.isoformat()
    printed = CliRunner().invoke(main, ["--db", url, "--now", now, "digest", "--print"], catch_exceptions=False)
    assert printed.exit_code == 0 and "mailbot daily digest - 2026-03-16" in printed.output
    assert "Telcon Voice  waited 5.7 h, left 18.3 h" in printed.output
    preview = tmp_path / "digest.html"
    wrote = CliRunner().invoke(
        main, ["--db", url, "--now", now, "digest", "--html", str(preview)], catch_exceptions=False
    )
    assert wrote.exit_code == 0
    assert 'src="data:image/png;base64,' in preview.read_text()
    refused = CliRunner().invoke(main, ["--db", url, "digest"])
    assert refused.exit_code != 0 and "--print" in refused.output
