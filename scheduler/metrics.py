"""Monthly metrics: the two tables of the sample's "Monthly Metrics" notice, from the store.

"Your Summary" counts the provider's own hops requested in the month; "Upstream
Summary" counts, per upstream provider, the hops that followed the provider's
hops upstream. Columns and the outcome each counts are data, below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.store.paths import paths
from mailbot.store.tables.desk import Hop, Provider, Traceback
from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from mailbot.domain.hop_labels import ORIGINS, US_POE, labels_by_hop
from mailbot.domain.timeutil import utc
from mailbot.domain.vocabulary import HopOutcome

# Column -> what it counts: hops with one of these outcomes (None: still open) or one of
# these labels (mailbot.hop_labels: a POE or an origin depends on the whole path). Hops
# that named their upstream count only in "Total Hops", as in the sample.
OUTCOME_COLUMNS: dict[str, tuple[str, frozenset[str | None]]] = {
    "Open": ("outcome", frozenset({None})),
    "POE": ("label", frozenset({US_POE})),
    "Downstream": ("outcome", frozenset({"downstream"})),
    "Orig": ("label", ORIGINS),
    "No Resp": ("outcome", frozenset({HopOutcome.NO_RESPONSE})),
    "Not Found": ("outcome", frozenset({HopOutcome.NOT_FOUND})),
}
YOUR_COLUMNS = ("Total Hops", *OUTCOME_COLUMNS, "Avg Response", "Campaigns")
UPSTREAM_COLUMNS = ("Provider", "Total Hops", "Open", "POE", "Orig", "No Resp", "Not Found")


@dataclass(frozen=True)
class HopFact:
    provider: str
    outcome: str | None
    requested_at: datetime | None
    answered_at: datetime | None
    campaign: str = ""
    label: str | None = None  # the hop's label on its path


@dataclass(frozen=True)
class MonthlyReport:
    organization: str
    period: str  # "2026-03"
    your: dict[str, str]
    upstream: list[dict[str, str]]


def duration_text(seconds: float) -> str:
    """The sample's style: the two largest units, e.g. `1 hour 9 minutes`, `35 minutes 48 seconds`."""
    left = round(seconds)
    parts: list[str] = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    shown = [p for p in parts[:2] if not p.startswith("0 ")]
    return " ".join(shown) or "0 seconds"


def _counts(hops: list[HopFact], columns: Iterable[str]) -> dict[str, str]:
    row = {"Total Hops": str(len(hops))}
    for column in columns:
        field, wanted = OUTCOME_COLUMNS[column]
        row[column] = str(sum(1 for h in hops if getattr(h, field) in wanted))
    return row


def summarize(organization: str, period: str, own: list[HopFact], upstream: list[HopFact]) -> MonthlyReport:
    """The report from the provider's hops and the hops upstream of them (pure)."""
    your = _counts(own, OUTCOME_COLUMNS)
    answered = [
        (utc(h.answered_at) - utc(h.requested_at)).total_seconds() for h in own if h.answered_at and h.requested_at
    ]
    your["Avg Response"] = duration_text(sum(answered) / len(answered)) if answered else "-"
    your["Campaigns"] = str(len({h.campaign.strip().lower() for h in own if h.campaign}))
    by_provider: dict[str, list[HopFact]] = {}
    for hop in upstream:
        by_provider.setdefault(hop.provider, []).append(hop)
    rows = [{"Provider": name, **_counts(hops, UPSTREAM_COLUMNS[2:])} for name, hops in sorted(by_provider.items())]
    return MonthlyReport(organization=organization, period=period, your=your, upstream=rows)


def previous_month(today: date) -> tuple[date, date]:
    """First day of last month and first day of this month."""
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first


def reports(session: Session, month_start: date, month_end: date, zone: ZoneInfo) -> list[tuple[int, MonthlyReport]]:
    """(provider id, report) for every provider asked about at least one call in the month."""
    start = utc(datetime.combine(month_start, datetime.min.time(), tzinfo=zone))
    end = utc(datetime.combine(month_end, datetime.min.time(), tzinfo=zone))
    up, up_provider = aliased(Hop), aliased(Provider)
    own_rows = session.execute(
        select(
            col(Hop.id),
            col(Hop.provider_id),
            col(Provider.name),
            col(Hop.outcome),
            col(Hop.requested_at),
            col(Hop.answered_at),
            col(Traceback.campaign),
            col(Hop.traceback_id),
        )
        .join(Provider, col(Provider.id) == col(Hop.provider_id))
        .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
        .where(col(Hop.requested_at) >= start, col(Hop.requested_at) < end, col(Traceback.strike_exempt).is_(False))
    ).all()  # a Strike Exempt traceback is counted in no metrics
    upstream_rows = session.execute(
        select(
            col(Hop.provider_id),
            col(up_provider.name),
            col(up.outcome),
            col(up.requested_at),
            col(up.answered_at),
            col(up.id),
        )
        .join(up, col(up.downstream_hop_id) == col(Hop.id))
        .join(up_provider, col(up_provider.id) == col(up.provider_id))
        .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
        .where(col(Hop.requested_at) >= start, col(Hop.requested_at) < end, col(Traceback.strike_exempt).is_(False))
    ).all()
    labels = labels_by_hop(paths(session, {row[-1] for row in own_rows}))  # upstream hops share those paths
    own: dict[int, list[HopFact]] = {}
    names: dict[int, str] = {}
    for hop_id, provider_id, name, outcome, requested, answered, campaign, _tb in own_rows:
        names[provider_id] = name
        own.setdefault(provider_id, []).append(
            HopFact(name, outcome, requested, answered, campaign or "", labels.get(hop_id))
        )
    upstream: dict[int, list[HopFact]] = {}
    for provider_id, name, outcome, requested, answered, up_id in upstream_rows:
        upstream.setdefault(provider_id, []).append(
            HopFact(name, outcome, requested, answered, label=labels.get(up_id))
        )
    period = month_start.strftime("%Y-%m")
    return [(pid, summarize(names[pid], period, hops, upstream.get(pid, []))) for pid, hops in sorted(own.items())]


def notice_context(report: MonthlyReport, addressee: str | None = None) -> dict:
    """The `metrics` value the monthly_metrics notice templates read."""
    return {
        "organization": report.organization,
        "addressee": addressee,
        "period": report.period,
        "your_columns": list(YOUR_COLUMNS),
        "your_row": [report.your[c] for c in YOUR_COLUMNS],
        "upstream_columns": list(UPSTREAM_COLUMNS),
        "upstream_rows": [[row[c] for c in UPSTREAM_COLUMNS] for row in report.upstream],
    }
