"""`run_due(app)`: the scheduler's work, once (what `mailbot tick` and each serve trigger run).

Exactly once, across processes: the due work is rows (hop deadlines on `Hop`,
`ScheduleClaim` keys). Each hop and provider is handled in its own transaction
holding its row lock (SKIP LOCKED on PostgreSQL, so a second instance moves on
to other rows), and every notice goes through the outbox with a dedupe key
(hop, kind, sequence) that the database keeps unique. After downtime a hop gets
its latest reminder only, and a day's digest or a month's metrics are claimed
by date: one catch-up send, never a burst.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from mailbot.scheduler import noncooperative
from mailbot.scheduler.metrics import notice_context, previous_month, reports
from mailbot.store.db import session_scope
from mailbot.store.dialect import LockSpace, advisory_xact_lock, skip_locked
from mailbot.store.paths import paths
from mailbot.store.tables.desk import Hop, Provider, Traceback
from mailbot.store.tables.schedule import ScheduleClaim, StatusChange
from mailbot.store.upsert import insert_ignore
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from mailbot.app import App
from mailbot.desk import notices, providers
from mailbot.domain.hop_labels import labels_by_hop
from mailbot.domain.status_rules import (
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
from mailbot.domain.vocabulary import HopOutcome, NoticeKind, ProviderStatus, TracebackStatus
from mailbot.outbound import outbox
from mailbot.outbound.transport import transport_from_config

log = logging.getLogger(__name__)
STATUS_NOTICE: dict[str, NoticeKind] = {
    ProviderStatus.YELLOW: NoticeKind.STATUS_YELLOW,
    ProviderStatus.RED: NoticeKind.STATUS_RED,
}


@dataclass
class Summary:
    reminders: int = 0
    no_response: int = 0
    escalations: int = 0
    status_changes: int = 0
    status_notices: int = 0
    noncooperative: int = 0  # designations and removals recorded
    metrics: int = 0
    digests: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def claim(session: Session, key: str, now: datetime, detail: str = "") -> bool:
    """Take the unique key `key` in this transaction; False if someone already has."""
    taken = insert_ignore(
        session, ScheduleClaim, [{"key": key, "claimed_at": now, "detail": detail}], keys=["key"], returning="key"
    )
    return taken[0] is not None


def _send(
    app: App,
    session: Session,
    *,
    key: str,
    kind: str,
    provider_id: int,
    context: dict[str, Any],
    now: datetime,
    hop: Hop | None = None,
) -> bool:
    """Queue one notice to a provider's contacts through the outbox, exactly once per `key`."""
    to = providers.notice_addresses(session, provider_id)
    if not to:
        log.warning("%s: provider %s has no deliverable contact; %s not sent", key, provider_id, kind)
        return False
    return notices.send(app, session, key=key, kind=kind, to=to, context=context, now=now, hop=hop)


def _name(session: Session, provider_id: int | None) -> str | None:
    if provider_id is None:
        return None
    provider = session.get(Provider, provider_id)
    assert provider is not None  # a foreign key
    return provider.name


def _downstream(session: Session, hop: Hop) -> Hop | None:
    return session.get(Hop, hop.downstream_hop_id) if hop.downstream_hop_id else None


# --- hops ---------------------------------------------------------------------------------


def _open_hops() -> Select[Hop]:
    return select(Hop).where(
        col(Hop.answered_at).is_(None), col(Hop.outcome).is_(None), col(Hop.requested_at).is_not(None)
    )


def due_hop_ids(session: Session, now: datetime) -> list[int]:
    """Open hops whose next visit is due (or never computed)."""
    return list(
        session.scalars(
            _open_hops()
            .with_only_columns(col(Hop.id))
            .where(or_(col(Hop.next_reminder_at).is_(None), col(Hop.next_reminder_at) <= now, col(Hop.due_at) <= now))
            .order_by(col(Hop.requested_at), col(Hop.id))
        )
    )


def visit_hop(app: App, session: Session, hop_id: int, now: datetime, summary: Summary) -> None:
    """One open hop: its reminder if one is due, or no_response past its deadline."""
    rules = app.rules
    hop = session.scalars(skip_locked(_open_hops().where(col(Hop.id) == hop_id), session)).first()
    if hop is None:
        return  # answered meanwhile, or another instance holds it
    assert hop.id is not None and hop.requested_at is not None  # an open hop: stored, and asked
    answered = utc(hop.answered_at) if hop.answered_at else None
    plan = plan_hop(rules, HopClock(utc(hop.requested_at), answered, hop.reminders_sent), now)
    hop.due_at = utc(plan.due_at)
    hop.next_reminder_at = utc(plan.next_reminder_at) if plan.next_reminder_at else None
    tb = session.get(Traceback, hop.traceback_id)
    assert tb is not None  # a foreign key
    downstream = _downstream(session, hop)
    context = {**notices.hop_context(session, hop), "deadline": plan.due_at}
    if plan.reminder:
        hop.reminders_sent = plan.reminder  # the sequence number: skipped ones are never sent late
        if _send(
            app,
            session,
            key=notices.hop_key(hop.id, NoticeKind.REMINDER, plan.reminder),
            kind=NoticeKind.REMINDER,
            provider_id=hop.provider_id,
            context=context,
            now=now,
            hop=hop,
        ):
            summary.reminders += 1
    if plan.no_response:
        _no_response(app, session, hop, tb, downstream, context, now, summary)
    session.add(hop)


def _no_response(
    app: App,
    session: Session,
    hop: Hop,
    tb: Traceback,
    downstream: Hop | None,
    context: dict[str, Any],
    now: datetime,
    summary: Summary,
) -> None:
    """The hop is silent past its deadline: the traceback ends at this provider."""
    assert hop.id is not None  # a stored row
    hop.outcome = HopOutcome.NO_RESPONSE
    hop.next_reminder_at = None
    if tb.status == TracebackStatus.OPEN:
        notices.close_traceback(tb, HopOutcome.NO_RESPONSE, now)
        session.add(tb)
    summary.no_response += 1
    _send(
        app,
        session,
        key=notices.hop_key(hop.id, NoticeKind.NON_RESPONSIVE, 0),
        kind=NoticeKind.NON_RESPONSIVE,
        provider_id=hop.provider_id,
        context=context,
        now=now,
        hop=hop,
    )
    if downstream is not None:
        _send(
            app,
            session,
            key=notices.hop_key(hop.id, NoticeKind.UPSTREAM_NOT_RESPONDED, 0),
            kind=NoticeKind.UPSTREAM_NOT_RESPONDED,
            provider_id=downstream.provider_id,
            now=now,
            hop=downstream,
            context={
                **context,
                "provider_name": context["downstream_name"],
                "upstream_name": context["provider_name"],
                "downstream_name": None,
            },
        )
    session.flush()
    # Two hops of one provider may fall silent at once in two instances: taking turns
    # per provider makes the second see the first's no_response, so a run of K
    # silences earns one letter, as it would in one process. An advisory lock, not the
    # provider's row: a row lock here deadlocked between two serve instances.
    advisory_xact_lock(session, LockSpace.ESCALATION, hop.provider_id)
    requests = [
        Request(h_id, utc(at), outcome)
        for h_id, at, outcome in session.execute(
            select(col(Hop.id), col(Hop.requested_at), col(Hop.outcome)).where(col(Hop.provider_id) == hop.provider_id)
        )
    ]
    for completing in escalation_due(app.rules, requests):
        key = notices.escalation_key(hop.provider_id, completing)
        # The claim row also lists the escalation in the digest.
        if claim(session, key, now, detail=context["provider_name"] or ""):
            on = session.get(Hop, completing)
            assert on is not None  # one of this provider's hops, read above
            # The letter is about the provider's record, not one call's path: no downstream, no deadline.
            letter = {**notices.hop_context(session, on, with_downstream=False), "deadline": None}
            _send(
                app,
                session,
                key=key,
                kind=NoticeKind.ESCALATION,
                provider_id=hop.provider_id,
                now=now,
                hop=on,
                context=letter,
            )
            summary.escalations += 1


# --- provider status ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identified:
    """A hop where the provider was named originator / point of entry: what the status letter cites."""

    traceback_id: int
    role: str  # the hop's label (domain.hop_labels)
    identification: Identification


def _identified(session: Session, rules: Rules, provider_id: int) -> list[_Identified]:
    # A label depends on the whole path (a POE is a U.S. hop whose upstream is foreign).
    labels = labels_by_hop(
        paths(session, session.scalars(select(col(Hop.traceback_id)).where(col(Hop.provider_id) == provider_id)))
    )
    rows = session.execute(
        select(
            col(Hop.id),
            col(Hop.traceback_id),
            col(Hop.requested_at),
            col(Hop.answered_at),
            col(Hop.due_at),
            col(Traceback.campaign),
        )
        .join(Traceback, col(Traceback.id) == col(Hop.traceback_id))
        .where(col(Hop.provider_id) == provider_id, col(Traceback.strike_exempt).is_(False))  # exempt: counts nothing
    )
    return [
        _Identified(
            traceback_id,
            str(labels[hop_id]),
            Identification(campaign or "", utc(requested), utc(answered or due or requested)),
        )
        for hop_id, traceback_id, requested, answered, due, campaign in rows
        if requested and labels.get(hop_id) in rules.status_labels
    ]


def _causes(rules: Rules, found: list[_Identified], now: datetime) -> list[dict[str, Any]]:
    """The identifications inside the status window (what made the status), oldest first, for the letter."""
    recent = [f for f in found if now - rules.status_window < f.identification.identified_at <= now]
    return [
        {
            "traceback_id": f.traceback_id,
            "role": f.role,
            "campaign": f.identification.campaign or None,
            "identified_at": f.identification.identified_at,
        }
        for f in sorted(recent, key=lambda f: (f.identification.identified_at, f.traceback_id))
    ]


def _links(session: Session, provider_id: int) -> list[TrafficLink]:
    down = aliased(Hop)
    rows = session.execute(
        select(col(down.provider_id), col(Hop.requested_at))
        .join(down, col(down.id) == col(Hop.downstream_hop_id))
        .where(col(Hop.provider_id) == provider_id)
    )
    return [TrafficLink(downstream_id, provider_id, utc(at)) for downstream_id, at in rows if at]


def visit_provider(
    app: App, session: Session, provider_id: int, now: datetime, summary: Summary, *, tell_green: bool = False
) -> None:
    """The provider's status from its identifications now; a change is recorded and the provider told.

    Back to GREEN by the window's decay gets no letter; `tell_green` (a Strike Exempt mark that
    took away what the status rested on) sends one."""
    rules = app.rules
    provider = session.scalars(skip_locked(select(Provider).where(col(Provider.id) == provider_id), session)).first()
    if provider is None:
        return
    found = _identified(session, rules, provider_id)
    new = provider_status(rules, [f.identification for f in found], now)
    if new == provider.status:
        return
    change = StatusChange(provider_id=provider_id, old_status=provider.status, new_status=new, at=now)
    provider.status = new
    session.add_all([provider, change])
    session.flush()
    summary.status_changes += 1
    if new not in STATUS_NOTICE and not tell_green:
        return  # back to GREEN: recorded for the digest, no letter for it
    kind = STATUS_NOTICE.get(new, NoticeKind.STATUS_GREEN)
    if _send(
        app,
        session,
        key=notices.status_change_key(change.id, kind),
        kind=kind,
        provider_id=provider_id,
        now=now,
        context={
            "provider_name": provider.name,
            "status": new if new in STATUS_NOTICE else change.old_status,
            "causes": _causes(rules, found, now),
        },
    ):
        summary.status_notices += 1
    if new not in STATUS_NOTICE:
        return
    # Sent in the same run, well within the 48 hours the process allows.
    for downstream_id in status_change_recipients(rules, _links(session, provider_id), provider_id, now):
        if _send(
            app,
            session,
            key=notices.status_change_key(change.id, NoticeKind.STATUS_CHANGE, downstream_id),
            kind=NoticeKind.STATUS_CHANGE,
            provider_id=downstream_id,
            now=now,
            context={"provider_name": _name(session, downstream_id), "upstream_name": provider.name, "status": new},
        ):
            summary.status_notices += 1


def reassess(app: App, provider_ids: list[int], now: datetime) -> Summary:
    """At once, after a traceback is marked Strike Exempt: each provider's status (a drop is
    told, GREEN included) and Non-Cooperative designation, without what the traceback counted."""
    summary = Summary()
    now = utc(now)
    for provider_id in provider_ids:
        with session_scope(app.engine) as session:
            visit_provider(app, session, provider_id, now, summary, tell_green=True)
        if app.settings.values["noncooperative"].get("enabled", True):
            with session_scope(app.engine) as session:
                thresholds = noncooperative.thresholds_of(app)
                action = noncooperative.visit(session, app, thresholds, app.rules, provider_id, now)
                summary.noncooperative += action is not None
    return summary


def providers_to_rate(session: Session, rules: Rules, now: datetime) -> list[int]:
    """Providers identified on a hop within the window, or not GREEN (whose status may decay)."""
    since = now - rules.status_window
    recent = session.scalars(
        select(col(Hop.traceback_id)).where(or_(col(Hop.answered_at) > since, col(Hop.due_at) > since))
    )
    found = paths(session, recent)
    labels = labels_by_hop(found)
    named = {row.provider_id for rows in found.values() for row in rows if labels[row.hop_id] in rules.status_labels}
    return sorted(
        named | set(session.scalars(select(col(Provider.id)).where(col(Provider.status) != ProviderStatus.GREEN)))
    )


# --- monthly metrics and the digest --------------------------------------------------------


def send_monthly_metrics(app: App, rules: Rules, now: datetime, summary: Summary) -> None:
    """From the 1st (at `digest_time`), last month's metrics to each provider asked that month.

    Claimed per provider and month, so a late run (or hops recorded late) still sends
    each report once, and a run after downtime sends it once, not per missed tick.
    """
    local = rules.calendar.local(now)
    if local.day == 1 and local.time() < app.settings.schedule.digest_time:
        return
    start, end = previous_month(local.date())
    with session_scope(app.engine) as session:
        for provider_id, report in reports(session, start, end, rules.calendar.zone):
            key = notices.metrics_key(provider_id, report.period)
            if claim(session, key, now) and _send(
                app,
                session,
                key=key,
                kind=NoticeKind.MONTHLY_METRICS,
                provider_id=provider_id,
                now=now,
                context={"provider_name": report.organization, "metrics": notice_context(report)},
            ):
                summary.metrics += 1


def send_digest(app: App, rules: Rules, now: datetime, summary: Summary) -> None:
    """On business days, the digest once `digest_time` has passed; a missed day is not sent late."""
    from mailbot.scheduler import digest

    local = rules.calendar.local(now)
    if (
        not app.settings.ops.email
        or not rules.calendar.is_business_day(local.date())
        or local.time() < app.settings.schedule.digest_time
    ):
        return
    with session_scope(app.engine) as session:
        key = notices.digest_key(local.date())
        if not claim(session, key, now):
            return
        digest.send(app, session, now, key)
        summary.digests += 1


def deliver(app: App) -> int:
    """Send what the outbox holds now (what `serve`'s outbox service does)."""
    return outbox.deliver_pending(app.engine, transport_from_config(app.settings), app.now(), mail=app.mail)


def run_due(app: App, *, digest: bool = True) -> Summary:
    """Everything due at `app.now()`, once. Safe to run from several processes at once."""
    now = utc(app.now())  # the store keeps UTC (SQLite compares it as text)
    rules = app.rules
    summary = Summary()
    with session_scope(app.engine) as session:
        hop_ids = due_hop_ids(session, now)
    for hop_id in hop_ids:
        with session_scope(app.engine) as session:
            visit_hop(app, session, hop_id, now, summary)
    with session_scope(app.engine) as session:
        provider_ids = providers_to_rate(session, rules, now)
    for provider_id in provider_ids:
        with session_scope(app.engine) as session:
            visit_provider(app, session, provider_id, now, summary)
    summary.noncooperative += noncooperative.run(app, app.rules, now)
    send_monthly_metrics(app, rules, now, summary)
    if digest:
        send_digest(app, rules, now, summary)
    return summary


def replay(app: App, until: datetime, step: timedelta = timedelta(minutes=15), send: bool = False) -> Summary:
    """Tick from `app.now()` to `until` in steps (re-running a missed stretch, or a test's week)."""
    total = Summary()
    moment = app.now()
    while moment <= until:
        app.fixed_now = moment
        for name, value in run_due(app).as_dict().items():
            setattr(total, name, getattr(total, name) + value)
        if send:
            deliver(app)
        moment += step
    return total
