"""Non-Cooperative Voice Service Provider designation, as pure rules (001, the definition).

Plain rows and a time in, a decision out; `mailbot.scheduler.noncooperative` feeds the
rows from the store and carries the decision out (records it, sends the letter).

A provider is designated when any rule of `RULES` holds on the evidence gathered since
its last removal (so a removed provider starts clean, and only resumed behaviour
reclassifies it). It is removed once none of that behaviour has been seen for the clean
period after its designation. Every rule names the tracebacks that made it hold; they
are recorded with the designation. Strike-exempt tracebacks never reach these rules:
the caller filters them out (see `Evidence`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

NON_RESPONSIVE = "non_responsive"
ONGOING_SAME_CAMPAIGN = "ongoing_same_campaign"
MULTIPLE_CAMPAIGNS = "multiple_campaigns"
NOT_FOUND = "not_found"

DESIGNATED, REMOVED = "designated", "removed"


@dataclass(frozen=True)
class Thresholds:
    """The numbers the ITG document redacts; `[noncooperative]` in config.toml sets them."""

    consecutive_no_response: int = 3
    warning_grace_days: int = 3  # business days a final warning to every contact gives
    ongoing_days: int = 10
    multiple_campaigns: int = 2
    not_found_percent: float = 50.0
    not_found_min_answers: int = 5
    window: timedelta = timedelta(days=90)
    clean_period: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Thresholds:
        return cls(
            consecutive_no_response=int(settings["consecutive_no_response"]),
            warning_grace_days=int(settings["warning_grace_days"]),
            ongoing_days=int(settings["ongoing_days"]),
            multiple_campaigns=int(settings["multiple_campaigns"]),
            not_found_percent=float(settings["not_found_percent"]),
            not_found_min_answers=int(settings["not_found_min_answers"]),
            window=timedelta(days=float(settings["window_days"])),
            clean_period=timedelta(days=float(settings["clean_days"])),
        )


@dataclass(frozen=True)
class Ask:
    """One traceback request to the provider (a hop), decided or not."""

    traceback_id: int
    hop_id: int
    requested_at: datetime
    outcome: str | None  # None while open; "no_response" once silent past its deadline
    decided_at: datetime | None = None
    # Which of the provider's contact roles ("primary", "backup") received mail on this hop.
    reached: frozenset[str] = frozenset()
    # A not_found answer that names where the call or number went (an upstream, a customer).
    explained: bool = False


@dataclass(frozen=True)
class Sighting:
    """The provider was labelled originator or U.S. point of entry on a traceback."""

    traceback_id: int
    campaign: str
    notified_at: datetime  # when it was asked about this call
    identified_at: datetime  # when the hop ended with that outcome


@dataclass(frozen=True)
class Evidence:
    """What the rules read about one provider; strike-exempt tracebacks already left out."""

    asks: Sequence[Ask]
    sightings: Sequence[Sighting]
    has_backup: bool  # the provider has a deliverable backup contact
    # hop id -> when the final warning to every contact went out on it.
    warnings: Mapping[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    rule: str
    traceback_ids: tuple[int, ...]
    detail: str


@dataclass(frozen=True)
class Decision:
    action: str | None  # DESIGNATED, REMOVED, or None: nothing changes
    findings: tuple[Finding, ...] = ()
    # A run of silences has reached the threshold but not every contact was tried:
    # send the final warning keyed on this hop (the run's last) to every contact.
    warn_hop_id: int | None = None


@dataclass(frozen=True)
class Standing:
    """The provider's current record: designated since, or removed at, or never either."""

    designated_at: datetime | None = None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    thresholds: Thresholds
    now: datetime
    since: datetime  # evidence before this is not read (the window, or the last removal)
    business_days_after: Callable[[datetime, int], datetime]


def _silent_run(asks: Sequence[Ask]) -> list[Ask]:
    """The run of consecutive no_response requests ending at the latest decided one."""
    decided = []
    for ask in sorted(asks, key=lambda a: (a.requested_at, a.hop_id)):
        if ask.outcome is None:
            break  # whether a later silence continues the run is not known yet
        decided.append(ask)
    run: list[Ask] = []
    for ask in reversed(decided):
        if ask.outcome != "no_response":
            break
        run.append(ask)
    return run[::-1]


def _all_contacts_tried(evidence: Evidence, run: Sequence[Ask]) -> bool:
    reached = frozenset().union(*(ask.reached for ask in run))
    return "primary" in reached and (not evidence.has_backup or "backup" in reached)


def _warned_at(evidence: Evidence, run: Sequence[Ask]) -> datetime | None:
    sent = [evidence.warnings[a.hop_id] for a in run if a.hop_id in evidence.warnings]
    return min(sent) if sent else None


def non_responsive(ctx: Context, evidence: Evidence) -> Finding | None:
    """N consecutive requests unanswered, despite mail to the dedicated and the backup contacts.

    When the run is long enough but the backups were never written to, the final warning
    goes to every contact first; the rule holds once its grace has passed unanswered.
    """
    run = [a for a in _silent_run(evidence.asks) if a.requested_at >= ctx.since]
    n = ctx.thresholds.consecutive_no_response
    if len(run) < n:
        return None
    warned_at = _warned_at(evidence, run)
    warned = warned_at is not None and ctx.now >= ctx.business_days_after(warned_at, ctx.thresholds.warning_grace_days)
    if not (_all_contacts_tried(evidence, run) or warned):
        return None
    ids = tuple(dict.fromkeys(a.traceback_id for a in run))
    return Finding(NON_RESPONSIVE, ids, f"{len(run)} consecutive traceback requests unanswered")


def _recent(ctx: Context, sightings: Sequence[Sighting]) -> list[Sighting]:
    return [s for s in sightings if ctx.since <= s.identified_at <= ctx.now]


def _by_campaign(sightings: Sequence[Sighting]) -> dict[str, list[Sighting]]:
    grouped: dict[str, list[Sighting]] = {}
    for s in sorted(sightings, key=lambda s: (s.notified_at, s.traceback_id)):
        grouped.setdefault(s.campaign.strip().casefold(), []).append(s)
    return grouped


def ongoing_same_campaign(ctx: Context, evidence: Evidence) -> Finding | None:
    """Originator or U.S. point of entry for a campaign again N or more days after first identified for it."""
    days = timedelta(days=ctx.thresholds.ongoing_days)
    for seen in _by_campaign(_recent(ctx, evidence.sightings)).values():
        first = seen[0]
        later = [s for s in seen[1:] if s.notified_at - first.identified_at >= days]
        if later:
            ids = tuple(dict.fromkeys(s.traceback_id for s in [first, *later]))
            return Finding(
                ONGOING_SAME_CAMPAIGN,
                ids,
                f"campaign {seen[0].campaign!r} again {ctx.thresholds.ongoing_days}+ days after identification",
            )
    return None


def multiple_campaigns(ctx: Context, evidence: Evidence) -> Finding | None:
    """Originator or U.S. point of entry for M or more different campaigns."""
    grouped = _by_campaign(_recent(ctx, evidence.sightings))
    if len(grouped) < ctx.thresholds.multiple_campaigns:
        return None
    ids = tuple(dict.fromkeys(s[0].traceback_id for s in grouped.values()))
    names = ", ".join(sorted(s[0].campaign for s in grouped.values()))
    return Finding(MULTIPLE_CAMPAIGNS, ids, f"{len(grouped)} campaigns: {names}")


def not_found(ctx: Context, evidence: Evidence) -> Finding | None:
    """More than P% of its answers `not_found` without an explanation (at least a minimum of answers)."""
    answers = [
        a
        for a in evidence.asks
        if a.outcome not in (None, "no_response") and a.decided_at is not None and ctx.since <= a.decided_at <= ctx.now
    ]
    if len(answers) < ctx.thresholds.not_found_min_answers:
        return None
    bare = [a for a in answers if a.outcome == "not_found" and not a.explained]
    share = 100.0 * len(bare) / len(answers)
    if share <= ctx.thresholds.not_found_percent:
        return None
    return Finding(
        NOT_FOUND,
        tuple(dict.fromkeys(a.traceback_id for a in bare)),
        f"{len(bare)} of {len(answers)} answers not found without explanation ({share:.0f}%)",
    )


# Each rule is one of the definition's "specific actions that will result in designation".
RULES: tuple[Callable[[Context, Evidence], Finding | None], ...] = (
    non_responsive,
    ongoing_same_campaign,
    multiple_campaigns,
    not_found,
)


def _last_activity(evidence: Evidence) -> list[datetime]:
    """When each piece of non-cooperative behaviour happened."""
    silent = [a.decided_at or a.requested_at for a in evidence.asks if a.outcome == "no_response"]
    bare = [a.decided_at for a in evidence.asks if a.outcome == "not_found" and not a.explained and a.decided_at]
    return silent + bare + [s.identified_at for s in evidence.sightings]


def assess(
    thresholds: Thresholds,
    evidence: Evidence,
    standing: Standing,
    now: datetime,
    business_days_after: Callable[[datetime, int], datetime],
) -> Decision:
    """Designate, remove, warn, or leave the provider as it is."""
    if standing.designated_at is not None:
        quiet_since = max(
            [standing.designated_at, *[t for t in _last_activity(evidence) if t > standing.designated_at]]
        )
        if now - quiet_since >= thresholds.clean_period:
            return Decision(REMOVED)
        return Decision(None)
    since = now - thresholds.window
    if standing.removed_at is not None and standing.removed_at > since:
        since = standing.removed_at  # only behaviour after the removal reclassifies
    ctx = Context(thresholds, now, since, business_days_after)
    findings = tuple(f for f in (rule(ctx, evidence) for rule in RULES) if f is not None)
    if findings:
        return Decision(DESIGNATED, findings)
    run = [a for a in _silent_run(evidence.asks) if a.requested_at >= since]
    if len(run) >= thresholds.consecutive_no_response and _warned_at(evidence, run) is None:
        return Decision(None, warn_hop_id=run[-1].hop_id)
    return Decision(None)
