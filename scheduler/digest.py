"""The daily digest for ops: what needs a human today, from the store.

`collect` reads the sections into plain data, `render_text`/`render_html` fill the
templates (`templates/digest.*.j2`), `campaign_chart` draws the top campaigns as a
PNG (matplotlib, Agg: no display needed). In mail the chart is an inline CID part of
a multipart/related HTML alternative, which common mail clients show; a browser
preview embeds it as a data: URI instead.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from mailbot.store.tables.desk import Hop, Provider, Review, Traceback
from mailbot.store.tables.messages import CampaignName, Incident, Message, Sighting
from mailbot.store.tables.schedule import NonCooperativeChange, ScheduleClaim, StatusChange
from mailbot.templates import TEMPLATES_DIR
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from mailbot.app import App
from mailbot.desk import notices, settle
from mailbot.desk.views import KIND_LABEL
from mailbot.domain.calendar import BusinessCalendar
from mailbot.domain.status_rules import Rules
from mailbot.domain.timeutil import utc
from mailbot.domain.vocabulary import HopOutcome, MessageStatus, TracebackDirection, TracebackStatus
from mailbot.outbound import outbox

TEMPLATES = TEMPLATES_DIR
CHART_CID = "top-campaigns"
TOP_CAMPAIGNS = 8
SLOWEST = 5
RECENT = timedelta(days=1)
SLOW_WINDOW = timedelta(days=30)
CAMPAIGN_WINDOW = timedelta(days=30)


@dataclass
class Digest:
    day: str
    generated_at: datetime
    zone: str
    since: datetime  # "recent" sections cover since this moment (the previous digest)
    new_tracebacks: list[dict[str, Any]] = field(default_factory=list)
    open_hops: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    escalated: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    noncooperative: list[dict[str, Any]] = field(default_factory=list)  # designations and removals
    imports: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    quarantined_total: int = 0
    top_campaigns: list[tuple[str, int]] = field(default_factory=list)  # the last 30 days (the chart)
    top_campaigns_period: list[tuple[str, int]] = field(default_factory=list)  # since the previous digest
    slowest: list[dict[str, Any]] = field(default_factory=list)

    @property
    def needs_attention(self) -> int:
        return len(self.overdue) + len(self.escalated) + len(self.reviews) + len(self.quarantined)


def _hours(value: float) -> str:
    """Business hours, never negative: a deadline already past has 0.0 h left (and is marked late)."""
    return f"{max(value, 0.0):.1f} h"


def window_start(cal: BusinessCalendar, now: datetime, digest_time: time) -> datetime:
    """The previous business day's digest time: Monday's digest covers the weekend too."""
    day = cal.local(now).date() - timedelta(days=1)
    while not cal.is_business_day(day):
        day -= timedelta(days=1)
    return datetime.combine(day, digest_time, tzinfo=cal.zone)


def collect(session: Session, rules: Rules, now: datetime, since: datetime | None = None) -> Digest:
    """The digest's sections; "recent" means since `since` (default: a day ago)."""
    cal = rules.calendar
    now = utc(now)  # query parameters in UTC: SQLite compares stored times as text
    since = utc(since) if since else now - RECENT
    names = dict(session.execute(select(col(Provider.id), col(Provider.name))).all())
    digest = Digest(
        day=cal.local(now).date().isoformat(), generated_at=cal.local(now), zone=str(cal.zone), since=cal.local(since)
    )

    first_hop = {
        tb: pid
        for tb, pid in session.execute(
            select(col(Hop.traceback_id), col(Hop.provider_id)).where(col(Hop.position) == 0)
        )
    }
    for tb in session.scalars(
        select(Traceback)
        .where(col(Traceback.opened_at) > since, col(Traceback.opened_at) <= now)
        .order_by(col(Traceback.id))
    ):
        digest.new_tracebacks.append(
            {
                "id": tb.id,
                "campaign": tb.campaign,
                "status": tb.status,
                "provider": names.get(first_hop.get(tb.id), ""),
                "kind": KIND_LABEL[TracebackDirection(tb.direction)],
                "strike_exempt": tb.strike_exempt,
            }
        )

    for hop, direction in session.execute(
        select(Hop, col(Traceback.direction))
        .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
        .where(col(Hop.answered_at).is_(None), col(Hop.outcome).is_(None), col(Hop.requested_at).is_not(None))
        .order_by(col(Hop.requested_at))
    ):
        assert hop.requested_at is not None  # selected for it
        due = hop.due_at or cal.add_days(hop.requested_at, rules.no_response_after_days)
        age = max(0.0, cal.business_hours_between(hop.requested_at, now))
        left = max(0.0, cal.business_hours_between(now, due))
        digest.open_hops.append(
            {
                "traceback": hop.traceback_id,
                "kind": KIND_LABEL[TracebackDirection(direction)],
                "position": hop.position,
                "provider": names[hop.provider_id],
                "requested": cal.local(hop.requested_at),
                "due": cal.local(due),
                "age": _hours(age),
                "left": _hours(left),
                "reminders": hop.reminders_sent,
                "late": left <= 0,
                "share": min(1.0, max(0.0, age / max(age + left, 0.01))),
            }
        )

    closed = aliased(Traceback)
    for hop, closed_at in session.execute(
        select(Hop, col(closed.closed_at))
        .join(closed, col(closed.id) == col(Hop.traceback_id))
        .where(col(Hop.outcome) == HopOutcome.NO_RESPONSE, col(closed.closed_at) > since, col(closed.closed_at) <= now)
        .order_by(col(Hop.traceback_id))
    ):
        digest.overdue.append(
            {
                "traceback": hop.traceback_id,
                "provider": names[hop.provider_id],
                "requested": cal.local(hop.requested_at),
                "closed": cal.local(closed_at),
                "reminders": hop.reminders_sent,
            }
        )
    for key, at in session.execute(
        select(col(ScheduleClaim.key), col(ScheduleClaim.claimed_at))
        .where(col(ScheduleClaim.key).like(notices.ESCALATION_KEYS), col(ScheduleClaim.claimed_at) > since)
        .order_by(col(ScheduleClaim.key))
    ):
        _, provider_id, _, hop_id = key.split(":")
        digest.escalated.append(
            {"provider": names.get(int(provider_id), provider_id), "hop": int(hop_id), "at": cal.local(at)}
        )

    # Waiting: not resolved, and not about a traceback already closed (nothing is left to decide there).
    for review, upstream_name in session.execute(
        select(Review, col(Hop.upstream_name))
        .outerjoin(Traceback, col(Traceback.id) == col(Review.traceback_id))
        .outerjoin(Hop, col(Hop.id) == col(Review.hop_id))
        .where(
            col(Review.resolved).is_(False),
            or_(col(Review.traceback_id).is_(None), col(Traceback.status) == TracebackStatus.OPEN),
        )
        .order_by(col(Review.created_at), col(Review.id))
    ):
        assert review.id is not None
        digest.reviews.append(
            {
                "id": review.id,
                "kind": review.kind.replace("_", " "),
                "traceback": review.traceback_id,
                "provider": names.get(review.provider_id, ""),
                "detail": review.summary,
                "created": cal.local(review.created_at) if review.created_at else None,
                "settle": settle.command(review.kind, review.id, review.traceback_id, review.detail, upstream_name),
            }
        )

    for change in session.scalars(
        select(StatusChange).where(col(StatusChange.at) > since).order_by(col(StatusChange.at))
    ):
        assert change.at is not None  # selected for it
        digest.status_changes.append(
            {
                "provider": names[change.provider_id],
                "old": change.old_status,
                "new": change.new_status,
                "at": cal.local(change.at),
            }
        )

    for nc in session.scalars(
        select(NonCooperativeChange)
        .where(col(NonCooperativeChange.at) > since, col(NonCooperativeChange.at) <= now)
        .order_by(col(NonCooperativeChange.id))
    ):
        assert nc.at is not None  # selected for it
        digest.noncooperative.append(
            {
                "provider": names[nc.provider_id],
                "action": nc.action,
                "reasons": [f["detail"] for f in nc.findings],
                "tracebacks": nc.traceback_ids,
                "at": cal.local(nc.at),
            }
        )

    for origin, status, count in session.execute(
        select(col(Message.origin), col(Message.status), func.count())
        .where(col(Message.received_at) > since)
        .group_by(col(Message.origin), col(Message.status))
        .order_by(col(Message.origin), col(Message.status))
    ):
        digest.imports.append({"origin": origin, "status": status, "count": count})
    for subject, reason, sender in session.execute(
        select(col(Message.subject), col(Message.reason), col(Message.sender))
        .where(col(Message.status) == MessageStatus.QUARANTINED, col(Message.received_at) > since)
        .order_by(col(Message.id))
    ):
        digest.quarantined.append({"subject": subject or "(no subject)", "reason": reason, "sender": sender})
    digest.quarantined_total = (
        session.scalar(
            select(func.count()).select_from(Message).where(col(Message.status) == MessageStatus.QUARANTINED)
        )
        or 0
    )

    digest.top_campaigns = top_campaigns(session, now - CAMPAIGN_WINDOW, now)
    digest.top_campaigns_period = top_campaigns(session, since, now)
    digest.slowest = slowest_providers(session, cal, names, now)
    return digest


def top_campaigns(
    session: Session, since: datetime, until: datetime, limit: int = TOP_CAMPAIGNS
) -> list[tuple[str, int]]:
    """Campaigns by incidents seen in mail stored in (since, until] plus tracebacks opened then,
    spelling variants joined."""
    since, until = utc(since), utc(until)
    canonical = dict(session.execute(select(col(CampaignName.name), col(CampaignName.canonical))).all())
    counts: Counter[str] = Counter()
    seen = (
        select(col(Incident.incident_id), col(Incident.campaign))
        .join(Sighting, col(Sighting.incident_id) == col(Incident.incident_id))
        .join(Message, col(Message.id) == col(Sighting.message_pk))
        .where(col(Incident.campaign).is_not(None), col(Message.received_at) > since, col(Message.received_at) <= until)
        .distinct()
    )
    for _, name in session.execute(seen):
        counts[canonical.get(name, name)] += 1
    for (name,) in session.execute(
        select(col(Traceback.campaign)).where(
            col(Traceback.campaign) != "", col(Traceback.opened_at) > since, col(Traceback.opened_at) <= until
        )
    ):
        counts[canonical.get(name, name)] += 1
    return counts.most_common(limit)


def slowest_providers(
    session: Session, cal: BusinessCalendar, names: dict[int, str], now: datetime, limit: int = SLOWEST
) -> list[dict[str, Any]]:
    """Mean business hours to answer, over hops answered in the last 30 days."""
    now = utc(now)
    spent: dict[int, list[float]] = {}
    for provider_id, requested, answered in session.execute(
        select(col(Hop.provider_id), col(Hop.requested_at), col(Hop.answered_at)).where(
            col(Hop.answered_at) > now - SLOW_WINDOW, col(Hop.answered_at) <= now, col(Hop.requested_at).is_not(None)
        )
    ):
        spent.setdefault(provider_id, []).append(max(0.0, cal.business_hours_between(requested, answered)))
    ranked = sorted(((sum(v) / len(v), len(v), pid) for pid, v in spent.items()), reverse=True)
    return [{"provider": names[pid], "mean": _hours(mean), "answers": n} for mean, n, pid in ranked[:limit]]


def campaign_chart(campaigns: list[tuple[str, int]]) -> bytes:
    """A small horizontal bar chart (PNG) of the top campaigns."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a server draws to memory
    from matplotlib import pyplot as plt

    labels = [name if len(name) <= 38 else name[:37] + "…" for name, _ in campaigns][::-1]
    values = [count for _, count in campaigns][::-1]
    fig, ax = plt.subplots(figsize=(6.0, 0.28 * max(len(values), 1) + 0.5), dpi=100)
    bars = ax.barh(labels or ["(none)"], values or [0], color="#2f6db5")
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.margins(x=0.12)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = lambda value: value.strftime("%a %d %b %H:%M") if value else ""
    return env


_ENV = _environment()


def render_text(digest: Digest) -> str:
    return _ENV.get_template("digest.txt.j2").render(d=digest)


def render_html(digest: Digest, chart_src: str) -> str:
    """`chart_src` is `cid:...` in mail, a data: URI in a browser preview."""
    return _ENV.get_template("digest.html.j2").render(d=digest, chart_src=chart_src)


def preview_html(digest: Digest) -> str:
    """The HTML as a browser shows it on its own (the chart embedded)."""
    png = base64.b64encode(campaign_chart(digest.top_campaigns)).decode()
    return render_html(digest, f"data:image/png;base64,{png}")


def build_message(digest: Digest, sender: str, to: list[str], domain: str) -> EmailMessage:
    """multipart/alternative: text, then multipart/related (HTML + the chart as a CID image)."""
    msg = EmailMessage()
    msg["Subject"] = f"mailbot daily digest {digest.day}: {digest.needs_attention} item(s) need attention"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(digest.generated_at)
    msg["Message-ID"] = make_msgid("digest", domain=domain)
    msg.set_content(render_text(digest))
    msg.add_alternative(render_html(digest, f"cid:{CHART_CID}"), subtype="html")
    html = list(msg.iter_parts())[1]  # the alternative just added
    html.add_related(
        campaign_chart(digest.top_campaigns), "image", "png", cid=f"<{CHART_CID}>", filename="top-campaigns.png"
    )
    return msg


def for_app(app: App, session: Session, now: datetime) -> Digest:
    return collect(session, app.rules, now, window_start(app.rules.calendar, now, app.settings.schedule.digest_time))


def send(app: App, session: Session, now: datetime, key: str) -> EmailMessage:
    """Queue the digest in the outbox (delivered like every notice); `key` makes it once."""
    to = list(app.settings.ops.email)
    msg = build_message(for_app(app, session, now), app.mail.sender, to, app.mail.domain)
    outbox.enqueue_message(session, dedupe_key=key, kind="digest", msg=msg, now=now)
    return msg
