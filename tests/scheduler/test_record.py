"""Non-Cooperative designation and the record for enforcement, over the simulated week.

The week (mailbot.testing.simulate) answers by real email through the live pipeline and
ticks the real scheduler: Silent Route never answers three requests, Lata 1 is the
originator for two campaigns. Then a month passes with nothing from either.
"""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import re
import shutil
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from mailbot.scheduler import digest, jobs
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Hop, HopMessage
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage
from mailbot.store.tables.schedule import NonCooperativeChange
from sqlalchemy import select
from sqlmodel import col

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.archive import report
from mailbot.cli import main
from mailbot.desk import providers
from mailbot.testing import simulate


@pytest.fixture
def week(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    monkeypatch.setenv("MAILBOT_OPS_EMAIL", "ops@example.com")
    monkeypatch.setenv("MAILBOT_DATABASE_URL", db_url)
    app = build_app(config_module.load(None, db_url))
    simulate.run_week(app, step=timedelta(hours=1))
    return app


def cli(app: App, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["--db", str(app.settings.database_url), "--now", app.now().isoformat(), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def letters(app: App, kind: str) -> list[tuple[list[str], str]]:
    with session_scope(app.engine) as session:
        rows = session.execute(
            select(col(OutboxMessage.recipients), col(OutboxMessage.raw))
            .where(col(OutboxMessage.kind) == kind)
            .order_by(col(OutboxMessage.id))
        ).all()
    out = []
    for to, raw in rows:
        body = email.message_from_bytes(bytes(raw), policy=default_policy).get_body(preferencelist=("plain",))
        assert body is not None
        out.append((list(to), body.get_content()))
    return out


def test_designated_by_the_rules_then_removed_after_the_clean_period(week: App) -> None:
    app = week
    with session_scope(app.engine) as session:
        rows = [
            (r.provider_id, r.action, [f["rule"] for f in r.findings], r.traceback_ids)
            for r in session.scalars(select(NonCooperativeChange).order_by(col(NonCooperativeChange.id)))
        ]
    world_tb = {name: i + 1 for i, name in enumerate(["apple", "tax", "hotel", "utility", "ssa"])}
    silent, lata = 4, 3  # the week adds providers in simulate.PROVIDERS order
    assert rows == [
        (silent, "designated", ["non_responsive"], [world_tb["tax"], world_tb["hotel"], world_tb["utility"]]),
        (lata, "designated", ["multiple_campaigns"], [world_tb["apple"], world_tb["ssa"]]),
    ]
    sent = letters(app, "noncooperative_designated")
    assert [to for to, _ in sent] == [["noc@silent.example"], ["noc@lata1.example"]]
    assert "3 consecutive traceback requests unanswered (Tracebacks #2, #3, #4)" in sent[0][1]
    assert "Apple-iCloud-AccountBreached" in sent[1][1] and "#1, #5" in sent[1][1]

    listed = json.loads(cli(app, "providers", "list", "--non-cooperative", "--format", "json"))
    assert [(r["provider"], r["traceback_ids"]) for r in listed] == [
        ("Lata 1 Communications Inc", [1, 5]),
        ("Silent Route VoIP", [2, 3, 4]),
    ]
    published = list(csv.DictReader(io.StringIO(cli(app, "export", "noncooperative", "--format", "csv"))))
    assert [(r["provider"], r["action"], r["traceback_ids"]) for r in published] == [
        ("Silent Route VoIP", "designated", "2 3 4"),
        ("Lata 1 Communications Inc", "designated", "1 5"),
    ]

    # The digest of the designations' day (Friday) lists them; Monday's covers since Friday's digest.
    with session_scope(app.engine) as session:
        d = digest.for_app(app, session, simulate.ny(16, 7))
        text = digest.render_text(d)
    assert [(n["provider"], n["action"]) for n in d.noncooperative] == [
        ("Silent Route VoIP", "designated"),
        ("Lata 1 Communications Inc", "designated"),
    ]
    assert "Non-Cooperative designations and removals" in text and "Silent Route VoIP: designated" in text

    # Nothing from either for the clean period (30 days from Friday's designations): both are removed, once.
    jobs.replay(app, simulate.ny(13, 9) + timedelta(days=29), step=timedelta(hours=12))
    assert json.loads(cli(app, "providers", "list", "--non-cooperative", "--format", "json")) != []
    jobs.replay(app, app.now() + timedelta(days=3), step=timedelta(hours=12))
    assert json.loads(cli(app, "providers", "list", "--non-cooperative", "--format", "json")) == []
    with session_scope(app.engine) as session:
        actions = [
            (r.provider_id, r.action)
            for r in session.scalars(select(NonCooperativeChange).order_by(col(NonCooperativeChange.id)))
        ]
    assert sorted(actions[2:]) == [(lata, "removed"), (silent, "removed")]
    assert sorted(to for to, _ in letters(app, "noncooperative_removed")) == [
        ["noc@lata1.example"],
        ["noc@silent.example"],
    ]


def test_report_carries_the_path_and_every_message_with_its_hash(week: App, tmp_path: Path) -> None:
    app = week
    tb = 1  # the Apple traceback: three hops down to the originator, Lata 1
    out = tmp_path / "report.html"
    cli(app, "traceback", "report", str(tb), "--html", str(out))
    html = out.read_text()
    with session_scope(app.engine) as session:
        hop_ids = list(session.scalars(select(col(Hop.id)).where(col(Hop.traceback_id) == tb)))
        outgoing = session.execute(
            select(col(OutboxMessage.message_id), col(OutboxMessage.raw)).where(col(OutboxMessage.hop_id).in_(hop_ids))
        ).all()
        incoming = session.execute(
            select(col(HopMessage.message_id), col(Message.raw))
            .join(Message, col(Message.id) == HopMessage.message_pk)
            .where(col(HopMessage.hop_id).in_(hop_ids))
        ).all()
        record = report.collect(session, tb, app.now())
    assert len(outgoing) >= 6 and len(incoming) == 3  # requests and acknowledgements; three answers
    for message_id, raw in [*outgoing, *incoming]:
        digest_hex = hashlib.sha256(bytes(raw)).hexdigest()
        row = re.search(
            re.escape(str(message_id).replace("<", "&lt;").replace(">", "&gt;"))
            + r"</div><div class=\"hash\">([0-9a-f]{64})",
            html,
        )
        assert row is not None, f"{message_id} is not in the report"
        assert row.group(1) == digest_hex
    assert record["all_verified"] and "Every stored message matches its hash." in html
    # The call path: each hop's provider and label, who answered.
    assert [(h["provider"], h["label"], h["answered_by"]) for h in record["hops"]] == [
        ("Bluewave Telecom", None, "noc@bluewave.example"),
        ("Opextel, LLC", None, "noc@opextel.example"),
        ("Lata 1 Communications Inc", "us_origin", "noc@lata1.example"),
    ]
    assert "us origin" in html and "Sunrise Solar Marketing LLC" in html and "+12025550143" in html
    # Lata 1's provider notices (its status letters and the designation) are in the record too.
    assert {"status_yellow", "noncooperative_designated"} <= {n["kind"] for n in record["provider_notices"]}
    assert [d["action"] for d in record["designations"]] == ["designated"]

    # A stored message altered after arrival shows as a mismatch.
    with session_scope(app.engine) as session:
        message = session.get(
            Message, session.scalar(select(col(HopMessage.message_pk)).where(col(HopMessage.hop_id).in_(hop_ids)))
        )
        assert message is not None
        message.raw = bytes(message.raw) + b"tampered"
        session.add(message)
    with session_scope(app.engine) as session:
        assert not report.collect(session, tb, app.now())["all_verified"]

    both = cli(app, "traceback", "report", "--campaign", "Apple-iCloud-AccountBreached")
    assert both.count('<section class="record">') == 1 and "Traceback #1" in both
    if shutil.which("chromium"):
        pdf = tmp_path / "report.pdf"
        cli(app, "traceback", "report", str(tb), "--pdf", str(pdf))
        assert pdf.read_bytes().startswith(b"%PDF")


def test_a_silent_provider_with_a_backup_is_warned_at_every_contact_before_designation(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    app = build_app(config_module.load(None, sqlite_url))

    def add_backup(app: App, world: simulate.World) -> None:
        with session_scope(app.engine) as session:
            providers.add(session, simulate.PROVIDERS["silent"], backups=["backup@silent.example"])

    simulate.run_week(
        app,
        step=timedelta(hours=1),
        events=sorted([*simulate.week(), (simulate.ny(9, 8, 30), add_backup)], key=lambda e: e[0]),
    )
    # The requests went to the dedicated contact only: the final warning goes to both first.
    warned = letters(app, "noncooperative_warning")
    assert [sorted(to) for to, _ in warned] == [["backup@silent.example", "noc@silent.example"]]
    assert "3 consecutive traceback requests" in warned[0][1]
    with session_scope(app.engine) as session:
        designated = {r.provider_id: r.at for r in session.scalars(select(NonCooperativeChange))}
    assert 4 not in designated  # Silent Route: not yet, its grace runs three business days
    jobs.replay(app, simulate.ny(18, 12), step=timedelta(hours=1))
    with session_scope(app.engine) as session:
        silent = session.scalars(select(NonCooperativeChange).where(col(NonCooperativeChange.provider_id) == 4)).all()
    assert [(r.action, [f["rule"] for f in r.findings]) for r in silent] == [("designated", ["non_responsive"])]
    # Warned on Friday the 13th: three business days later is Wednesday the 18th.
    assert silent[0].at is not None
    assert silent[0].at.replace(tzinfo=None) >= simulate.ny(18, 0).replace(tzinfo=None)
    assert len(letters(app, "noncooperative_warning")) == 1
