"""Saving arrived messages and what their parse yielded.

`store_raw` is the durable first step (done before an SMTP 250); `apply` records a
parse result. `save_batch` does both for imports in one transaction, so a killed
import leaves either a whole batch or none of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from parsers import campaigns
from parsers.records import SIGHTING_KINDS, ParsedMessage
from store.models import (
    CampaignName,
    Incident,
    Message,
    MessageKey,
    MessageStatus,
    MetricsReport,
    MetricsRow,
    Reply,
    Sighting,
    StaffComment,
    UpstreamNotice,
)
from store.upsert import insert_ignore, upsert


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as read from a source, before it is stored."""

    source: str
    source_key: str
    raw: bytes
    origin: str = "import"


@dataclass(slots=True)
class Tally:
    """What a batch did, summed into the import summary."""

    stored: int = 0
    skipped: int = 0  # already stored from this source and place
    by_status: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> count
    new_incidents: set[str] = field(default_factory=set)
    updated_incidents: set[str] = field(default_factory=set)

    def add(self, other: Tally) -> None:
        self.stored += other.stored
        self.skipped += other.skipped
        for mine, theirs in ((self.by_status, other.by_status), (self.by_kind, other.by_kind),
                             (self.quarantined, other.quarantined)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.new_incidents |= other.new_incidents
        self.updated_incidents |= other.updated_incidents - self.new_incidents


def message_key(message_id: str | None, raw: bytes) -> str:
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def store_raw(session: Session, arrival: Arrival, key: str, received_at: datetime | None = None) -> int | None:
    """Store the raw bytes; the new row's id, or None if this source place was stored before."""
    row = {
        "source": arrival.source,
        "source_key": arrival.source_key,
        "message_key": key,
        "raw_sha256": hashlib.sha256(arrival.raw).hexdigest(),
        "raw": arrival.raw,
        "size": len(arrival.raw),
        "origin": arrival.origin,
        "received_at": received_at or now(),
        "status": MessageStatus.NEW,
        "subject": "",
        "recipients": [],
        "incident_ids": [],
    }
    return insert_ignore(session, Message, [row], ["source", "source_key"], returning="id")[0]


def _claim_key(session: Session, key: str, pk: int) -> bool:
    """True if this message is the first stored with its key; the database decides races."""
    insert_ignore(session, MessageKey, [{"message_key": key, "message_pk": pk}], ["message_key"])
    owner = session.execute(select(MessageKey.message_pk).where(MessageKey.message_key == key)).scalar_one()
    return owner == pk


def apply(session: Session, pk: int, key: str, parsed: ParsedMessage, tally: Tally | None = None) -> str:
    """Record a parse result for stored message `pk`; returns the status it ended with."""
    tally = tally if tally is not None else Tally()
    env = parsed.envelope
    status, reason = MessageStatus.PARSED, None
    if not _claim_key(session, key, pk):
        status = MessageStatus.DUPLICATE
    elif parsed.quarantine:
        status, reason = MessageStatus.QUARANTINED, parsed.quarantine
    incident_ids = [b.incident_id for b in parsed.incidents] or list(parsed.referenced_ids)
    session.execute(
        update(Message)
        .where(Message.id == pk)
        .values(status=status, reason=reason, kind=parsed.kind.value, date=env.date, subject=env.subject[:998],
                sender=env.sender, recipients=list(env.recipients), incident_ids=list(dict.fromkeys(incident_ids)),
                parsed_at=now())
    )
    tally.by_status[status] = tally.by_status.get(status, 0) + 1
    tally.by_kind[parsed.kind.value] = tally.by_kind.get(parsed.kind.value, 0) + 1
    if reason:
        tally.quarantined[reason] = tally.quarantined.get(reason, 0) + 1
    if status == MessageStatus.PARSED:
        _derive(session, pk, parsed, tally)
    return status


def _derive(session: Session, pk: int, parsed: ParsedMessage, tally: Tally) -> None:
    env = parsed.envelope
    if parsed.kind in SIGHTING_KINDS and parsed.incidents:
        rows = [
            {"incident_id": b.incident_id, "message_pk": pk, "seen_at": env.date, "kind": parsed.kind.value,
             "recipients": list(env.recipients), "campaign": b.campaign, "call_time": b.call_time,
             "called": b.called, "caller": b.caller, "description": b.description}
            for b in parsed.incidents
        ]
        # One sighting per incident per message, even if a notice repeats a block.
        unique = list({r["incident_id"]: r for r in reversed(rows)}.values())[::-1]
        insert_ignore(session, Sighting, unique, ["incident_id", "message_pk"])
        refresh_incidents(session, [r["incident_id"] for r in unique], tally)
        _register_campaigns(session, {b.campaign for b in parsed.incidents if b.campaign})
    if parsed.metrics:
        m = parsed.metrics
        report = MetricsReport(message_pk=pk, organization=m.organization, addressee=m.addressee, sent_at=env.date)
        session.add(report)
        session.flush()
        rows = ([{"report_id": report.id, "table": "your", "provider": None, "values": m.your_summary.values}]
                if m.your_summary else [])
        rows += [{"report_id": report.id, "table": "upstream", "provider": r.provider, "values": r.values}
                 for r in m.upstream]
        if rows:
            session.execute(MetricsRow.__table__.insert(), rows)  # type: ignore[attr-defined]
    if parsed.upstream_notice:
        n = parsed.upstream_notice
        session.add(UpstreamNotice(message_pk=pk, provider=n.provider, traceback_id=n.traceback_id, sent_at=env.date))
    if parsed.comment:
        c = parsed.comment
        session.add(StaffComment(message_pk=pk, author=c.author, organization=c.organization, text=c.text,
                                 sent_at=env.date))
    if parsed.reply:
        r = parsed.reply
        session.add(Reply(message_pk=pk, incident_ids=list(r.incident_ids), outcome=r.outcome,
                          upstream_name=r.upstream_name, upstream_email=r.upstream_email,
                          customer_name=r.customer_name, evidence=r.evidence, text=r.text))
    session.flush()


def refresh_incidents(session: Session, ids: Sequence[str], tally: Tally | None = None) -> None:
    """Recompute incidents from all their sightings, so the result never depends on arrival order."""
    ids = sorted(set(ids))
    if not ids:
        return
    # Lock the incident rows (PostgreSQL) so concurrent importers recompute in turn.
    insert_ignore(session, Incident, [{"incident_id": i} for i in ids], ["incident_id"])
    existing = set(session.execute(
        select(Incident.incident_id).where(Incident.incident_id.in_(ids), Incident.sightings > 0)
        .order_by(Incident.incident_id).with_for_update()
    ).scalars())
    sightings = session.execute(
        select(Sighting).where(Sighting.incident_id.in_(ids))
        .order_by(Sighting.incident_id, Sighting.seen_at.is_(None), Sighting.seen_at, Sighting.message_pk)
    ).scalars().all()
    grouped: dict[str, list[Sighting]] = {}
    for s in sightings:
        grouped.setdefault(s.incident_id, []).append(s)
    rows = [_incident_row(i, grouped.get(i, [])) for i in ids]
    upsert(session, Incident, rows, ["incident_id"])
    if tally is not None:
        tally.new_incidents |= set(ids) - existing
        tally.updated_incidents |= (set(ids) & existing) - tally.new_incidents


def _first(sightings: Iterable[Sighting], name: str):  # type: ignore[no-untyped-def]
    return next((getattr(s, name) for s in sightings if getattr(s, name) is not None), None)


def _incident_row(incident_id: str, sightings: list[Sighting]) -> dict:
    dates = [s.seen_at for s in sightings if s.seen_at is not None]
    return {
        "incident_id": incident_id,
        **{name: _first(sightings, name) for name in ("campaign", "call_time", "called", "caller", "description")},
        "first_seen": min(dates) if dates else None,
        "last_seen": max(dates) if dates else None,
        "sightings": len({s.message_pk for s in sightings}),
    }


def _register_campaigns(session: Session, names: set[str]) -> None:
    known = set(session.execute(select(CampaignName.name).where(CampaignName.name.in_(names))).scalars())
    if names - known:
        insert_ignore(session, CampaignName, [{"name": n, "canonical": n} for n in sorted(names - known)], ["name"])


def recluster_campaigns(session: Session) -> None:
    """Recompute every campaign's canonical name over all names seen so far."""
    counts = dict(session.execute(
        select(Incident.campaign, func.count()).where(Incident.campaign.is_not(None)).group_by(Incident.campaign)
    ).all())
    names = set(session.execute(select(CampaignName.name)).scalars()) | set(counts)
    mapping = campaigns.canonical_names({n: counts.get(n, 0) for n in names})
    upsert(session, CampaignName, [{"name": n, "canonical": c} for n, c in sorted(mapping.items())], ["name"])


def clear_derived(session: Session, pks: Sequence[int] | None = None) -> None:
    """Forget what parsing derived (all, or for these messages), before a reparse."""
    for model in (Sighting, MetricsRow, MetricsReport, UpstreamNotice, StaffComment, Reply):
        stmt = delete(model)
        if pks is not None:
            if model is MetricsRow:
                stmt = stmt.where(MetricsRow.report_id.in_(
                    select(MetricsReport.id).where(MetricsReport.message_pk.in_(pks))))
            else:
                stmt = stmt.where(model.message_pk.in_(pks))  # type: ignore[attr-defined]
        session.execute(stmt)
    if pks is None:
        session.execute(delete(Incident))
        session.execute(delete(MessageKey))
