"""Each scheduler rule in simulated time: pure rules first, then through `mailbot tick`."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from mailbot.scheduler import jobs
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Hop, Provider, Traceback
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import select

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.cli import main
from mailbot.config import DEFAULTS
from mailbot.domain.status_rules import (
    GREEN,
    RED,
    YELLOW,
    HopClock,
    Identification,
    Request,
    Rules,
    TrafficLink,
    escalation_due,
    plan_hop,
    provider_status,
    status_change_recipients,
)
from mailbot.domain.timeutil import utc
from mailbot.testing import simulate

NY = ZoneInfo("America/New_York")
RULES = Rules.from_settings(DEFAULTS["schedule"])
MINUTE = timedelta(minutes=1)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


# --- reminders and no_response --------------------------------------------------------


def test_first_reminder_after_four_business_hours_then_daily() -> None:
    hop = HopClock(requested_at=ny(2026, 3, 10, 10, 0))  # Tuesday
    assert plan_hop(RULES, hop, ny(2026, 3, 10, 13, 59)).reminder is None
    at_four = plan_hop(RULES, hop, ny(2026, 3, 10, 14, 0))
    assert at_four.reminder == 1 and at_four.next_reminder_at == ny(2026, 3, 11, 14, 0)
    sent = HopClock(requested_at=hop.requested_at, reminders_sent=1)
    assert plan_hop(RULES, sent, ny(2026, 3, 11, 13, 59)).reminder is None
    assert plan_hop(RULES, sent, ny(2026, 3, 11, 14, 0)).reminder == 2


def test_reminders_skip_the_weekend() -> None:
    hop = HopClock(requested_at=ny(2026, 3, 13, 15, 0), reminders_sent=0)  # Friday 15:00
    assert plan_hop(RULES, hop, ny(2026, 3, 15, 12, 0)).reminder is None  # Sunday: 2h elapsed
    plan = plan_hop(RULES, hop, ny(2026, 3, 16, 11, 0))  # Monday 11:00 = 4 business hours
    assert plan.reminder == 1 and plan.due_at == ny(2026, 3, 18, 15, 0)


def test_holiday_moves_reminder_and_deadline() -> None:
    # Friday before Memorial Day (Mon 2026-05-25).
    hop = HopClock(requested_at=ny(2026, 5, 22, 14, 0))
    plan = plan_hop(RULES, hop, ny(2026, 5, 25, 12, 0))
    assert plan.reminder is None and plan.next_reminder_at == ny(2026, 5, 26, 10, 0)
    assert plan.due_at == ny(2026, 5, 28, 14, 0)  # Tue, Wed, Thu


def test_catch_up_after_downtime_is_one_reminder_not_a_burst() -> None:
    hop = HopClock(requested_at=ny(2026, 3, 9, 9, 0), reminders_sent=1)  # reminder 1 went Monday 13:00
    plan = plan_hop(RULES, hop, ny(2026, 3, 11, 16, 0))  # down Tue and most of Wed
    assert plan.reminder == 3  # only the latest; the key (hop, reminder, 3) is sent once
    assert plan.next_reminder_at == ny(2026, 3, 12, 9, 0)  # the deadline comes before reminder 4


def test_no_response_at_three_business_days_and_not_a_minute_before() -> None:
    hop = HopClock(requested_at=ny(2026, 3, 10, 10, 0), reminders_sent=2)
    assert not plan_hop(RULES, hop, ny(2026, 3, 13, 9, 59)).no_response
    at_deadline = plan_hop(RULES, hop, ny(2026, 3, 13, 10, 0))
    assert at_deadline.no_response and at_deadline.reminder is None


def test_reply_one_minute_before_the_deadline_stops_everything() -> None:
    due = ny(2026, 3, 13, 10, 0)
    hop = HopClock(requested_at=ny(2026, 3, 10, 10, 0), answered_at=due - MINUTE, reminders_sent=2)
    plan = plan_hop(RULES, hop, due)
    assert not plan.no_response and plan.reminder is None and plan.next_reminder_at is None


# --- escalation -------------------------------------------------------------------------


def _requests(*outcomes: str | None) -> list[Request]:
    start = ny(2026, 3, 2, 10, 0)
    return [Request(hop_id=i + 1, requested_at=start + timedelta(days=i), outcome=o) for i, o in enumerate(outcomes)]


def test_escalation_after_three_consecutive_no_responses() -> None:
    assert escalation_due(RULES, _requests("no_response", "no_response")) == []
    assert escalation_due(RULES, _requests("no_response", "no_response", "no_response")) == [3]
    # An answer in between breaks the run.
    assert escalation_due(RULES, _requests("no_response", "upstream", "no_response", "no_response")) == []
    # A still-open newer request does not hide a completed run...
    assert escalation_due(RULES, _requests("no_response", "no_response", "no_response", None)) == [3]
    # ...and silences after an open one wait for it to be decided.
    assert escalation_due(RULES, _requests("no_response", None, "no_response", "no_response")) == []
    assert escalation_due(RULES, _requests("no_response", "no_response", None, "no_response")) == []
    # One letter per K silences, not one for every further silence.
    assert escalation_due(RULES, _requests(*["no_response"] * 4)) == [3]
    assert escalation_due(RULES, _requests(*["no_response"] * 6)) == [3, 6]


# --- status (Appendix D) ------------------------------------------------------------------


def _found(campaign: str, day: int) -> Identification:
    at = ny(2026, 3, day, 12, 0)
    return Identification(campaign=campaign, notified_at=at, identified_at=at + timedelta(hours=3))


def test_yellow_then_red_for_a_second_campaign() -> None:
    now = ny(2026, 3, 30, 12, 0)
    assert provider_status(RULES, [], now) == GREEN
    assert provider_status(RULES, [_found("IRS-Scam", 2)], now) == YELLOW
    assert provider_status(RULES, [_found("IRS-Scam", 2), _found("Auto-Warranty", 3)], now) == RED


def test_same_campaign_red_only_after_n_days() -> None:
    now = ny(2026, 3, 30, 12, 0)
    assert provider_status(RULES, [_found("IRS-Scam", 2), _found("irs-scam ", 11)], now) == YELLOW  # 9 days
    assert provider_status(RULES, [_found("IRS-Scam", 2), _found("IRS-Scam", 12)], now) == RED  # 10 days


def test_status_window_forgets_old_identifications() -> None:
    found = [_found("IRS-Scam", 2), _found("Auto-Warranty", 3)]
    assert provider_status(RULES, found, ny(2026, 5, 1, 12, 0)) == RED
    assert provider_status(RULES, found, ny(2026, 5, 2, 12, 0)) == YELLOW  # the first is past 60 days
    assert provider_status(RULES, found, ny(2026, 5, 3, 12, 0)) == GREEN


def test_change_in_status_goes_to_recent_downstream_providers_only() -> None:
    now = ny(2026, 3, 30, 12, 0)
    links = [
        TrafficLink(downstream_id=1, upstream_id=9, at=now - timedelta(days=3)),
        TrafficLink(downstream_id=2, upstream_id=9, at=now - timedelta(days=90)),  # long ago
        TrafficLink(downstream_id=3, upstream_id=8, at=now - timedelta(days=1)),  # someone else's
        TrafficLink(downstream_id=4, upstream_id=9, at=now - timedelta(days=59)),
    ]
    assert status_change_recipients(RULES, links, 9, now) == [1, 4]


# --- the same rules through the store and `mailbot tick` ------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Outbound mail into a Maildir under tmp_path; no config.toml read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    return tmp_path / "outbox"


def _app(db_url: str) -> App:
    return build_app(config_module.load(None, db_url))


def _world(app: App, *events: simulate.Event) -> simulate.World:
    """Providers, then the events (tracebacks opened by the desk, answers by email)."""
    with session_scope(app.engine) as session:
        world = simulate.World(providers=simulate.add_providers(session), tracebacks={}, hops={})
    for _at, run in events:
        run(app, world)
    return world


SCHEDULED = ("reminder", "non_responsive", "upstream_not_responded")  # the scheduler's hop notices


def _keys(app: App) -> list[str]:
    """Dedupe keys of the notices the scheduler queued (the desk's requests and acknowledgements left out)."""
    with session_scope(app.engine) as session:
        keys = session.scalars(select(OutboxMessage.dedupe_key))
        return sorted(k for k in keys if not k.startswith("hop:") or k.split(":")[2] in SCHEDULED)


def _tick(db_url: str, now: datetime) -> dict[str, int]:
    result = CliRunner().invoke(main, ["--db", db_url, "--now", now.isoformat(), "tick"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import json

    return json.loads(result.stdout)


def test_tick_reminds_then_ends_the_traceback_no_response(db_url: str, env: Path) -> None:
    app = _app(db_url)
    world = _world(
        app,
        simulate.open_traceback("tb", "bluewave", "Tax-Debt-P1", ny(2026, 3, 9, 9, 0)),
        simulate.answer("tb", 0, ny(2026, 3, 10, 10, 0), "upstream", "silent"),
    )
    silent_hop = world.hops[("tb", 1)]
    assert _tick(db_url, ny(2026, 3, 10, 13, 59))["reminders"] == 0
    assert _tick(db_url, ny(2026, 3, 10, 14, 0))["reminders"] == 1
    assert _tick(db_url, ny(2026, 3, 10, 14, 0))["reminders"] == 0  # a restart re-runs: nothing new
    assert _tick(db_url, ny(2026, 3, 11, 14, 0))["reminders"] == 1
    done = _tick(db_url, ny(2026, 3, 13, 10, 0))  # Thursday's reminder was missed; the deadline wins
    assert done["no_response"] == 1 and done["reminders"] == 0
    keys = _keys(app)
    assert [k for k in keys if k.startswith("hop:")] == sorted(
        [
            f"hop:{silent_hop}:reminder:1",
            f"hop:{silent_hop}:reminder:2",
            f"hop:{silent_hop}:non_responsive:0",
            f"hop:{silent_hop}:upstream_not_responded:0",
        ]
    )
    # Marked as the originator of a silent traceback, Silent Route turns YELLOW; Bluewave took its traffic.
    assert [k for k in keys if k.startswith("status:")] == [
        f"status:1:status_change:{world.providers['bluewave']}",
        "status:1:status_yellow",
    ]
    with session_scope(app.engine) as session:
        hop = session.get(Hop, silent_hop)
        tb = session.get(Traceback, hop.traceback_id)
        assert (hop.outcome, tb.status, tb.result) == ("no_response", "closed", "no_response")
    # Delivered (tick sends what the outbox holds): the downstream provider hears about its upstream.
    sent = {
        email.message_from_bytes(p.read_bytes())["X-Mailbot-Notice"]: email.message_from_bytes(p.read_bytes())
        for p in (env / "new").iterdir()
    }
    # The desk's letters (request to each provider, acknowledgement of Bluewave's answer), then the scheduler's.
    assert set(sent) == {
        "first_contact",
        "acknowledgement",
        "reminder",
        "non_responsive",
        "upstream_not_responded",
        "status_yellow",
        "status_change",
    }
    assert sent["upstream_not_responded"]["To"] == "noc@bluewave.example"
    assert "Silent Route VoIP" in sent["upstream_not_responded"]["Subject"]
    assert sent["non_responsive"]["To"] == "noc@silent.example"
    assert sent["reminder"]["Reply-To"].startswith("traceback+")  # replies find their hop


def _letters(outbox: Path) -> dict[str, email.message.EmailMessage]:
    """The delivered notices by kind, parsed with the modern policy (text bodies decoded)."""
    letters = {}
    for path in (outbox / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        letters[str(msg["X-Mailbot-Notice"])] = msg
    return letters


def _text(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_letters_name_the_desk_its_contact_the_deadline_zone_and_what_caused_a_status(
    db_url: str, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILBOT_MAIL_ORGANIZATION", "Robocall Response Team of Example State")
    monkeypatch.setenv("MAILBOT_MAIL_CONTACT", "Dana Ortiz <dana@desk.example>, +1 202 555 0147")
    app = _app(db_url)
    world = _world(
        app,
        simulate.open_traceback("tb", "bluewave", "Tax-Debt-P1", ny(2026, 3, 9, 9, 0)),
        simulate.answer("tb", 0, ny(2026, 3, 10, 10, 0), "upstream", "silent"),
    )
    assert _tick(db_url, ny(2026, 3, 13, 10, 0))["no_response"] == 1
    letters = _letters(env)
    assert {"first_contact", "non_responsive", "status_yellow", "status_change"} <= set(letters)
    for kind, msg in letters.items():
        for body in (_text(msg), msg.get_body(("html",)).get_content()):  # type: ignore[union-attr]
            assert "ROBOCALL RESPONSE TEAM OF EXAMPLE STATE" in body, kind
            assert "Dana Ortiz" in body and "dana@desk.example" in body and "+1 202 555 0147" in body, kind
    # The deadline in UTC and on the desk's business clock (providers have no zone of their own).
    [request] = [" ".join(_text(m).split()) for m in letters.values() if "no later than" in _text(m)]
    found = re.search(r"no later than (\S+ \S+) UTC \((\d\d:\d\d) (E[DS]T), America/New_York\)", request)
    assert found, request
    due = datetime.fromisoformat(found[1]).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("America/New_York"))
    assert (f"{due:%H:%M}", due.tzname()) == (found[2], found[3])
    with session_scope(app.engine) as session:
        traceback_id = session.get(Hop, world.hops[("tb", 1)]).traceback_id
    # YELLOW: which traceback, in which role, made it so; and how to contest.
    yellow = " ".join(_text(letters["status_yellow"]).split())
    assert (
        f"Traceback #{traceback_id}: no answer to the request, so taken as the Originator, campaign Tax-Debt-P1"
        in yellow
    )
    assert "To contest:" in yellow and "or write to Dana Ortiz <dana@desk.example>" in yellow


@pytest.mark.parametrize("answered", [True, False], ids=["answered_a_minute_before", "silent"])
def test_reply_one_minute_before_the_escalation(db_url: str, env: Path, answered: bool) -> None:
    """Two silences already; the third request is answered a minute before it would be the third."""
    app = _app(db_url)
    world = _world(
        app,
        *(
            simulate.open_traceback(name, "silent", "Tax-Debt-P1", ny(2026, 3, day, 10, 0))
            for name, day in (("one", 2), ("two", 3), ("three", 10))
        ),
    )
    _tick(db_url, ny(2026, 3, 6, 10, 0))  # "one" and "two" are past their deadlines
    due = ny(2026, 3, 13, 10, 0)  # "three"'s deadline: it would complete a run of three
    _tick(db_url, due - timedelta(hours=1))
    if answered:
        simulate.answer("three", 0, due - MINUTE, "not_found")[1](app, world)  # by email, as carriers do
    done = _tick(db_url, due)
    three = world.hops[("three", 0)]
    keys = _keys(app)
    if answered:
        assert done["no_response"] == 0 and done["escalations"] == 0
        assert not [k for k in keys if ":escalation:" in k or k == f"hop:{three}:non_responsive:0"]
    else:
        assert done["no_response"] == 1 and done["escalations"] == 1
        assert f"provider:{world.providers['silent']}:escalation:{three}" in keys
    with session_scope(app.engine) as session:
        assert session.get(Hop, three).outcome == ("not_found" if answered else "no_response")


def test_catch_up_after_downtime_sends_one_reminder(db_url: str, env: Path) -> None:
    app = _app(db_url)
    world = _world(app, simulate.open_traceback("tb", "silent", "Tax-Debt-P1", ny(2026, 3, 9, 9, 0)))
    done = _tick(db_url, ny(2026, 3, 11, 16, 0))  # first run since Monday morning
    assert done["reminders"] == 1
    assert _keys(app) == [f"hop:{world.hops[('tb', 0)]}:reminder:3"]


def test_weekend_and_memorial_day_hold_the_clock(db_url: str, env: Path) -> None:
    app = _app(db_url)
    requested = ny(2026, 5, 22, 14, 0)  # the Friday before Memorial Day
    world = _world(app, simulate.open_traceback("tb", "silent", "Tax-Debt-P1", utc(requested)))
    app.fixed_now = requested
    sent_at: dict[str, datetime] = {}
    while app.now() <= ny(2026, 5, 28, 15, 0):
        jobs.run_due(app)
        for key in _keys(app):
            sent_at.setdefault(key, app.now())
        app.fixed_now = app.now() + timedelta(hours=1)
    hop = world.hops[("tb", 0)]
    assert sent_at == {
        f"hop:{hop}:reminder:1": ny(2026, 5, 26, 10, 0),  # 2h Friday + 2h Tuesday (Mon is a holiday)
        f"hop:{hop}:reminder:2": ny(2026, 5, 27, 10, 0),
        f"hop:{hop}:reminder:3": ny(2026, 5, 28, 10, 0),
        f"hop:{hop}:non_responsive:0": ny(2026, 5, 28, 14, 0),  # Tue, Wed, Thu
        "status:1:status_yellow": ny(2026, 5, 28, 14, 0),  # marked originator of that traceback
    }


def test_simulated_week_escalates_and_rates_providers(db_url: str, env: Path) -> None:
    app = _app(db_url)
    world = simulate.run_week(app, step=timedelta(hours=1))
    keys = _keys(app)
    silent, lata1 = world.providers["silent"], world.providers["lata1"]
    # Three silent hops in a row: one escalation letter, keyed on the third.
    assert [k for k in keys if ":escalation:" in k] == [f"provider:{silent}:escalation:{world.hops[('utility', 1)]}"]
    with session_scope(app.engine) as session:
        statuses = {p.name: p.status for p in session.scalars(select(Provider))}
        changes = [
            (c.provider_id, c.old_status, c.new_status)
            for c in session.scalars(select(jobs.StatusChange).order_by(jobs.StatusChange.id))
        ]
    assert statuses["Lata 1 Communications Inc"] == "RED"  # origin for two campaigns
    assert statuses["Bluewave Telecom"] == "GREEN"
    assert (lata1, "GREEN", "YELLOW") in changes and (lata1, "YELLOW", "RED") in changes
    red = next(i + 1 for i, c in enumerate(changes) if c == (lata1, "YELLOW", "RED"))
    # The RED notice to Lata 1, and change-in-status to both providers that took its traffic.
    assert f"status:{red}:status_red" in keys
    assert {k for k in keys if k.startswith(f"status:{red}:status_change:")} == {
        f"status:{red}:status_change:{world.providers['opextel']}",
        f"status:{red}:status_change:{world.providers['telcon']}",
    }


def test_digest_after_downtime_is_one_send_for_today(db_url: str, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_OPS_EMAIL", "ops@example.com")
    app = _app(db_url)
    app.fixed_now = ny(2026, 3, 9, 6, 59)
    assert jobs.run_due(app).digests == 0  # before digest_time
    app.fixed_now = ny(2026, 3, 9, 8, 0)
    assert jobs.run_due(app).digests == 1
    assert jobs.run_due(app).digests == 0  # a second run (or instance) the same day
    app.fixed_now = ny(2026, 3, 13, 15, 0)  # down Tuesday to Friday afternoon
    assert jobs.run_due(app).digests == 1
    app.fixed_now = ny(2026, 3, 14, 8, 0)  # Saturday: ops read it on business days
    assert jobs.run_due(app).digests == 0
    assert [k for k in _keys(app) if k.startswith("digest:")] == ["digest:2026-03-09", "digest:2026-03-13"]
