"""Exports other tools read. The keys of each row are a contract: add, never rename."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from mailbot.desk import disputes as dispute_rows
from mailbot.desk import views
from mailbot.domain.timeutil import iso_z
from mailbot.store.standing import designated_ids
from mailbot.store.tables.desk import Provider
from mailbot.store.tables.messages import CampaignName, Incident, Message, Reply
from mailbot.store.tables.schedule import NonCooperativeChange


def incidents(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Incident, col(CampaignName.canonical))
        .outerjoin(CampaignName, col(CampaignName.name) == col(Incident.campaign))
        .where(col(Incident.sightings) > 0)
    ).all()
    out = [
        {
            "incident_id": i.incident_id,
            "campaign": i.campaign,
            "campaign_canonical": canonical or i.campaign,
            "call_time": iso_z(i.call_time),
            "called": i.called,
            "caller": i.caller,
            "description": i.description,
            "first_seen": iso_z(i.first_seen),
            "last_seen": iso_z(i.last_seen),
            "sightings": i.sightings,
        }
        for i, canonical in rows
    ]
    return sorted(out, key=lambda r: int(r["incident_id"]))


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Which incidents export rows a staff query wants; None: any."""

    campaign: str | None = None  # as written or canonical, any case
    since: datetime | None = None  # call time at or after (naive: UTC)
    until: datetime | None = None  # call time before
    caller: str | None = None  # E.164
    called: str | None = None

    def admits(self, row: dict[str, Any]) -> bool:
        if self.campaign is not None and self.campaign.casefold() not in {
            (row["campaign"] or "").casefold(),
            (row["campaign_canonical"] or "").casefold(),
        }:
            return False
        if self.caller is not None and row["caller"] != self.caller:
            return False
        if self.called is not None and row["called"] != self.called:
            return False
        if self.since is None and self.until is None:
            return True
        if row["call_time"] is None:
            return False
        at = datetime.fromisoformat(row["call_time"].replace("Z", "+00:00"))
        return (self.since is None or at >= _utc(self.since)) and (self.until is None or at < _utc(self.until))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def messages(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            col(Message.message_key),
            col(Message.kind),
            col(Message.incident_ids),
            col(Message.status),
            col(Message.reason),
            col(Message.date),
        )
    ).all()
    out = [
        {
            "message_id": key,
            "kind": kind,
            "incident_ids": list(ids or []),
            "status": status,
            "reason": reason,
            "date": iso_z(date),
        }
        for key, kind, ids, status, reason, date in rows
    ]
    return sorted(out, key=lambda r: (r["date"] or "", r["message_id"], r["status"]))


def replies(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Reply, col(Message.message_key)).join(Message, col(Message.id) == col(Reply.message_pk))
    ).all()
    out = [
        {
            "message_id": key,
            "incident_ids": list(r.incident_ids),
            "outcome": r.outcome,
            "upstream_name": r.upstream_name,
            "upstream_email": r.upstream_email,
            "customer_name": r.customer_name,
            "evidence": r.evidence,
        }
        for r, key in rows
    ]
    return sorted(out, key=lambda r: r["message_id"])


def noncooperative(session: Session, only_current: bool = False) -> list[dict[str, Any]]:
    """Every Non-Cooperative designation and removal, oldest first: the list a coordinator publishes.

    `only_current`: the newest record of each provider designated now.
    """
    names = dict(session.execute(select(col(Provider.id), col(Provider.name))).all())
    out = [
        {
            "provider": names.get(row.provider_id),
            "provider_id": row.provider_id,
            "action": row.action,
            "at": iso_z(row.at),
            "reasons": "; ".join(f["detail"] for f in row.findings),
            "rules": [f["rule"] for f in row.findings],
            "traceback_ids": list(row.traceback_ids),
        }
        for row in session.scalars(select(NonCooperativeChange).order_by(col(NonCooperativeChange.id)))
    ]
    if not only_current:
        return out
    current = designated_ids(session)
    newest = {row["provider_id"]: row for row in out}
    return sorted((row for pid, row in newest.items() if pid in current), key=lambda r: r["provider"] or "")


def tracebacks(session: Session) -> list[dict[str, Any]]:
    """Every traceback and Trace Forward, Strike Exempt ones included and flagged (`strike_exempt`, why)."""
    return views.listing(session)


def disputes(session: Session) -> list[dict[str, Any]]:
    """Every dispute, decided or not, with its evidence (the reply's words, its attachments' names)."""
    return dispute_rows.listing(session, include_decided=True)


EXPORTS: dict[str, Callable[[Session], list[dict[str, Any]]]] = {
    "incidents": incidents,
    "messages": messages,
    "replies": replies,
    "noncooperative": noncooperative,
    "tracebacks": tracebacks,
    "disputes": disputes,
}


def all_exports(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every export by name: what equivalence tests compare between two stores."""
    return {name: build(session) for name, build in EXPORTS.items()}


def render(rows: list[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    fields = columns or (list(rows[0]) if rows else [])
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    return buffer.getvalue()
