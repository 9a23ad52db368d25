"""Non-Cooperative designation on each scheduler run: the store's rows into the pure rules
(`mailbot.domain.noncooperative`), their decision into the record and the letters.

Each provider is assessed in its own transaction; a designation or removal is one
`NonCooperativeChange` row, and its letter is keyed on that row, so it is sent once.
Strike-exempt tracebacks are left out by `counts`, a predicate over tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mailbot.store.db import session_scope
from mailbot.store.paths import paths
from mailbot.store.standing import designated_ids
from mailbot.store.tables.desk import Hop, Provider, ProviderContact, Traceback
from mailbot.store.tables.outbox import OutboxMessage, OutboxRecipient
from mailbot.store.tables.schedule import NonCooperativeChange
from sqlalchemy import or_, select
from sqlmodel import Session, col

from mailbot.app import App
from mailbot.domain.hop_labels import INTERNATIONAL_ORIGIN, US_ORIGIN, US_POE, labels_by_hop
from mailbot.domain.noncooperative import (
    DESIGNATED,
    REMOVED,
    Ask,
    Decision,
    Evidence,
    Sighting,
    Standing,
    Thresholds,
    assess,
)
from mailbot.domain.status_rules import Rules
from mailbot.domain.timeutil import utc as as_utc
from mailbot.domain.vocabulary import ContactRole

log = logging.getLogger(__name__)
# Labels that identify a provider as originator or U.S. point of entry (silence is its own rule).
SIGHTING_LABELS = frozenset({US_ORIGIN, INTERNATIONAL_ORIGIN, US_POE})
WARNING, DESIGNATION, REMOVAL = "noncooperative_warning", "noncooperative_designated", "noncooperative_removed"
LETTER = {DESIGNATED: DESIGNATION, REMOVED: REMOVAL}


def not_strike_exempt(tb: Traceback) -> bool:
    return not tb.strike_exempt


def thresholds_of(app: App) -> Thresholds:
    return Thresholds.from_settings(app.settings.values["noncooperative"])


def standing(session: Session, provider_id: int) -> Standing:
    rows = session.scalars(
        select(NonCooperativeChange)
        .where(col(NonCooperativeChange.provider_id) == provider_id)
        .order_by(col(NonCooperativeChange.id).desc())
    )
    last_designated = last_removed = None
    for row in rows:
        assert row.at is not None  # every change is stamped
        if row.action == DESIGNATED and last_designated is None:
            last_designated = as_utc(row.at)
        if row.action == REMOVED and last_removed is None:
            last_removed = as_utc(row.at)
    current = last_designated if last_designated and (not last_removed or last_designated > last_removed) else None
    return Standing(designated_at=current, removed_at=last_removed)


def evidence(session: Session, provider_id: int, counts: Callable[[Traceback], bool] = not_strike_exempt) -> Evidence:
    hops = session.scalars(
        select(Hop).where(col(Hop.provider_id) == provider_id, col(Hop.requested_at).is_not(None))
    ).all()
    tracebacks = {
        tb.id: tb
        for tb in session.scalars(select(Traceback).where(col(Traceback.id).in_({h.traceback_id for h in hops})))
    }
    hops = [h for h in hops if counts(tracebacks[h.traceback_id])]
    labels = labels_by_hop(paths(session, {h.traceback_id for h in hops}))
    roles = dict(
        session.execute(
            select(col(ProviderContact.address), col(ProviderContact.role)).where(
                col(ProviderContact.provider_id) == provider_id
            )
        ).all()
    )
    reached: dict[int, set[str]] = {}
    warnings: dict[int, datetime] = {}
    hop_ids = [h.id for h in hops]
    for hop_id, kind, created, address in session.execute(
        select(
            col(OutboxMessage.hop_id),
            col(OutboxMessage.kind),
            col(OutboxMessage.created_at),
            col(OutboxRecipient.address),
        )
        .join(OutboxRecipient, col(OutboxRecipient.outbox_id) == col(OutboxMessage.id))
        .where(col(OutboxMessage.hop_id).in_(hop_ids))
    ):
        if kind == WARNING:  # the warning itself does not count as a request that reached them
            warnings[hop_id] = min(as_utc(created), warnings.get(hop_id, as_utc(created)))
        elif address in roles:
            reached.setdefault(hop_id, set()).add(roles[address])
    asks, sightings = [], []
    for hop in hops:
        assert hop.id is not None and hop.requested_at is not None  # stored, and asked
        decided = hop.answered_at or (hop.due_at if hop.outcome == "no_response" else None)
        asks.append(
            Ask(
                traceback_id=hop.traceback_id,
                hop_id=hop.id,
                requested_at=as_utc(hop.requested_at),
                outcome=hop.outcome,
                decided_at=as_utc(decided) if decided else None,
                reached=frozenset(reached.get(hop.id, ())),
                explained=bool(hop.upstream_name or hop.customer_name),
            )
        )
        if labels.get(hop.id) in SIGHTING_LABELS:
            tb = tracebacks[hop.traceback_id]
            sightings.append(
                Sighting(
                    traceback_id=hop.traceback_id,  # tb's
                    campaign=tb.campaign or "",
                    notified_at=as_utc(hop.requested_at),
                    identified_at=as_utc(hop.answered_at or hop.due_at or hop.requested_at),
                )
            )
    has_backup = (
        session.scalar(
            select(col(ProviderContact.id)).where(
                col(ProviderContact.provider_id) == provider_id,
                col(ProviderContact.role) == ContactRole.BACKUP,
                col(ProviderContact.undeliverable).is_(False),
            )
        )
        is not None
    )
    return Evidence(asks=asks, sightings=sightings, has_backup=has_backup, warnings=warnings)


def providers_to_assess(session: Session, thresholds: Thresholds, now: datetime) -> list[int]:
    """Providers asked within the window, and every designated one (whose designation may lapse)."""
    since = now - thresholds.window
    asked = session.scalars(
        select(col(Hop.provider_id)).where(or_(col(Hop.requested_at) > since, col(Hop.answered_at) > since))
    )
    return sorted(set(asked) | designated_ids(session))


def _queue(
    session: Session,
    app: App,
    *,
    key: str,
    kind: str,
    to: list[str],
    context: dict[str, Any],
    now: datetime,
    hop: Hop | None = None,
) -> bool:
    from mailbot.outbound import outbox  # late: it imports the store, which must be set up first

    if not to:
        log.warning("%s: no deliverable contact; %s not sent", key, kind)
        return False
    reply_to = app.hop_reply_address(hop.id) if hop is not None and hop.id is not None else None
    return outbox.enqueue(
        session,
        mail=app.mail,
        dedupe_key=key,
        kind=kind,
        to=to,
        context=context,
        now=now,
        reply_to=reply_to,
        traceback_id=hop.traceback_id if hop else None,
        hop_id=hop.id if hop else None,
    )


def _findings(decision: Decision) -> list[dict[str, Any]]:
    return [{"rule": f.rule, "detail": f.detail, "traceback_ids": list(f.traceback_ids)} for f in decision.findings]


def visit(
    session: Session,
    app: App,
    thresholds: Thresholds,
    rules: Rules,
    provider_id: int,
    now: datetime,
    counts: Callable[[Traceback], bool] = not_strike_exempt,
) -> str | None:
    """Assess one provider; returns the action recorded, if any."""
    from mailbot.desk import providers

    provider = session.get(Provider, provider_id)
    if provider is None:
        return None
    if session.get_bind().dialect.name == "postgresql":  # one instance at a time decides this provider
        session.execute(select(col(Provider.id)).where(col(Provider.id) == provider_id).with_for_update())
    decision = assess(
        thresholds, evidence(session, provider_id, counts), standing(session, provider_id), now, rules.calendar.add_days
    )
    if decision.warn_hop_id is not None:
        hop = session.get(Hop, decision.warn_hop_id)
        assert hop is not None  # one of the provider's hops, read above
        everyone = [c.address for c in providers.contacts(session, provider_id)]
        _queue(
            session,
            app,
            key=f"noncooperative:{provider_id}:warning:{hop.id}",
            kind=WARNING,
            to=everyone,
            now=now,
            hop=hop,
            context={
                "provider_name": provider.name,
                "traceback_id": hop.traceback_id,
                "count": thresholds.consecutive_no_response,
                "deadline": rules.calendar.add_days(now, thresholds.warning_grace_days),
            },
        )
    if decision.action is None:
        return None
    findings = _findings(decision)
    caused = sorted({tb for f in findings for tb in f["traceback_ids"]})
    change = NonCooperativeChange(
        provider_id=provider_id, action=decision.action, at=now, findings=findings, traceback_ids=caused
    )
    session.add(change)
    session.flush()
    _queue(
        session,
        app,
        key=f"noncooperative:{change.id}:{LETTER[decision.action]}",
        kind=LETTER[decision.action],
        to=providers.notice_addresses(session, provider_id),
        now=now,
        context={"provider_name": provider.name, "findings": findings, "clean_days": int(thresholds.clean_period.days)},
    )
    return decision.action


def run(app: App, rules: Rules, now: datetime, counts: Callable[[Traceback], bool] = not_strike_exempt) -> int:
    """Assess every provider that may have changed; returns how many designations and removals were recorded."""
    if not app.settings.values["noncooperative"].get("enabled", True):
        return 0
    thresholds = thresholds_of(app)
    with session_scope(app.engine) as session:
        provider_ids = providers_to_assess(session, thresholds, now)
    changed = 0
    for provider_id in provider_ids:
        with session_scope(app.engine) as session:
            changed += visit(session, app, thresholds, rules, provider_id, now, counts) is not None
    return changed
