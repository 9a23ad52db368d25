"""Bounces count only for what was sent (issue 12 §4).

Every outbox message goes out with its own return path, `bounces+<outbox id>-<hmac>@domain`
(VERP; mailbot/outbound/outbox.py). A delivery report counts only when it comes back to
such an address whose signature verifies, and only for the recipients that message was
sent to; anyone can write a report quoting a Message-ID, so the quoted ids, the To header
and the report's own words decide nothing. Each (message, recipient) counts once.

A contact is disabled (undeliverable) after `[mail] bounce_limit` counted bounces, or at
once by one hard bounce (a DSN with `Action: failed` and a 5.x.x status, as Mailman's
bounce processing takes a hard bounce from the recipient's MTA). Disabling is a Review
(kind `bounce`) and the notice goes to the provider's remaining contacts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, select

from mailbot.desk import notices, providers
from mailbot.desk.workflow import open_review
from mailbot.domain import tokens
from mailbot.domain.vocabulary import ReviewKind
from mailbot.store.tables.desk import Hop, ProviderContact
from mailbot.store.tables.outbox import OutboxMessage, OutboxRecipient

if TYPE_CHECKING:
    from mailbot.app import App
    from mailbot.desk.inbound import Inbound


def returned_message(app: App, session: Session, addresses: tuple[str, ...]) -> OutboxMessage | None:
    """The outbox message whose signed return path is among the addresses the report came to."""
    for address in addresses:
        outbox_id = tokens.read_bounce_address(address, app.secret, app.settings.mail.domain)
        if outbox_id is not None:
            return session.get(OutboxMessage, outbox_id)
    return None


def mark_bounce(app: App, session: Session, m: Inbound, now: datetime) -> None:
    """Count the report for its message's recipients; disable those past the limit or hard-bounced."""
    sent = returned_message(app, session, m.facts.token_addresses)
    if sent is None:
        return  # not to one of our return paths, or a forged one: stored, counts for nothing
    rows = {
        r.address: r for r in session.exec(select(OutboxRecipient).where(OutboxRecipient.outbox_id == sent.id)).all()
    }
    listed = m.facts.failed_recipients
    # A report naming no recipient is about the message's only one, if it had only one.
    failed = [a for a in listed if a in rows] if listed else (list(rows) if len(rows) == 1 else [])
    hard = set(m.facts.hard_failures) if listed else set()
    disabled: list[str] = []
    for address in failed:
        row, severity = rows[address], "hard" if address in hard else "soft"
        if row.bounced_at is not None and not (severity == "hard" and row.bounce_status != "hard"):
            continue  # this message's bounce for this address was counted already
        row.bounced_at, row.bounce_status = now, severity
        session.add(row)
        session.flush()
        disabled += _disable(app, session, sent, address, severity, now, m.delivery.pk)
    hop = session.get(Hop, sent.hop_id) if sent.hop_id else None
    if disabled and hop is not None:
        backups = [a for a in providers.notice_addresses(session, hop.provider_id) if a not in disabled]
        if backups:
            notices.send_hop_notice(
                app, session, hop, sent.kind, now, sequence=notices.resend_sequence(sent.id), to=backups
            )


def bounce_count(session: Session, address: str) -> int:
    """How many sent messages to `address` came back bounced to their own return paths."""
    query = select(func.count()).where(OutboxRecipient.address == address, OutboxRecipient.bounced_at.is_not(None))  # type: ignore[union-attr]
    return int(session.exec(query).one())


def _disable(
    app: App, session: Session, sent: OutboxMessage, address: str, severity: str, now: datetime, message_pk: int
) -> list[str]:
    """Disable the contacts at `address` if this bounce makes it undeliverable; the addresses disabled."""
    count = bounce_count(session, address)
    if severity != "hard" and count < app.settings.mail.bounce_limit:
        return []
    contacts = session.exec(
        select(ProviderContact).where(ProviderContact.address == address, ProviderContact.undeliverable.is_(False))  # type: ignore[attr-defined]
    ).all()
    why = "a hard bounce" if severity == "hard" else f"{count} bounces"
    for contact in contacts:
        contact.undeliverable, contact.undeliverable_at = True, now
        session.add(contact)
        hop = session.get(Hop, sent.hop_id) if sent.hop_id else None
        open_review(
            session,
            ReviewKind.BOUNCE,
            now,
            f"contact {address} disabled after {why} ({sent.kind}, outbox {sent.id})",
            hop=hop if hop is not None and hop.provider_id == contact.provider_id else None,
            provider_id=contact.provider_id,
            message_pk=message_pk,
            traceback_id=sent.traceback_id,
        )
    return [address] if contacts else []
