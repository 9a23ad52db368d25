"""The business clock: business hours and days in one time zone, US federal holidays off.

Deadlines are computed here and nowhere else. Times in may be aware (any zone) or
naive UTC (as SQLite returns stored times); times out are aware, in the calendar's
zone, where the arithmetic happens, so a deadline keeps its local wall-clock time
across a daylight-saving change. Store them with `timeutil.utc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from mailbot.domain.timeutil import utc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    workdays: frozenset[int] = frozenset(range(5))  # Monday=0 .. Friday=4
    # Federal ("public") holidays with their observed days; grows its years on lookup.
    days_off: holidays.HolidayBase = field(default_factory=lambda: holidays.country_holidays("US"))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> BusinessCalendar:
        """Built from the `[schedule]` config section."""
        days = [WEEKDAYS.index(d.strip().lower()[:3]) for d in settings.get("business_days", WEEKDAYS[:5])]
        calendar = cls(
            zone=ZoneInfo(settings.get("timezone", "America/New_York")),
            opens=_parse_time(settings.get("business_start", "09:00")),
            closes=_parse_time(settings.get("business_end", "17:00")),
            workdays=frozenset(days),
            days_off=holidays.country_holidays(settings.get("holiday_country", "US")),
        )
        if calendar.opens >= calendar.closes or not calendar.workdays:
            raise ValueError("[schedule] needs business_start before business_end and at least one business day")
        return calendar

    @property
    def hours_per_day(self) -> float:
        return (self._at(date(2000, 1, 3), self.closes) - self._at(date(2000, 1, 3), self.opens)).total_seconds() / 3600

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.days_off

    def holiday_name(self, day: date) -> str | None:
        return self.days_off.get(day)

    def local(self, moment: datetime) -> datetime:
        return utc(moment).astimezone(self.zone)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone)

    def _next_business_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if the office is open then, else the next opening time."""
        here = self.local(moment)
        day = here.date()
        if self.is_business_day(day):
            if here.time() < self.opens:
                return self._at(day, self.opens)
            if here.time() < self.closes:
                return here
        return self._at(self._next_business_day(day), self.opens)

    def add_hours(self, moment: datetime, hours: float) -> datetime:
        """The moment `hours` business hours after `moment` (open time only counts)."""
        left = timedelta(hours=hours)
        here = self.next_open(moment)
        while True:
            closing = self._at(here.date(), self.closes)
            if here + left <= closing:
                return here + left
            left -= closing - here
            here = self._at(self._next_business_day(here.date()), self.opens)

    def add_days(self, moment: datetime, days: int) -> datetime:
        """The same business time of day, `days` business days later.

        A moment outside business hours counts from the next opening, so a request
        sent on Saturday is due as if sent at Monday's opening.
        """
        here = self.next_open(moment)
        day = here.date()
        for _ in range(days):
            day = self._next_business_day(day)
        return self._at(day, here.time())

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Open hours elapsed from `start` to `end` (negative when end is before start)."""
        start, end = utc(start), utc(end)
        if end < start:
            return -self.business_hours_between(end, start)
        total = timedelta()
        here = self.next_open(start)
        end = self.local(end)
        while here < end:
            closing = self._at(here.date(), self.closes)
            total += min(closing, end) - here
            here = self._at(self._next_business_day(here.date()), self.opens)
        return total.total_seconds() / 3600
