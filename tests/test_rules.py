"""Each scheduler rule in simulated time: pure rules first, then through `mailbot tick`."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.config import DEFAULTS
from scheduler.rules import (
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
    assert escalation_due(RULES, _requests("no_response", "no_response")) is None
    assert escalation_due(RULES, _requests("no_response", "no_response", "no_response")) == 3
    # An answer in between breaks the run.
    assert escalation_due(RULES, _requests("no_response", "upstream", "no_response", "no_response")) is None
    # A still-open newer request does not hide a completed run.
    assert escalation_due(RULES, _requests("no_response", "no_response", "no_response", None)) == 3
    # The next letter comes at 2K, not on every further silence.
    assert escalation_due(RULES, _requests(*["no_response"] * 4)) is None
    assert escalation_due(RULES, _requests(*["no_response"] * 6)) == 6


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
    links = [TrafficLink(downstream_id=1, upstream_id=9, at=now - timedelta(days=3)),
             TrafficLink(downstream_id=2, upstream_id=9, at=now - timedelta(days=90)),  # long ago
             TrafficLink(downstream_id=3, upstream_id=8, at=now - timedelta(days=1)),  # someone else's
             TrafficLink(downstream_id=4, upstream_id=9, at=now - timedelta(days=59))]
    assert status_change_recipients(RULES, links, 9, now) == [1, 4]
