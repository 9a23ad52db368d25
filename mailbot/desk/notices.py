"""Notices about hops, written once for the desk and the scheduler.

What a provider may see about its hop (the call, and only its direct downstream),
sending a notice with the hop's signed Reply-To, closing a traceback, and the grammar
of the outbox's dedupe keys, which make every notice exactly-once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from mailbot.desk import providers
from mailbot.domain.vocabulary import TracebackDirection, TracebackStatus
from mailbot.outbound import outbox
from mailbot.store.tables.desk import Hop, Provider, Traceback

if TYPE_CHECKING:
    from mailbot.app import App


# --- dedupe keys: one grammar, written here only --------------------------------------------


def hop_key(hop_id: int, kind: str, sequence: object) -> str:
    """A notice about one hop: its request, each reminder, each acknowledgement, ..."""
    return f"hop:{hop_id}:{kind}:{sequence}"


def resend_sequence(outbox_id: int | None) -> str:
    """The sequence of a notice sent again to a backup address after `outbox_id` bounced."""
    return f"resend:{outbox_id}"


def refusal_key(sender: str, day: date) -> str:
    return f"refusal:{sender.lower()}:{day.isoformat()}"


def status_list_key(message_pk: int) -> str:
    return f"status:{message_pk}"


def status_change_key(change_id: int | None, kind: str, downstream_id: int | None = None) -> str:
    return f"status:{change_id}:{kind}" + (f":{downstream_id}" if downstream_id is not None else "")


def ops_reply_key(message_pk: int) -> str:
    """The answer to one reply of ops' with commands."""
    return f"ops:{message_pk}"


def escalation_key(provider_id: int, completing_hop_id: int) -> str:
    return f"provider:{provider_id}:escalation:{completing_hop_id}"


# The claims of every escalation, as a LIKE pattern (the digest lists them).
ESCALATION_KEYS = "provider:%:escalation:%"


def metrics_key(provider_id: int, period: str) -> str:
    return f"metrics:{provider_id}:{period}"


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def manual_digest_key(moment: datetime) -> str:
    """A digest ops asked for: its own message, keyed by the moment."""
    return f"digest:manual:{moment.isoformat()}"


# --- what a notice says ---------------------------------------------------------------------


def call_details(tb: Traceback) -> dict[str, Any]:
    return {
        "call_time": tb.call_time,
        "called": tb.called,
        "caller": tb.caller,
        "campaign": tb.campaign,
        "description": tb.description,
    }


def hop_context(session: Session, hop: Hop, *, with_downstream: bool = True) -> dict[str, Any]:
    """What a provider may see about its hop: the call and who its direct downstream is.

    On a Trace Forward the "downstream" is the hop before it on the path (the provider that
    named this one); `direction` and the provider's `language` pick the notice's wording."""
    tb = session.get(Traceback, hop.traceback_id)
    provider = session.get(Provider, hop.provider_id)
    assert tb is not None and provider is not None
    downstream = session.get(Hop, hop.downstream_hop_id) if hop.downstream_hop_id and with_downstream else None
    down_provider = session.get(Provider, downstream.provider_id) if downstream else None
    return {
        "traceback_id": tb.id,
        "provider_name": provider.name,
        "call": call_details(tb),
        "downstream_name": down_provider.name if down_provider else None,
        "direction": tb.direction if tb.direction == TracebackDirection.FORWARD else None,
        "language": provider.language,
    }


def send(
    app: App,
    session: Session,
    *,
    key: str,
    kind: str,
    to: list[str],
    context: dict[str, Any],
    now: datetime,
    hop: Hop | None = None,
    in_reply_to: str | None = None,
) -> bool:
    """Queue one notice, exactly once per `key`; a hop's notice carries the hop's signed Reply-To."""
    reply_to = app.hop_reply_address(hop.id) if hop is not None and hop.id is not None else None
    return outbox.enqueue(
        session,
        mail=app.mail,
        dedupe_key=key,
        kind=kind,
        to=to,
        context=context,
        now=now,
        traceback_id=hop.traceback_id if hop else None,
        hop_id=hop.id if hop else None,
        reply_to=reply_to,
        in_reply_to=in_reply_to,
    )


def close_traceback(tb: Traceback, result: str, now: datetime) -> None:
    tb.status = TracebackStatus.CLOSED
    tb.result = result
    tb.closed_at = now


def send_hop_notice(
    app: App,
    session: Session,
    hop: Hop,
    kind: str,
    now: datetime,
    *,
    sequence: object,
    to: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    in_reply_to: str | None = None,
) -> bool:
    """Queue one notice about `hop` to its provider (or `to`), exactly once per (hop, kind, sequence)."""
    recipients = to if to is not None else providers.notice_addresses(session, hop.provider_id)
    if not recipients:
        return False
    assert hop.id is not None
    return send(
        app,
        session,
        key=hop_key(hop.id, kind, sequence),
        kind=kind,
        to=recipients,
        now=now,
        hop=hop,
        context={**hop_context(session, hop), **(extra or {})},
        in_reply_to=in_reply_to,
    )
