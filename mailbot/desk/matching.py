"""Which hop(s) an incoming message answers.

In order of trust: the signed token in the plus-address it was sent to (To, Cc,
Delivered-To, X-Original-To); the notice it replies to (In-Reply-To, References,
against the outbox's Message-IDs); the `[Traceback #N]` subject tag; a traceback
number in its text. The first rule that finds something decides. A token that is
present but does not verify is `forged`: nothing else is tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from mailbot.domain.records import ParsedMessage
from mailbot.domain.tokens import read_token, token_from_address
from mailbot.parsers.call_details import referenced_ids
from mailbot.parsers.subject import TRACEBACK_TAG
from mailbot.store.queries import last_hop
from mailbot.store.tables.desk import Hop, Traceback
from mailbot.store.tables.outbox import OutboxMessage


@dataclass
class Found:
    hops: list[Hop] = field(default_factory=list)
    how: str = "none"  # token | thread | subject | text | none
    forged: bool = False


def _by_token(
    session: Session, token_addresses: tuple[str, ...], desk_local: str, desk_domain: str, secret: bytes
) -> Found | None:
    for address in token_addresses:
        local, _, domain = address.rpartition("@")
        if domain != desk_domain.lower() or local.split("+", 1)[0] != desk_local.lower():
            continue
        token = token_from_address(address)
        if token is None:
            continue
        hop_id = read_token(token, secret)
        hop = session.get(Hop, hop_id) if hop_id is not None else None
        if hop is None:
            return Found(how="token", forged=True)
        return Found(hops=[hop], how="token")
    return None


def _by_thread(session: Session, parsed: ParsedMessage) -> Found | None:
    ids = [i for i in (parsed.envelope.in_reply_to, *parsed.envelope.references) if i]
    if not ids:
        return None
    rows = session.execute(
        select(col(OutboxMessage.hop_id)).where(
            col(OutboxMessage.message_id).in_(ids), col(OutboxMessage.hop_id).is_not(None)
        )
    ).all()
    hops = [h for (hop_id,) in dict.fromkeys(rows) if (h := session.get(Hop, hop_id)) is not None]
    return Found(hops=hops[:1], how="thread") if hops else None


def hops_of(session: Session, numbers: list[str]) -> list[Hop]:
    """The newest hop of each traceback named (by its number, or the incident it started from)."""
    found: list[Hop] = []
    for number in dict.fromkeys(numbers):
        if not number.isdigit() or len(number) > 9:
            continue  # not one of ours, and too big for an integer column
        tracebacks = session.exec(
            select(Traceback).where((col(Traceback.id) == int(number)) | (col(Traceback.incident_id) == number))
        ).all()
        for tb in tracebacks:
            hop = last_hop(session, tb.id)
            if hop is not None and hop not in found:
                found.append(hop)
    return found


def match(
    session: Session, parsed: ParsedMessage, *, desk_local: str, desk_domain: str, secret: bytes, text: str = ""
) -> Found:
    """The hops this live message answers, and how they were found."""
    token_addresses = parsed.live.token_addresses if parsed.live is not None else ()
    found = _by_token(session, token_addresses, desk_local, desk_domain, secret) or _by_thread(session, parsed)
    if found is not None:
        return found
    tagged = TRACEBACK_TAG.findall(parsed.envelope.subject)
    if tagged and (hops := hops_of(session, tagged)):
        return Found(hops=hops, how="subject")
    numbers = list(referenced_ids(text)) if text else list(parsed.referenced_ids)
    if numbers and (hops := hops_of(session, numbers)):
        return Found(hops=hops, how="text")
    return Found()
