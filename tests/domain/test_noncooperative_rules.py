"""The Non-Cooperative designation rules, pure: evidence and a time in, a decision out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbot.config import DEFAULTS
from mailbot.domain.noncooperative import (
    DESIGNATED,
    MULTIPLE_CAMPAIGNS,
    NON_RESPONSIVE,
    NOT_FOUND,
    ONGOING_SAME_CAMPAIGN,
    REMOVED,
    Ask,
    Decision,
    Evidence,
    Sighting,
    Standing,
    Thresholds,
    assess,
)

T = Thresholds.from_settings(DEFAULTS["noncooperative"])
DAY = timedelta(days=1)
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
BOTH = frozenset({"primary", "backup"})
NEVER = Standing()  # never designated, never removed


def days_after(moment: datetime, n: int) -> datetime:
    return moment + n * DAY  # calendar days stand in for business days here


def decide(evidence: Evidence, now: datetime, standing: Standing = NEVER) -> Decision:
    return assess(T, evidence, standing, now, days_after)


def silent(n: int, reached: frozenset[str] = BOTH, first_tb: int = 1) -> list[Ask]:
    return [
        Ask(first_tb + i, 100 + first_tb + i, START + i * DAY, "no_response", START + (i + 3) * DAY, reached)
        for i in range(n)
    ]


def test_defaults_are_the_settings() -> None:
    assert T.consecutive_no_response == 3 and T.ongoing_days == 10 and T.multiple_campaigns == 2
    assert T.not_found_percent == 50.0 and T.clean_period == timedelta(days=30)


def test_non_responsive_after_n_consecutive_silences_that_reached_every_contact() -> None:
    now = START + 10 * DAY
    assert decide(Evidence(silent(2), [], has_backup=True), now).action is None
    decision = decide(Evidence(silent(3), [], has_backup=True), now)
    assert decision.action == DESIGNATED
    assert [(f.rule, f.traceback_ids) for f in decision.findings] == [(NON_RESPONSIVE, (1, 2, 3))]


def test_an_answer_breaks_the_run() -> None:
    asks = [*silent(2), Ask(9, 109, START + 2.5 * DAY, "upstream", START + 3 * DAY, BOTH), *silent(2, first_tb=20)]
    assert decide(Evidence(asks, [], has_backup=True), START + 30 * DAY).action is None


def test_backups_never_written_to_get_a_final_warning_first_then_designation_after_its_grace() -> None:
    asks = silent(3, reached=frozenset({"primary"}))
    now = START + 10 * DAY
    first = decide(Evidence(asks, [], has_backup=True), now)
    assert first.action is None and first.warn_hop_id == asks[-1].hop_id
    warned = {asks[-1].hop_id: now}
    assert decide(Evidence(asks, [], has_backup=True, warnings=warned), now + 2 * DAY).action is None
    later = decide(Evidence(asks, [], has_backup=True, warnings=warned), now + 3 * DAY)
    assert later.action == DESIGNATED and later.warn_hop_id is None
    # A provider with no backup contact: the dedicated contact alone is every contact.
    assert decide(Evidence(asks, [], has_backup=False), now).action == DESIGNATED


def sight(tb: int, campaign: str, at: datetime) -> Sighting:
    return Sighting(tb, campaign, at - DAY, at)


def test_same_campaign_again_n_days_after_identification() -> None:
    early = [sight(1, "Tax-Debt", START), sight(2, "tax-debt ", START + 5 * DAY)]
    assert decide(Evidence([], early, has_backup=False), START + 6 * DAY).action is None
    again = [*early, sight(3, "Tax-Debt", START + 12 * DAY)]
    decision = decide(Evidence([], again, has_backup=False), START + 12 * DAY)
    assert decision.action == DESIGNATED
    assert [(f.rule, f.traceback_ids) for f in decision.findings] == [(ONGOING_SAME_CAMPAIGN, (1, 3))]


def test_several_campaigns() -> None:
    found = [sight(1, "Tax-Debt", START), sight(2, "Apple-iCloud", START + DAY)]
    decision = decide(Evidence([], found, has_backup=False), START + 2 * DAY)
    assert [(f.rule, f.traceback_ids) for f in decision.findings] == [(MULTIPLE_CAMPAIGNS, (1, 2))]
    # Outside the window they no longer count.
    assert decide(Evidence([], found, has_backup=False), START + 100 * DAY).action is None


def answers(not_found: int, other: int, explained: int = 0) -> list[Ask]:
    out = []
    for i in range(not_found + other + explained):
        outcome = "not_found" if i < not_found + explained else "upstream"
        out.append(
            Ask(
                i + 1,
                i + 1,
                START + i * DAY,
                outcome,
                START + i * DAY + DAY,
                BOTH,
                explained=not_found <= i < not_found + explained,
            )
        )
    return out


def test_not_found_above_the_share_without_explanation() -> None:
    now = START + 20 * DAY
    assert decide(Evidence(answers(3, 3), [], has_backup=False), now).action is None  # 50%: not more than
    decision = decide(Evidence(answers(4, 2), [], has_backup=False), now)
    assert [(f.rule, f.traceback_ids) for f in decision.findings] == [(NOT_FOUND, (1, 2, 3, 4))]
    # Explained not-founds (an upstream or customer named) do not count against it.
    assert decide(Evidence(answers(2, 2, explained=2), [], has_backup=False), now).action is None
    # Too few answers to judge a share.
    assert decide(Evidence(answers(3, 0), [], has_backup=False), now).action is None


def test_removal_after_a_clean_period_and_reclassification_on_resumption() -> None:
    evidence = Evidence(silent(3), [], has_backup=True)
    designated = START + 6 * DAY
    held = Standing(designated_at=designated)
    assert decide(evidence, designated + 29 * DAY, held).action is None
    assert decide(evidence, designated + 30 * DAY, held).action == REMOVED
    # New behaviour after designation restarts the clean period.
    relapse = Evidence(
        [*silent(3), Ask(50, 150, designated + 10 * DAY, "no_response", designated + 13 * DAY, BOTH)],
        [],
        has_backup=True,
    )
    assert decide(relapse, designated + 30 * DAY, held).action is None
    assert decide(relapse, designated + 43 * DAY, held).action == REMOVED
    # Once removed, the old silences do not designate again...
    removed = Standing(removed_at=designated + 30 * DAY)
    assert decide(evidence, designated + 31 * DAY, removed).action is None
    # ...but resumed behaviour does.
    resumed = Evidence(silent(3) + silent(3, first_tb=60), [], has_backup=True)
    resumed = Evidence(
        [
            *resumed.asks[:3],
            *[
                Ask(a.traceback_id, a.hop_id, a.requested_at + 40 * DAY, a.outcome, a.decided_at + 40 * DAY, a.reached)
                for a in resumed.asks[3:]
            ],
        ],
        [],
        has_backup=True,
    )
    again = decide(resumed, designated + 60 * DAY, removed)
    assert again.action == DESIGNATED and again.findings[0].traceback_ids == (60, 61, 62)
