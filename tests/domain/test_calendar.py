"""The business clock: hours and days in New York, weekends and federal holidays off."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.config import DEFAULTS
from mailbot.domain.calendar import BusinessCalendar

NY = ZoneInfo("America/New_York")
CAL = BusinessCalendar.from_settings(DEFAULTS["schedule"])


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def test_four_business_hours_inside_one_day() -> None:
    assert CAL.add_hours(ny(2026, 3, 10, 9, 30), 4) == ny(2026, 3, 10, 13, 30)


def test_hours_roll_over_the_weekend() -> None:
    # Friday 15:00 + 4h = 2h Friday + 2h Monday.
    assert CAL.add_hours(ny(2026, 3, 13, 15, 0), 4) == ny(2026, 3, 16, 11, 0)


def test_request_sent_at_night_counts_from_next_opening() -> None:
    assert CAL.add_hours(ny(2026, 3, 10, 22, 0), 4) == ny(2026, 3, 11, 13, 0)
    assert CAL.add_days(ny(2026, 3, 14, 10, 0), 3) == ny(2026, 3, 19, 9, 0)  # Saturday -> Monday 9:00 + 3


def test_federal_holiday_is_not_a_business_day() -> None:
    # Monday 2026-05-25 is Memorial Day: Friday 10:00 + 1 business day is Tuesday 10:00.
    assert CAL.holiday_name(ny(2026, 5, 25).date()) == "Memorial Day"
    assert CAL.add_days(ny(2026, 5, 22, 10, 0), 1) == ny(2026, 5, 26, 10, 0)
    # Observed holidays count: 2026-07-03 (Friday) is Independence Day observed.
    assert not CAL.is_business_day(ny(2026, 7, 3).date())
    assert CAL.add_days(ny(2026, 7, 2, 16, 0), 1) == ny(2026, 7, 6, 16, 0)


def test_three_business_days_across_thanksgiving() -> None:
    # Wednesday before Thanksgiving: Thu is a holiday, then Fri, Mon, Tue.
    assert CAL.add_days(ny(2026, 11, 25, 11, 0), 3) == ny(2026, 12, 1, 11, 0)


def test_deadline_keeps_local_time_across_daylight_saving() -> None:
    # DST starts Sunday 2026-03-08: Friday 10:00 EST + 1 day = Monday 10:00 EDT.
    due = CAL.add_days(ny(2026, 3, 6, 10, 0), 1)
    assert due == ny(2026, 3, 9, 10, 0)
    assert due.astimezone(UTC).hour == 14  # not 15, as a naive 24h step would give


def test_business_hours_between() -> None:
    assert CAL.business_hours_between(ny(2026, 3, 13, 15, 0), ny(2026, 3, 16, 11, 0)) == 4
    assert CAL.business_hours_between(ny(2026, 3, 14, 0, 0), ny(2026, 3, 15, 23, 0)) == 0
    assert CAL.business_hours_between(ny(2026, 3, 16, 11, 0), ny(2026, 3, 13, 15, 0)) == -4


def test_configured_zone_hours_and_days() -> None:
    cal = BusinessCalendar.from_settings(
        {"timezone": "Europe/London", "business_start": "08:00", "business_end": "12:00", "business_days": ["sat"]}
    )
    start = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)  # a Friday
    assert cal.add_hours(start, 5) == datetime(2026, 3, 21, 9, 0, tzinfo=ZoneInfo("Europe/London"))


def test_bad_settings_are_refused_and_naive_times_are_utc() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar.from_settings({"business_start": "17:00", "business_end": "09:00"})
    # SQLite returns stored (UTC) times naive: 14:00 UTC is 10:00 in New York (EDT).
    assert CAL.add_hours(datetime(2026, 3, 10, 14, 0), 1) == ny(2026, 3, 10, 11, 0)


def test_now_option_is_kept_in_utc() -> None:
    """`--now` with a New York offset means the same instant, stored as UTC (SQLite keeps no offset)."""
    from mailbot.app import parse_now

    moment = parse_now("2026-03-10T10:00-04:00")
    assert moment is not None
    offset = moment.utcoffset()
    assert moment == ny(2026, 3, 10, 10, 0) and offset is not None and offset.total_seconds() == 0
    assert parse_now("2026-03-10T14:00") == ny(2026, 3, 10, 10, 0)
