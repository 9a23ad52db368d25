"""Read models of the desk: reviews, a traceback's timeline, the listing (JSON contracts)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from mailbot.desk import disputes
from mailbot.desk.confirm import PROPOSED_FIELDS
from mailbot.desk.workflow import DeskError
from mailbot.domain.hop_labels import labels_by_hop
from mailbot.domain.timeutil import iso_z
from mailbot.domain.vocabulary import TracebackDirection, TracebackStatus
from mailbot.store.paths import paths
from mailbot.store.queries import last_hop
from mailbot.store.tables.desk import (
    Hop,
    HopMessage,
    Provider,
    Review,
    Traceback,
)
from mailbot.store.tables.outbox import OutboxMessage


def reviews(session: Session, include_resolved: bool = False) -> list[dict[str, Any]]:
    query = select(Review).order_by(col(Review.id))
    if not include_resolved:
        query = query.where(col(Review.resolved).is_(False))
    names = {p.id: p.name for p in session.exec(select(Provider)).all()}
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "traceback_id": r.traceback_id,
            "hop_id": r.hop_id,
            "provider": names.get(r.provider_id),
            "message_pk": r.message_pk,
            "detail": r.summary,
            "created_at": iso_z(r.created_at),
            "resolved": r.resolved,
            "count": r.count,
            "proposal": r.proposal,
        }
        for r in session.exec(query).all()
    ]


def describe_proposal(proposal: dict[str, Any] | None) -> str:
    """A proposed change in a few words, for the command's answer."""
    if not proposal:
        return "nothing"
    role, provider = proposal.get("role", "primary"), proposal.get("provider_id")
    return f"{proposal.get('address')} as a {role} contact of provider {provider}"


# --- reading -----------------------------------------------------------------------------------

# How a listing names each kind of traceback.
KIND_LABEL = {TracebackDirection.BACK: "traceback", TracebackDirection.FORWARD: "trace forward"}


def _marks(tb: Traceback) -> dict[str, Any]:
    """The keys every traceback row carries beside its own: which way it walks, and its Strike Exempt mark."""
    return {
        "direction": tb.direction,
        "kind": KIND_LABEL[TracebackDirection(tb.direction)],
        "strike_exempt": tb.strike_exempt,
        "exempt_reason": tb.exempt_reason,
        "exempt_note": tb.exempt_note,
        "exempt_at": iso_z(tb.exempt_at),
    }


def timeline(session: Session, traceback_id: int) -> dict[str, Any]:
    """The `traceback show --format json` contract: the traceback, its hops in path order, and their mail.

    A Trace Forward's (`traceforward show`) is the same, `direction` `forward`: `called` is the
    call-back number, each hop's `upstream_name`/`upstream_email` the next provider it named
    (downstream), `customer_name` the subscriber; its hops carry no label."""
    tb = session.get(Traceback, traceback_id)
    if tb is None:
        raise DeskError(f"no traceback #{traceback_id}")
    hops = []
    labels = labels_by_hop(paths(session, [traceback_id]))
    for hop in session.exec(select(Hop).where(col(Hop.traceback_id) == tb.id).order_by(col(Hop.position))).all():
        assert hop.id is not None  # a stored row
        provider = session.get(Provider, hop.provider_id)
        out = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.hop_id) == hop.id).order_by(col(OutboxMessage.id))
        ).all()
        incoming = session.exec(
            select(HopMessage).where(col(HopMessage.hop_id) == hop.id).order_by(col(HopMessage.id))
        ).all()
        messages = [
            {
                "direction": "out",
                "kind": m.kind,
                "at": iso_z(m.created_at),
                "to": m.recipients,
                "status": m.status,
                "message_id": m.message_id,
            }
            for m in out
        ]
        messages += [
            {"direction": "in", "kind": m.kind, "at": iso_z(m.at), "from": m.address, "message_id": m.message_id}
            for m in incoming
        ]
        messages.sort(key=lambda m: (m["at"] or "", m["direction"] == "out"))  # an answer precedes its acknowledgement
        hops.append(
            {
                "position": hop.position,
                "provider": provider.name if provider else None,
                "outcome": hop.outcome,
                "label": labels.get(hop.id),
                "requested_at": iso_z(hop.requested_at),
                "answered_at": iso_z(hop.answered_at),
                "upstream_name": hop.upstream_name,
                "upstream_email": hop.upstream_email,
                "customer_name": hop.customer_name,
                "evidence": hop.evidence,
                # A reading waiting for the carrier's YES (SÍ): outcome, names, address, confidence.
                "proposed": (
                    {key: hop.proposed.get(key) for key in PROPOSED_FIELDS} if hop.proposed is not None else None
                ),
                "reminders_sent": hop.reminders_sent,
                "messages": messages,
            }
        )
    return {
        "traceback_id": tb.id,
        "status": tb.status,
        "result": tb.result,
        "campaign": tb.campaign,
        "call_time": iso_z(tb.call_time),
        "called": tb.called,
        "caller": tb.caller,
        "description": tb.description,
        "incident_id": tb.incident_id,
        "origin_customer": tb.origin_customer,
        "opened_at": iso_z(tb.opened_at),
        "closed_at": iso_z(tb.closed_at),
        "hops": hops,
        **_marks(tb),
        "disputes": disputes.listing(session, include_decided=True, traceback_id=tb.id),
    }


def listing(session: Session, only_open: bool = False, direction: str | None = None) -> list[dict[str, Any]]:
    """The `traceback list --format json` rows (and the `tracebacks` export): both kinds, labelled."""
    query = select(Traceback).order_by(col(Traceback.id))
    if only_open:
        query = query.where(col(Traceback.status) == TracebackStatus.OPEN)
    if direction is not None:
        query = query.where(col(Traceback.direction) == direction)
    out = []
    for tb in session.exec(query).all():
        last = last_hop(session, tb.id)
        provider = session.get(Provider, last.provider_id) if last else None
        out.append(
            {
                "traceback_id": tb.id,
                "status": tb.status,
                "result": tb.result,
                "campaign": tb.campaign,
                "hops": (last.position + 1) if last else 0,
                "current": provider.name if provider else None,
                "opened_at": iso_z(tb.opened_at),
                "closed_at": iso_z(tb.closed_at),
                "called": tb.called,
                **_marks(tb),
            }
        )
    return out
