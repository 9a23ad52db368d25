"""The scheduler's rules as pure functions: plain rows and a time in, what is due out.

Nothing here reads the database or sends mail; `scheduler.jobs` feeds rows in and
carries the answers out. Each notice a rule asks for has a sequence number so the
sender can make it exactly-once (hop, kind, sequence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailbot.domain.calendar import BusinessCalendar
from mailbot.domain.vocabulary import HopOutcome, ProviderStatus

GREEN, YELLOW, RED = ProviderStatus.GREEN, ProviderStatus.YELLOW, ProviderStatus.RED


@dataclass(frozen=True)
class Rules:
    calendar: BusinessCalendar
    reminder_after_hours: float = 4
    no_response_after_days: int = 3
    escalate_after: int = 3
    status_window: timedelta = timedelta(days=60)
    red_same_campaign: timedelta = timedelta(days=10)
    # Hop labels (mailbot.hop_labels) that identify a provider as originator or U.S. point
    # of entry; the non-responsive letter says a silent provider is marked as the originator.
    status_labels: frozenset[str] = frozenset({"us_origin", "international_origin", "us_poe", HopOutcome.NO_RESPONSE})

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Rules:
        return cls(
            calendar=BusinessCalendar.from_settings(settings),
            reminder_after_hours=float(settings["reminder_after_hours"]),
            no_response_after_days=int(settings["no_response_after_days"]),
            escalate_after=int(settings["escalate_after"]),
            status_window=timedelta(days=float(settings["status_window_days"])),
            red_same_campaign=timedelta(days=float(settings["red_same_campaign_days"])),
            status_labels=frozenset(settings["status_labels"]),
        )


# --- one hop: reminders, then no_response ---------------------------------------------


@dataclass(frozen=True)
class HopClock:
    """What the rules need of a hop."""

    requested_at: datetime
    answered_at: datetime | None = None
    reminders_sent: int = 0  # the sequence number of the last reminder sent


@dataclass(frozen=True)
class HopPlan:
    due_at: datetime  # when the hop becomes no_response
    reminder: int | None  # sequence number of the reminder to send now, if any
    no_response: bool  # the deadline has passed unanswered
    next_reminder_at: datetime | None  # the next time this hop needs the scheduler


def deadline(rules: Rules, requested_at: datetime) -> datetime:
    return rules.calendar.add_days(requested_at, rules.no_response_after_days)


def reminder_at(rules: Rules, requested_at: datetime, seq: int) -> datetime:
    """When reminder `seq` (1, 2, ...) falls due: after N business hours, then once per business day."""
    first = rules.calendar.add_hours(requested_at, rules.reminder_after_hours)
    return rules.calendar.add_days(first, seq - 1) if seq > 1 else first


def plan_hop(rules: Rules, hop: HopClock, now: datetime) -> HopPlan:
    """What is due on an unanswered hop at `now`.

    After downtime only the latest overdue reminder is due (one catch-up send, not
    a burst); none is due once the deadline has passed.
    """
    due = deadline(rules, hop.requested_at)
    if hop.answered_at is not None and hop.answered_at <= now:
        return HopPlan(due, None, False, None)
    if now >= due:
        return HopPlan(due, None, True, None)
    seq = 0
    while reminder_at(rules, hop.requested_at, seq + 1) <= now:
        seq += 1
    following = reminder_at(rules, hop.requested_at, max(seq, hop.reminders_sent) + 1)
    upcoming = min(following, due)  # the deadline itself also needs a visit
    return HopPlan(due, seq if seq > hop.reminders_sent else None, False, upcoming)


# --- a provider: escalation after K consecutive unanswered requests ---------------------


@dataclass(frozen=True)
class Request:
    hop_id: int
    requested_at: datetime
    outcome: str | None  # None while the hop is open


def escalation_due(rules: Rules, requests: Iterable[Request]) -> list[int]:
    """Every hop that is the K-th (2K-th, ...) of a run of consecutive no_response requests.

    Only the requests before the first still-open one count: whether a later silence
    continues a run is not known until the open one is decided. So the answer does
    not depend on the order in which two instances decide hops; the letter is keyed
    on the hop, so asking again is harmless.
    """
    due, run = [], 0
    for request in sorted(requests, key=lambda r: (r.requested_at, r.hop_id)):
        if request.outcome is None:
            break
        run = run + 1 if request.outcome == HopOutcome.NO_RESPONSE else 0
        if run and run % rules.escalate_after == 0:
            due.append(request.hop_id)
    return due


# --- provider status (Appendix D) ---------------------------------------------------------


@dataclass(frozen=True)
class Identification:
    """The provider was named originator / point of entry on a hop."""

    campaign: str
    notified_at: datetime  # when it was asked about the call (the hop's request)
    identified_at: datetime  # when the hop ended with that outcome


def provider_status(rules: Rules, found: Sequence[Identification], now: datetime) -> str:
    """GREEN, YELLOW or RED from the identifications inside the window ending `now`.

    YELLOW: identified at least once. RED: two different campaigns, or the same
    campaign again at least N days after the first notification for it.
    """
    recent = [i for i in found if now - rules.status_window < i.identified_at <= now]
    if not recent:
        return GREEN
    by_campaign: dict[str, list[datetime]] = {}
    for item in recent:
        by_campaign.setdefault(item.campaign.strip().lower(), []).append(item.notified_at)
    if len(by_campaign) >= 2:
        return RED
    if any(max(times) - min(times) >= rules.red_same_campaign for times in by_campaign.values()):
        return RED
    return YELLOW


@dataclass(frozen=True)
class TrafficLink:
    """A downstream provider accepted traffic from an upstream one (a hop pointed upstream)."""

    downstream_id: int
    upstream_id: int
    at: datetime


def status_change_recipients(rules: Rules, links: Iterable[TrafficLink], provider_id: int, now: datetime) -> list[int]:
    """Providers that recently (within the status window) accepted traffic from `provider_id`."""
    return sorted(
        {
            link.downstream_id
            for link in links
            if link.upstream_id == provider_id
            and link.downstream_id != provider_id
            and now - rules.status_window < link.at <= now
        }
    )
