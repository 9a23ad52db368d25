"""Bytes to headers and readable text: the single parsing path for every message.

The stdlib parser (compat32 policy, the fast one) builds the tree; everything
else here is decoding that never raises on damaged input.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.utils
import re
from datetime import UTC, datetime

from parsers.html_text import html_to_text
from parsers.records import Envelope

# Charsets mislabelled in the wild, mapped to what senders actually meant.
_CHARSET_ALIASES = {"unknown-8bit": "cp1252", "x-unknown": "cp1252", "iso-8859-1": "cp1252", "latin1": "cp1252"}
_ANGLE = re.compile(r"<([^<>]+)>")


def parse_bytes(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back so no byte is ever fatal."""
    name = (charset or "utf-8").strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    for candidate in (name, "utf-8"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


def header_text(msg: email.message.Message, name: str) -> str:
    """A header decoded from RFC 2047 words, unfolded; '' when absent or hopeless."""
    value = msg.get(name)
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    try:
        parts = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - damaged headers decode as-is
        return " ".join(str(value).split())
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return " ".join("".join(out).split())


def addresses(msg: email.message.Message, *names: str) -> tuple[str, ...]:
    values = [header_text(msg, n) for n in names]
    found = [addr.lower() for _, addr in email.utils.getaddresses([v for v in values if v]) if "@" in addr]
    return tuple(dict.fromkeys(found))


def message_ids(value: str) -> tuple[str, ...]:
    return tuple(f"<{m}>" for m in _ANGLE.findall(value))


def header_date(msg: email.message.Message) -> datetime | None:
    value = header_text(msg, "Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def envelope(msg: email.message.Message) -> Envelope:
    mid = message_ids(header_text(msg, "Message-ID"))
    irt = message_ids(header_text(msg, "In-Reply-To"))
    sender = addresses(msg, "From")
    return Envelope(
        message_id=mid[0] if mid else None,
        date=header_date(msg),
        subject=header_text(msg, "Subject"),
        sender=sender[0] if sender else None,
        recipients=addresses(msg, "To", "Cc"),
        in_reply_to=irt[0] if irt else None,
        references=message_ids(header_text(msg, "References")),
    )


def part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = decode_bytes(payload, part.get_content_charset())
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def body_text(msg: email.message.Message) -> str:
    """The readable body: plain parts preferred, HTML converted when it is all there is.

    Attached messages (message/rfc822) are read too, so a notice forwarded as an
    attachment is still seen.
    """
    plain: list[str] = []
    html: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        if part.get_filename() and ctype != "text/plain":
            continue
        (plain if ctype == "text/plain" else html).append(part_text(part))
    return "\n".join(plain or html)
