"""What the desk needs of a live message, read once while it is parsed.

Only live mail gets these (`parse_message(raw, live=True)`): stripping a reply's quotes
is the slowest step of parsing, and an archive import never answers anything.
"""

from __future__ import annotations

import email.message
import re
from typing import TypedDict

from mailbot.parsers import authentication, automatic, dsn, reply
from mailbot.parsers.mime import addresses, body_text, header_text
from mailbot.parsers.subject import bare

from mailbot.domain.records import AuthResult, Kind, LiveFacts, ReplyResult

# Where a signed reply token may be: the address the reply was sent to.
TOKEN_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_MESSAGE_ID = re.compile(rb"<[^<>\s@]+@[^<>\s]+>")


def is_automatic(msg: email.message.Message, kind: Kind, subject: str = "", text: str = "") -> bool:
    """Mail no person wrote, never to be answered: an auto-reply, or a shape of parsers/automatic.py's table.

    Wider than the classifier's auto-reply kind on purpose: a list or bulk message, an
    `Auto-Submitted: auto-generated` one, or a helpdesk's "Ticket #123 received" is not an
    auto-reply but is not to be answered either.
    """
    return kind == Kind.AUTO_REPLY or automatic.shape(lambda name: header_text(msg, name), subject, text) is not None


class _Common(TypedDict):
    """The LiveFacts fields every kind of message has."""

    bare_subject: str
    is_automatic: bool
    token_addresses: tuple[str, ...]
    auth_results: tuple[AuthResult, ...]


def read(
    msg: email.message.Message, raw: bytes, kind: Kind, subject: str, text: str, parsed_reply: ReplyResult | None
) -> LiveFacts:
    machine = is_automatic(msg, kind, subject, text)
    common: _Common = {
        "bare_subject": bare(subject),
        "is_automatic": machine,
        "token_addresses": addresses(msg, *TOKEN_HEADERS),
        "auth_results": authentication.read(msg),
    }
    if kind == Kind.BOUNCE:
        failed = dsn.failures(msg, text + "\n" + raw.decode("utf-8", "replace"))
        return LiveFacts(
            **common,
            failed_recipients=tuple(f.address for f in failed),
            hard_failures=tuple(f.address for f in failed if f.hard),
            quoted_message_ids=tuple(m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(raw)),
        )
    if machine:
        return LiveFacts(**common)  # never answered: its words are not read
    # A reply's own words were stripped when it was parsed; other kinds are stripped here.
    own = parsed_reply.text if parsed_reply is not None else reply.strip_quoted(text)
    return LiveFacts(**common, body_text=text, own_text=own, answers=reply.answers(own, ()))


def notice_text(raw: bytes) -> str:
    """The plain text of a notice mailbot sent (its outbox copy), for stripping it out of a reply."""
    return body_text(email.message_from_bytes(raw))
