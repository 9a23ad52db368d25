"""Saving arrived messages and what their parse yielded.

`store_raw` is the durable first step (done before an SMTP 250); `apply` records a
parse result. `save_batch` does both for imports in one transaction, so a killed
import leaves either a whole batch or none of it, in a handful of statements
whatever the batch size.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

from mailbot.store.dialect import LockSpace, advisory_xact_lock, among, is_postgresql
from mailbot.store.tables import table_of
from mailbot.store.tables.messages import (
    CampaignName,
    Incident,
    Message,
    MessageKey,
    MetricsReport,
    MetricsRow,
    Reply,
    Sighting,
    StaffComment,
    UpstreamNotice,
)
from mailbot.store.upsert import (
    Bulk,
    Memo,
    bulk_insert,
    bulk_insert_returning,
    insert_ignore,
    upsert,
)
from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlmodel import Session, col

from mailbot.domain.records import SIGHTING_KINDS, Arrival, ParsedMessage
from mailbot.domain.vocabulary import MessageStatus


@dataclass(slots=True)
class Tally:
    """What a batch did, summed into the import summary."""

    stored: int = 0
    skipped: int = 0  # already stored from this source and place
    not_mail: int = 0  # files in a directory or archive that are not mail: read, not stored
    by_status: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> count
    # (message id, source, source_key, reason) of each message quarantined, for the summary.
    quarantine_places: list[tuple[int, str, str, str]] = field(default_factory=list)
    new_incidents: set[str] = field(default_factory=set)
    updated_incidents: set[str] = field(default_factory=set)
    requeued: int = 0  # live messages whose processing had failed, queued again (reparse)

    def add(self, other: Tally) -> None:
        self.stored += other.stored
        self.skipped += other.skipped
        self.not_mail += other.not_mail
        self.requeued += other.requeued
        for mine, theirs in (
            (self.by_status, other.by_status),
            (self.by_kind, other.by_kind),
            (self.quarantined, other.quarantined),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.quarantine_places += other.quarantine_places
        self.new_incidents |= other.new_incidents
        self.updated_incidents |= other.updated_incidents - self.new_incidents


def message_key(message_id: str | None, raw: bytes) -> str:
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def _raw_row(arrival: Arrival, key: str, received_at: datetime | None = None) -> dict:
    return {
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


def store_raw(session: Session, arrival: Arrival, key: str, received_at: datetime | None = None) -> int | None:
    """Store the raw bytes; the new row's id, or None if this source place was stored before."""
    return insert_ignore(
        session, Message, [_raw_row(arrival, key, received_at)], ["source", "source_key"], returning="id"
    )[0]


# The import's hot inserts, written through the driver (store/upsert.py: Bulk).
T = TypeVar("T")

MESSAGES = Bulk(
    Message,
    (
        "source",
        "source_key",
        "message_key",
        "raw_sha256",
        "raw",
        "size",
        "origin",
        "received_at",
        "status",
        "reason",
        "kind",
        "date",
        "subject",
        "sender",
        "recipients",
        "incident_ids",
        "parsed_at",
    ),
    keys=("source", "source_key"),
    returning=("id", "source", "source_key"),
)
MESSAGE_KEYS = Bulk(MessageKey, ("message_key", "message_pk"), keys=("message_key",))
SIGHTINGS = Bulk(
    Sighting,
    (
        "incident_id",
        "message_pk",
        "seen_at",
        "kind",
        "recipients",
        "campaign",
        "call_time",
        "called",
        "caller",
        "description",
    ),
    keys=("incident_id", "message_pk"),
)
INCIDENT_IDS = Bulk(Incident, ("incident_id",), keys=("incident_id",))
INCIDENTS = Bulk(
    Incident,
    ("incident_id", "campaign", "call_time", "called", "caller", "description", "first_seen", "last_seen", "sightings"),
    keys=("incident_id",),
    update=True,
)
METRICS_REPORTS = Bulk(
    MetricsReport,
    ("message_pk", "organization", "addressee", "sent_at"),
    keys=("message_pk",),
    returning=("id", "message_pk"),
)
METRICS_ROWS = Bulk(MetricsRow, ("report_id", "table", "provider", "values"))
CAMPAIGN_NAMES = Bulk(CampaignName, ("name", "canonical"), keys=("name",))
UPSTREAM_NOTICES = Bulk(UpstreamNotice, ("message_pk", "provider", "traceback_id", "sent_at"))
STAFF_COMMENTS = Bulk(StaffComment, ("message_pk", "author", "organization", "text", "sent_at"))
REPLIES = Bulk(
    Reply,
    (
        "message_pk",
        "incident_ids",
        "outcome",
        "upstream_name",
        "upstream_email",
        "customer_name",
        "evidence",
        "text",
        "confidence",
    ),
)


def _claim_keys(session: Session, claims: Sequence[tuple[str, int]]) -> set[int]:
    """The messages that are the first stored with their key; the database decides races.

    Within `claims` the first message with a key wins, as it would arriving alone.
    """
    first = {key: pk for key, pk in reversed(claims)}
    # In key order, so importers of one mailbox in different orders take the row locks in
    # the same order and cannot deadlock.
    if bulk_insert(session, MESSAGE_KEYS, sorted(first.items())) == len(first):
        return set(first.values())  # every key was free: each message claimed its own
    owners = session.execute(
        select(col(MessageKey.message_key), col(MessageKey.message_pk)).where(
            col(MessageKey.message_key).in_(list(first))
        )
    ).all()
    return {pk for _, pk in owners}


def _parsed_fields(parsed: ParsedMessage, parsed_at: datetime) -> dict:
    env = parsed.envelope
    return {
        "kind": parsed.kind.value,
        "date": env.date,
        "subject": env.subject[:998],
        "sender": env.sender,
        "recipients": list(env.recipients),
        "incident_ids": _incident_ids(parsed),
        "parsed_at": parsed_at,
    }


def _incident_ids(parsed: ParsedMessage) -> list[str]:
    return list(dict.fromkeys([b.incident_id for b in parsed.incidents] or parsed.referenced_ids))


def _count(tally: Tally, statuses: Sequence[str], parsed: Sequence[ParsedMessage]) -> None:
    """Add the messages' statuses, kinds and quarantine reasons to the tally."""
    reasons = [
        p.quarantine
        for s, p in zip(statuses, parsed, strict=True)
        if s == MessageStatus.QUARANTINED and p.quarantine is not None  # a quarantined message has its reason
    ]
    for counts, values in (
        (tally.by_status, statuses),
        (tally.by_kind, [p.kind.value for p in parsed]),
        (tally.quarantined, reasons),
    ):
        for key, n in Counter(values).items():
            counts[key] = counts.get(key, 0) + n


def _message_row(arrival: Arrival, key: str, parsed: ParsedMessage, at: datetime) -> tuple:
    """A MESSAGES row: stored and parsed at `at`, with the status it has if it wins its key."""
    env = parsed.envelope
    status = MessageStatus.QUARANTINED if parsed.quarantine else MessageStatus.PARSED
    return (
        arrival.source,
        arrival.source_key,
        key,
        hashlib.sha256(arrival.raw).hexdigest(),
        arrival.raw,
        len(arrival.raw),
        arrival.origin,
        at,
        status,
        parsed.quarantine,
        parsed.kind.value,
        env.date,
        env.subject[:998],
        env.sender,
        env.recipients,
        _incident_ids(parsed),
        at,
    )


def save_batch(session: Session, arrivals: Sequence[Arrival], parsed: Sequence[ParsedMessage], tally: Tally) -> None:
    """Store a batch of arrivals with what their parse yielded; places stored before are skipped.

    Rows go in with the status they will have if they win their Message-ID;
    the few that lose the claim become duplicates.
    """
    at, memo = now(), Memo()
    keys = [
        message_key(result.envelope.message_id, arrival.raw) for arrival, result in zip(arrivals, parsed, strict=True)
    ]
    rows = [_message_row(arrival, key, result, at) for arrival, key, result in zip(arrivals, keys, parsed, strict=True)]
    got = {(source, place): pk for pk, source, place in bulk_insert_returning(session, MESSAGES, rows, memo)}
    stored = []
    quarantined: dict[int, Arrival] = {}
    for arrival, key, result in zip(arrivals, keys, parsed, strict=True):
        # pop: a place repeated in the batch was stored once, for its first arrival
        pk = got.pop((arrival.source, arrival.source_key), None)
        if pk is not None:
            stored.append((pk, key, result))
            if result.quarantine:
                quarantined[pk] = arrival
    tally.skipped += len(rows) - len(stored)
    tally.stored += len(stored)
    owners = _claim_keys(session, [(key, pk) for pk, key, _ in stored])
    duplicates = [pk for pk, _, _ in stored if pk not in owners]
    if duplicates:
        session.execute(
            update(Message).where(col(Message.id).in_(duplicates)).values(status=MessageStatus.DUPLICATE, reason=None)
        )
    _count(
        tally,
        [
            MessageStatus.DUPLICATE
            if pk not in owners
            else MessageStatus.QUARANTINED
            if result.quarantine
            else MessageStatus.PARSED
            for pk, _, result in stored
        ],
        [result for _, _, result in stored],
    )
    tally.quarantine_places += [
        (pk, quarantined[pk].source, quarantined[pk].source_key, str(result.quarantine))
        for pk, _, result in stored
        if pk in owners and result.quarantine
    ]
    _derive(session, [(pk, result) for pk, _, result in stored if pk in owners and not result.quarantine], tally, memo)


def apply(session: Session, pk: int, key: str, parsed: ParsedMessage, tally: Tally | None = None) -> str:
    """Record a parse result for stored message `pk`; returns the status it ended with."""
    tally = tally if tally is not None else Tally()
    status, reason = MessageStatus.PARSED, None
    if pk not in _claim_keys(session, [(key, pk)]):
        status = MessageStatus.DUPLICATE
    elif parsed.quarantine:
        status, reason = MessageStatus.QUARANTINED, parsed.quarantine
    session.execute(
        update(Message)
        .where(col(Message.id) == pk)
        .values(status=status, reason=reason, **_parsed_fields(parsed, now()))
    )
    _count(tally, [status], [parsed])
    if status == MessageStatus.PARSED:
        _derive(session, [(pk, parsed)], tally)
    return status


class SightingRow(NamedTuple):
    """A SIGHTINGS row; read back from the database, rows have these names too."""

    incident_id: str
    message_pk: int
    seen_at: datetime | None
    kind: str
    recipients: Sequence[str]
    campaign: str | None
    call_time: datetime | None
    called: str | None
    caller: str | None
    description: str | None


def _sighting_rows(pk: int, parsed: ParsedMessage) -> list[SightingRow]:
    env, kind = parsed.envelope, parsed.kind.value
    rows = [
        SightingRow(
            b.incident_id,
            pk,
            env.date,
            kind,
            env.recipients,
            b.campaign,
            b.call_time,
            b.called,
            b.caller,
            b.description,
        )
        for b in parsed.incidents
    ]
    if len(rows) < 2:
        return rows
    # One sighting per incident per message, even if a notice repeats a block.
    return list({r.incident_id: r for r in reversed(rows)}.values())[::-1]


def _derive(
    session: Session, results: Sequence[tuple[int, ParsedMessage]], tally: Tally, memo: Memo | None = None
) -> None:
    """Rows derived from parsed messages; sightings and incidents in one pass for all of them."""
    sightings = [row for pk, parsed in results if parsed.kind in SIGHTING_KINDS for row in _sighting_rows(pk, parsed)]
    if sightings:
        bulk_insert(session, SIGHTINGS, sightings, memo)
        refresh_incidents(session, [r.incident_id for r in sightings], tally, fresh=sightings, memo=memo)
        _register_campaigns(session, {r.campaign for r in sightings if r.campaign})
    _derive_metrics(session, [(pk, parsed) for pk, parsed in results if parsed.metrics], memo)
    _derive_records(session, results, memo)


def _derive_metrics(session: Session, results: Sequence[tuple[int, ParsedMessage]], memo: Memo | None) -> None:
    reports = [(pk, p.metrics.organization, p.metrics.addressee, p.envelope.date) for pk, p in results if p.metrics]
    ids = {pk: report_id for report_id, pk in bulk_insert_returning(session, METRICS_REPORTS, reports, memo)}
    rows: list[tuple[int, str, str | None, dict[str, str]]] = []
    for pk, parsed in results:
        m = parsed.metrics
        report_id = ids.pop(pk, None)  # pop: a message's first report only
        if report_id is None or m is None:
            continue
        if m.your_summary:
            rows.append((report_id, "your", None, m.your_summary.values))
        rows += [(report_id, "upstream", r.provider, r.values) for r in m.upstream]
    bulk_insert(session, METRICS_ROWS, rows, memo)


def _derive_records(session: Session, results: Sequence[tuple[int, ParsedMessage]], memo: Memo | None) -> None:
    notices, comments, replies = [], [], []
    for pk, parsed in results:
        date = parsed.envelope.date
        if n := parsed.upstream_notice:
            notices.append((pk, n.provider, n.traceback_id, date))
        if c := parsed.comment:
            comments.append((pk, c.author, c.organization, c.text, date))
        if r := parsed.reply:
            replies.append(
                (
                    pk,
                    list(r.incident_ids),
                    r.outcome,
                    r.upstream_name,
                    r.upstream_email,
                    r.customer_name,
                    r.evidence,
                    r.text,
                    r.confidence,
                )
            )
    bulk_insert(session, UPSTREAM_NOTICES, notices, memo)
    bulk_insert(session, STAFF_COMMENTS, comments, memo)
    bulk_insert(session, REPLIES, replies, memo)


def refresh_incidents(
    session: Session,
    ids: Sequence[str],
    tally: Tally | None = None,
    fresh: Sequence[SightingRow] = (),
    memo: Memo | None = None,
) -> None:
    """Recompute incidents from all their sightings, so the result never depends on arrival order.

    `fresh` are sighting rows this transaction has just inserted. An incident that had
    no sightings before (checked under its row lock) has no others, so it is computed
    from these without reading them back; the rest are recomputed from the database.
    """
    ids = sorted(set(ids))
    if not ids:
        return
    if is_postgresql(session):
        # Lock the incident rows so concurrent importers recompute in turn (a SQLite
        # writer has the whole database to itself).
        bulk_insert(session, INCIDENT_IDS, [(i,) for i in ids])
    existing = _with_sightings(session, ids)
    grouped: dict[str, list] = {}
    for row in fresh:
        if row.incident_id not in existing:
            grouped.setdefault(row.incident_id, []).append(row)
    for group in grouped.values():
        if len(group) > 1:
            group.sort(key=_sighting_order)
    reread = [i for i in ids if i in existing or i not in grouped]
    if reread:
        sighting = table_of(Sighting).c
        # Core, not ORM: the ORM's own work per statement was a tenth of a batch's.
        columns = (
            sighting.incident_id,
            sighting.message_pk,
            sighting.seen_at,
            sighting.campaign,
            sighting.call_time,
            sighting.called,
            sighting.caller,
            sighting.description,
        )
        sightings = (
            session.connection()
            .execute(
                select(*columns)
                .where(among(session, sighting.incident_id, reread))
                .order_by(sighting.incident_id, sighting.seen_at.is_(None), sighting.seen_at, sighting.message_pk)
            )
            .all()
        )
        for s in sightings:
            grouped.setdefault(s.incident_id, []).append(s)
    bulk_insert(session, INCIDENTS, [_incident_row(i, grouped.get(i, [])) for i in ids], memo)
    if tally is not None:
        tally.new_incidents |= set(ids) - existing
        tally.updated_incidents |= (set(ids) & existing) - tally.new_incidents


def _with_sightings(session: Session, ids: Sequence[str]) -> set[str]:
    """Those of `ids` whose incidents have sightings, their rows locked in id order (PostgreSQL).

    Written for the driver: SQLAlchemy's expanding of an IN list of a batch's ids took
    ~1 ms a batch; on PostgreSQL the ids are one array parameter.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return set(
            connection.exec_driver_sql(
                "SELECT incident_id FROM incident WHERE incident_id = ANY(%b::VARCHAR[]) AND sightings > 0"
                " ORDER BY incident_id FOR UPDATE",
                (list(ids),),
            ).scalars()
        )
    return set(
        connection.exec_driver_sql(
            f"SELECT incident_id FROM incident WHERE incident_id IN ({', '.join('?' * len(ids))}) AND sightings > 0",
            tuple(ids),
        ).scalars()
    )


def _sighting_order(row: SightingRow) -> tuple:
    """The order refresh_incidents reads sightings in: dated first, oldest first, then by message."""
    return (row.seen_at is None, row.seen_at or datetime.min.replace(tzinfo=UTC), row.message_pk)


def _first(values: Iterable[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


def _incident_row(incident_id: str, sightings: Sequence) -> tuple:
    """An INCIDENTS row from the incident's sightings, in `_sighting_order`."""
    if len(sightings) == 1:  # most incidents: its values are the one sighting's
        s = sightings[0]
        return (incident_id, s.campaign, s.call_time, s.called, s.caller, s.description, s.seen_at, s.seen_at, 1)
    dates = [s.seen_at for s in sightings if s.seen_at is not None]
    return (
        incident_id,
        _first(s.campaign for s in sightings),
        _first(s.call_time for s in sightings),
        _first(s.called for s in sightings),
        _first(s.caller for s in sightings),
        _first(s.description for s in sightings),
        min(dates) if dates else None,
        max(dates) if dates else None,
        len({s.message_pk for s in sightings}),
    )


def _register_campaigns(session: Session, names: set[str]) -> None:
    """New names start as their own cluster (the next clustering merges them); known ones are kept."""
    bulk_insert(session, CAMPAIGN_NAMES, [(n, n) for n in sorted(names)])


def campaign_counts(session: Session) -> dict[str, int]:
    """Every campaign name seen so far, with how many incidents carry it, for clustering.

    Holds the clustering lock until the transaction ends: importers finishing together
    cluster in turn, and the last one reads everything the others committed, so an
    earlier, partial view cannot overwrite it (`save_canonical` in the same transaction).
    """
    advisory_xact_lock(session, LockSpace.CAMPAIGNS, 0)
    counts = dict(
        session.execute(
            select(col(Incident.campaign), func.count())
            .where(col(Incident.campaign).is_not(None))
            .group_by(col(Incident.campaign))
        ).all()
    )
    names = set(session.execute(select(col(CampaignName.name))).scalars()) | set(counts)
    return {n: counts.get(n, 0) for n in names}


def save_canonical(session: Session, mapping: dict[str, str]) -> None:
    """Record each campaign name's canonical name (name -> canonical)."""
    upsert(session, CampaignName, [{"name": n, "canonical": c} for n, c in sorted(mapping.items())], ["name"])


def clear_derived(session: Session, pks: Sequence[int] | None = None) -> None:
    """Forget what parsing derived (all, or for these messages), before a reparse."""
    for model in (Sighting, MetricsRow, MetricsReport, UpstreamNotice, StaffComment, Reply):
        stmt = delete(model)
        if pks is not None:
            if model is MetricsRow:
                stmt = stmt.where(
                    col(MetricsRow.report_id).in_(
                        select(col(MetricsReport.id)).where(col(MetricsReport.message_pk).in_(pks))
                    )
                )
            else:
                # Every model but MetricsRow (above) has message_pk.
                stmt = stmt.where(col(model.message_pk).in_(pks))  # type: ignore[union-attr]
        session.execute(stmt)
    if pks is None:
        session.execute(delete(Incident))
        session.execute(delete(MessageKey))
