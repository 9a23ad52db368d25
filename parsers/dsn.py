"""Delivery status notifications (RFC 3464): which recipients failed, and how badly.

The `message/delivery-status` part has one block per recipient (Final-Recipient,
Action, Status). A permanent failure (`Action: failed`, `Status: 5.x.x`) is a hard
bounce; anything else that failed is soft. Bounces that are not RFC 3464 reports
(old MTAs' plain text) are read for their recipient lines, with no status: soft.
"""

from __future__ import annotations

import email.message
import re
from typing import NamedTuple

_RECIPIENT = re.compile(r"^\s*rfc822\s*;\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$", re.I)
_TEXT_RECIPIENT = re.compile(r"^(?:final|original)-recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", re.I | re.M)
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
MAX_RECIPIENTS = 1000  # a report of more is no MTA's; the rest are not read


class Failure(NamedTuple):
    address: str  # lower-cased
    status: str | None  # e.g. "5.1.1"; None when the report gives none
    hard: bool  # a permanent failure, as the reporting MTA says


def failures(msg: email.message.Message, text: str) -> tuple[Failure, ...]:
    """The recipients a bounce reports failed; `text` is the message's readable text (the fallback)."""
    found: dict[str, Failure] = {}
    for block in _status_blocks(msg):
        action = str(block.get("Action", "")).strip().lower()
        match = _RECIPIENT.match(str(block.get("Final-Recipient") or block.get("Original-Recipient") or ""))
        if match is None or action not in ("failed", ""):
            continue  # delayed, delivered, relayed, expanded: not a failure
        status = _STATUS.match(str(block.get("Status", "")))
        code = ".".join(status.groups()) if status else None
        address = match.group(1).lower()
        found.setdefault(address, Failure(address, code, code is not None and code.startswith("5")))
        if len(found) >= MAX_RECIPIENTS:
            break
    if not found:
        for address in _TEXT_RECIPIENT.findall(text)[:MAX_RECIPIENTS]:
            found.setdefault(address.lower(), Failure(address.lower(), None, False))
    return tuple(found.values())


def _status_blocks(msg: email.message.Message) -> list[email.message.Message]:
    blocks: list[email.message.Message] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks += [b for b in payload if isinstance(b, email.message.Message)]
        elif isinstance(payload, str):  # some parsers leave it text: read its blank-line separated blocks
            blocks += [email.message_from_string(chunk) for chunk in re.split(r"\r?\n\s*\r?\n", payload)]
    return blocks
