"""Bytes to headers and readable text: the single parsing path for every message.

The stdlib parser (compat32 policy, the fast one) builds the tree; everything
else here is decoding that never raises on damaged input, and never returns
text a database would refuse (NUL characters, lone surrogates).
"""

from __future__ import annotations

import binascii
import email
import email.header
import email.message
import email.utils
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.policy import compat32

from mailbot.parsers.addresses import Read, read_addresses
from mailbot.parsers.html_text import html_to_text

from mailbot.domain.records import Envelope

# Charsets mislabelled in the wild, mapped to what senders actually meant:
# windows-1252 is a superset of latin-1 in practice (smart quotes, dashes).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
# Labels that say "some 8-bit charset": modern senders mostly mean UTF-8.
_UNKNOWN_CHARSETS = frozenset({"unknown-8bit", "x-unknown", "unknown", "8bit", "x-user-defined"})
_ANGLE = re.compile(r"<([^<>\s]{1,900})>")
# References kept, the newest (the last written): a thread's parent is last, and a list of
# tens of thousands (an attack, or a thread gone wrong) must not become one query's parameters.
MAX_REFERENCES = 100
# A Date header as RFC 5322 writes it ("Fri, 26 Jun 2020 17:44:00 +0000"), which
# parsedate_to_datetime reads the same way with a dozen splits and tests, and
# datetime.fromisoformat reads in one call once it is rewritten as ISO 8601. Years
# from 1000 only: parsedate reads a year below 100 as two digits. Zone minutes
# below 60 only: ISO 8601 has no "+00:99", which parsedate reads as 99 minutes.
_MONTHS = {
    name: f"{number:02d}"
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_PLAIN_DATE = re.compile(
    rf"(?:[A-Za-z]{{3}}, )?([0-9]{{1,2}}) ({'|'.join(_MONTHS)}) ([1-9][0-9]{{3}})"
    r" ([0-9]{2}:[0-9]{2}:[0-9]{2}) ([+-][0-9]{2})([0-5][0-9])"
)


# The blank line after the headers: where the first "\r?\n\r?\n" ends. Written
# from its first LF, a literal the regex engine can skip to; an optional CR
# before it would make it try every position.
_HEADER_END = re.compile(rb"\n\r?\n")
# A header block the feed parser reads without a defect or a surprise: an
# optional unix "From " line, then fields (a name of printable ASCII but ':',
# then ':'), each with its continuation lines (starting with space or tab), each
# line ending in LF or CRLF, then the blank line. '.' (anything but LF) is the
# regex engine's fastest loop; the CR it may take is a CRLF's, as a block with
# a lone CR (a line end to the feed parser) is turned away before. Possessive
# quantifiers: a block that is not plain fails in one pass, without backtracking.
_NAME_CHAR = r"[\x21-\x39\x3b-\x7e]"
_PLAIN_HEAD = re.compile(rf"(?:From .*+\n)?(?:{_NAME_CHAR}++:.*+\n(?:[ \t].*+\n)*+)++\r?\n")
# One field of such a block: its name, and its value as compat32's
# header_source_parse gives it (leading blanks off, continuation lines kept as
# they are, the last line end off; '.' takes the CR of a CRLF, removed after).
# Each match ends with its field's last LF, so the next starts the next line:
# no line-start anchor to test at every character.
_FIELD = re.compile(rf"({_NAME_CHAR}+):[ \t]*+(.*+(?:\n[ \t].*+)*+)\n")


def _read_head(block: bytes) -> email.message.Message | None:
    """What email.message_from_bytes(block) gives for the plain header block of a text/* message, else None.

    The feed parser walks the block line by line in Python and costs more than
    the rest of the message's parse; two regex passes find the same fields.
    Anything unusual (bare CR, a line that is neither field nor continuation,
    a misplaced "From ") is left to the feed parser, so its defects stay its own;
    so are multipart and message/* types, which it reads further.
    """
    text = block.decode("ascii", "surrogateescape")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # a lone CR
    if _PLAIN_HEAD.fullmatch(text) is None:
        return None
    msg = email.message.Message()
    if text.startswith("From "):
        unixfrom, _, text = text.partition("\n")
        msg.set_unixfrom(unixfrom.removesuffix("\r"))
    fields = _FIELD.findall(text)
    if "\r" in text:
        fields = [(name, value.removesuffix("\r")) for name, value in fields]
    msg._headers = fields  # type: ignore[attr-defined]  # private, set whole: what set_raw would append one by one
    if block.isascii():  # every value a plain ASCII str: what _header_index makes, without its tests
        msg.__dict__["_first_headers"] = {name.lower(): value for name, value in reversed(fields)}
    msg.set_payload("")
    return msg if content_type(msg).startswith("text/") else None


def parse_bytes(raw: bytes) -> email.message.Message:
    """The stdlib's tree of the message.

    A single-part text message (most notices) is parsed as its header block,
    and the body handed over whole: exactly the payload the full parse would
    give, without the feed parser's line-by-line walk over the body, which is
    about half the cost of the full parse.
    """
    end = _HEADER_END.search(raw)
    if end is None:
        return email.message_from_bytes(raw)
    block = raw[: end.end()]
    msg = _read_head(block)  # a text/* message whose headers end at the blank line, or None
    if msg is None:
        msg = email.message_from_bytes(block)
        if not content_type(msg).startswith("text/") or msg.get_payload():  # multipart, or headers ended early
            return email.message_from_bytes(raw)
    msg.set_payload(raw[end.end() :].decode("ascii", "surrogateescape"))
    return msg


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back so no byte is ever fatal."""
    return _decode(data, charset)[0]


def _decode(data: bytes, charset: str | None) -> tuple[str, bool]:
    """decode_bytes' text, and whether that text is `data` read as UTF-8 as it is (so `data` is its UTF-8)."""
    for candidate in _codecs_to_try(charset):
        try:
            text = data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
        # UTF-8 makes a NUL of a zero byte only: a memchr on the bytes spares a scan of the text.
        if candidate == "utf-8" and b"\x00" not in data:
            return text, True
        return text.replace("\x00", ""), False
    return data.decode("cp1252", errors="replace").replace("\x00", ""), False


@functools.lru_cache(maxsize=256)
def _codecs_to_try(charset: str | None) -> tuple[str, ...]:
    """The codecs a declared charset means, in the order to try them (a mailbox has a few labels)."""
    name = (charset or "utf-8").strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    return ("utf-8",) if name in _UNKNOWN_CHARSETS else (name, "utf-8")


def _safe(text: str) -> str:
    """Text as storable: surrogate-escaped raw bytes read as UTF-8, NULs dropped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = text.encode("utf-8", "replace").decode("utf-8")  # surrogates not from bytes
    return text.replace("\x00", "")


def _header(msg: email.message.Message, name: str) -> object:
    """The first `name` header as Message.get gives it, from an index built once per message.

    Message.get scans every header, lowercasing each name, per call; a message's
    dozen look-ups did that work hundreds of times.
    """
    index = msg.__dict__.get("_first_headers")
    if index is None:
        index = msg.__dict__["_first_headers"] = _header_index(msg)
    found = index.get(name.lower())
    if type(found) is not tuple:
        return found  # absent, or the value as its fetch would return it
    try:
        return msg.policy.header_fetch_parse(*found)
    except Exception:
        return None


def header_index(msg: email.message.Message) -> dict[str, object]:
    """Each header name's first value by lowercase name (see _header_index), built once per message."""
    index = msg.__dict__.get("_first_headers")
    if index is None:
        index = msg.__dict__["_first_headers"] = _header_index(msg)
    return index


def _header_index(msg: email.message.Message) -> dict[str, object]:
    """Each header name's first value: as compat32 fetches it when that is the stored
    text itself (a str without raw 8-bit bytes), else the (name, value) pair to fetch."""
    plain = msg.policy is compat32
    # Later entries are overwritten by earlier ones: the first of each name is kept, as get() finds it.
    return {
        key.lower(): value if plain and type(value) is str and value.isascii() else (key, value)
        for key, value in reversed(getattr(msg, "_headers", ()))
    }


def content_type(msg: email.message.Message) -> str:
    """Message.get_content_type, worked out once per part (it is asked several times)."""
    cached = msg.__dict__.get("_content_type")
    if cached is None:
        value = _header(msg, "content-type")
        cached = msg.get_default_type() if value is None else _media_type(value if type(value) is str else str(value))
        msg.__dict__["_content_type"] = cached
    return cached


@functools.lru_cache(maxsize=1024)
def _media_type(value: str) -> str:
    """A Content-Type value's type/subtype as get_content_type reads it; once per value (a mailbox has a few)."""
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def header_text(msg: email.message.Message, name: str) -> str:
    """A header decoded from RFC 2047 words (or raw 8-bit), unfolded; '' when absent."""
    value = _header(msg, name)
    if value is None:
        return ""
    if isinstance(value, str) and "=?" not in value:
        return " ".join((value.replace("\x00", "") if value.isascii() else _safe(value)).split())  # _safe of ASCII
    try:
        parts = email.header.decode_header(value)  # type: ignore[arg-type]  # a str or Header, as Message.get gives
    except Exception:
        return " ".join(_safe(str(value)).split())
    out = [decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in parts]
    return " ".join(_safe("".join(out)).split())


def addresses(msg: email.message.Message, *names: str) -> tuple[str, ...]:
    """The addresses of the first of each header named, read exactly (see parsers/addresses.py)."""
    return read_header_addresses(msg, *names).addresses


def read_header_addresses(msg: email.message.Message, *names: str) -> Read:
    """Addresses read before RFC 2047 decoding, as RFC 2047 requires: an encoded display name
    such as `=?utf-8?q?noc=40carrier.example?= <attacker@x>` must not pass for the sender."""
    reads = [read_addresses(str(value)) for name in names if (value := _header_source(msg, name)) is not None]
    if len(reads) == 1:
        return reads[0]
    return Read(
        tuple(dict.fromkeys(a for r in reads for a in r.addresses)),
        tuple(x for r in reads for x in r.lookalikes),
        tuple(x for r in reads for x in r.problems),
    )


def _header_source(msg: email.message.Message, name: str) -> object:
    """The first `name` header as stored, raw 8-bit bytes still surrogates (an address reads them as UTF-8)."""
    found = header_index(msg).get(name.lower())
    return found[1] if type(found) is tuple else found


def message_ids(value: str) -> tuple[str, ...]:
    if not value:  # most messages have no In-Reply-To
        return ()
    if (
        2 < len(value) <= 902
        and value[0] == "<"
        and value[-1] == ">"
        and value.count("<") == 1
        and value.count(">") == 1
        and " " not in value
        and value.isprintable()
    ):
        return (value,)  # one <id> and nothing else, as a Message-ID is written: _ANGLE's one match, the value itself
    return tuple([f"<{m}>" for m in _ANGLE.findall(value)])


def _parse_date(value: str) -> datetime:
    """email.utils.parsedate_to_datetime(value), the plain RFC 5322 form read directly."""
    plain = _PLAIN_DATE.fullmatch(value)
    if plain is None:
        return email.utils.parsedate_to_datetime(value)
    day, month, year, clock, tz_hours, tz_minutes = plain.groups()
    stamp = f"{year}-{_MONTHS[month]}-{day:0>2}T{clock}"
    if tz_hours == "-00" and tz_minutes == "00":  # -0000 says the zone is unknown: none
        return datetime.fromisoformat(stamp)
    return datetime.fromisoformat(f"{stamp}{tz_hours}:{tz_minutes}")  # +00:00 gives timezone.utc, which is UTC


def header_date(msg: email.message.Message) -> datetime | None:
    value = header_text(msg, "Date")
    if not value:
        return None
    try:
        parsed = _parse_date(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def envelope(msg: email.message.Message) -> Envelope:
    present = header_index(msg)
    mid = message_ids(header_text(msg, "Message-ID"))
    irt = message_ids(header_text(msg, "In-Reply-To")) if "in-reply-to" in present else ()
    sender = read_header_addresses(msg, "From")
    recipients = read_header_addresses(msg, "To", "Cc")
    return Envelope(
        message_id=mid[0] if mid else None,
        date=header_date(msg),
        subject=header_text(msg, "Subject"),
        sender=sender.addresses[0] if sender.addresses else None,
        recipients=recipients.addresses,
        in_reply_to=irt[0] if irt else None,
        references=message_ids(header_text(msg, "References"))[-MAX_REFERENCES:] if "references" in present else (),
        lookalikes=sender.lookalikes + recipients.lookalikes,
        address_problems=sender.problems + recipients.problems,
    )


# Transfer encodings whose decoding get_payload(decode=True) does in one call on
# the payload's bytes (quopri.decodestring is a2b_qp's wrapper); base64 (which
# also notes defects) and uuencode stay its own.
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "quoted-printable": binascii.a2b_qp,
    "": bytes,
    "7bit": bytes,
    "8bit": bytes,
    "binary": bytes,
}
# Content-Type as nearly every text part writes it: `type/subtype` and at most a
# plain charset, quoted or not (no RFC 2231, no other parameter).
_PLAIN_CONTENT_TYPE = re.compile(r'\s*[\w.+-]+/[\w.+-]+\s*(?:;\s*(?i:charset)\s*=\s*("?)([\w.:+-]+)\1\s*)?', re.ASCII)


def _payload_bytes(part: email.message.Message) -> object:
    """part.get_payload(decode=True), a str payload in a _DECODERS encoding decoded directly.

    get_payload looks the encoding up with Message.get and tests the payload for
    surrogates before the same encode and decode; on the one part of most
    notices that is a good part of the body's cost.
    """
    if part.policy is not compat32:
        return part.get_payload(decode=True)
    payload = part._payload  # type: ignore[attr-defined]  # private: as stored, what get_payload starts from
    cte = _header(part, "content-transfer-encoding")  # compat32 fetches a stored value without fail: None is absent
    decode = _DECODERS.get("" if cte is None else str(cte).lower())
    if decode is None or not isinstance(payload, str):
        return part.get_payload(decode=True)
    try:
        data = payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # characters no parse of bytes makes: the stdlib's way
        return part.get_payload(decode=True)
    return decode(data)


def _content_charset(part: email.message.Message) -> str | None:
    """part.get_content_charset(); the plain Content-Type read without get_param's full RFC 2045/2231 parse."""
    if part.policy is not compat32:
        return part.get_content_charset()
    value = _header(part, "content-type")
    if value is None:
        return None
    plain = _plain_charset(value) if type(value) is str else None
    return part.get_content_charset() if plain is None else plain[0]


@functools.lru_cache(maxsize=1024)
def _plain_charset(value: str) -> tuple[str | None] | None:
    """(its charset or None,) for a plain Content-Type value, None for another; once per value."""
    plain = _PLAIN_CONTENT_TYPE.fullmatch(value)
    if plain is None:
        return None
    return (plain.group(2).lower() if plain.group(2) else None,)


def part_text(part: email.message.Message) -> str:
    try:
        payload = _payload_bytes(part)
        charset = _content_charset(part)
    except Exception:
        payload, charset = part.get_payload(), None
        payload = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
    if not isinstance(payload, bytes):
        return ""
    text, as_utf8 = _decode(payload, charset)
    if content_type(part) == "text/html":
        text, as_utf8 = html_to_text(text), False
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    if as_utf8:
        part.__dict__["_utf8"] = (text, payload)  # for utf8_of
    return text


def utf8_of(msg: email.message.Message, text: str) -> bytes | None:
    """text.encode("utf-8") when `text` is msg's body as part_text read it from UTF-8 bytes left as
    they were (a single-part message's body_text), else None.

    Encoding a body again costs more than lowercasing it when it holds one
    character above U+00FF (a '–' will do); the bytes it was read from are that encoding.
    """
    read = msg.__dict__.get("_utf8")
    return read[1] if read is not None and read[0] is text else None


def _alternative(choices: list[email.message.Message]) -> email.message.Message | None:
    """The plain-text alternative when it has words, else the richest (last) one."""
    for choice in choices:
        if content_type(choice) == "text/plain" and part_text(choice).strip():
            return choice
    return choices[-1] if choices else None


def _texts(part: email.message.Message) -> list[str]:
    ctype = content_type(part)
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, email.message.Message)]
        if ctype == "multipart/alternative":
            chosen = _alternative(children)
            return _texts(chosen) if chosen is not None else []
        # mixed, related, report, digest, and message/rfc822 (a forwarded or bounced message)
        return [text for child in children for text in _texts(child)]
    if ctype == "text/plain" or (ctype == "text/html" and not part.get_filename()):
        return [part_text(part)]
    if ctype.startswith("multipart/"):  # boundary missing or never found: the parts are plain text now
        return [part_text(part)]
    return []


def body_text(msg: email.message.Message) -> str:
    """The readable body: each text part once, plain preferred among alternatives.

    Attached messages (message/rfc822) are read too, so a notice forwarded or
    bounced as an attachment is still seen.
    """
    return "\n".join(_texts(msg))


def attachment_names(msg: email.message.Message) -> tuple[str, ...]:
    """The file names of a message's attachments, in order (a dispute's evidence is named by them)."""
    names = []
    for part in msg.walk():
        name = part.get_filename()
        if name and not part.is_multipart():
            names.append(" ".join(str(name).split())[:255])
    return tuple(names)
