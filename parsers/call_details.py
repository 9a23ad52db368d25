""""Call Details for Incident/Traceback #N" blocks, in every layout notices use.

Layouts seen: `Label: value` on one line, `Label:` and its value on the next
non-empty line, tab-separated cells (also what HTML tables turn into), no space
after the colon, fields in either order, To/From missing, and a later block
whose description reads "(see description above)".
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from mailbot.parsers.phones import to_e164
from mailbot.domain.records import CallDetails

# Incident numbers are at most 15 digits: longer runs are junk, not a number to store.
HEADING = re.compile(r"Call Details for (?:Incident|Traceback)\s*#\s*(\d{1,15})(?!\d)", re.IGNORECASE)
# The same, for text already lowercased: a case-insensitive scan of a whole body
# costs more than parsing the message, a lowercase literal scan almost nothing.
_HEADING_LOWER = re.compile(r"call details for (?:incident|traceback)\s*#\s*(\d{1,15})(?!\d)")
HEADING_START = "call details for"  # what every match of _HEADING_LOWER starts with
_MENTION_LOWER = re.compile(r"(?:traceback|incident)s?(?:\s+request)?\s*#\s*(\d{1,15})(?!\d)")
_NANP = re.compile(r"\+?1?([2-9]\d{9})")
CAMPAIGN_MAX = 255  # longer is a damaged line, not a campaign name
# Label as written -> CallDetails field.
LABELS = {"date/time": "call_time", "to": "called", "from": "caller", "campaign": "campaign"}
_LABEL_MAX = max(map(len, LABELS))
_LABEL = re.compile(r"^(date\s*/\s*time|to|from|campaign)\s*:\s*(.*)$", re.IGNORECASE)
_QUOTE = re.compile(r"^(?:\s*>)+ ?")
# Lines that end a block even without a blank line before them.
_TRAILERS = re.compile(r"^(\*?This email was sent|Submit your response|Review the traceback|\(URL is a private)", re.IGNORECASE)
SEE_ABOVE = "(see description above)"
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!$%&])")
_CALL_TIME = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(?:([+-])(\d{2}):?(\d{2}))?",
)


def unescape_markdown(text: str) -> str:
    return _MARKDOWN_ESCAPE.sub(r"\1", text) if "\\" in text else text  # no backslash, no escape to undo


# The form nearly every notice writes: ISO 8601 as datetime.fromisoformat reads it in
# one call, where the general pattern's groups take six int()s and a conversion.
_ISO_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC")


def parse_call_time(value: str) -> datetime | None:
    """`2020-06-26 15:34:00 UTC`, `2020-08-28 22:17 UTC`, `2021-05-12 15:07:12 +0000 UTC`."""
    if _ISO_UTC.fullmatch(value):
        try:
            return datetime.fromisoformat(value[:19] + "+00:00")  # in timezone.utc, which is UTC
        except ValueError:  # e.g. 2020-02-30, as datetime() refuses it
            return None
    m = _CALL_TIME.search(value)
    if not m:
        return None
    year, month, day, hour, minute, second, sign, tz_hours, tz_minutes = m.groups()
    zone = UTC  # timezone(timedelta(0)) is UTC itself: a time without an offset needs no zone made
    try:
        if sign:
            offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
            zone = timezone(-offset if sign == "-" else offset)
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(UTC)


def _phone(value: str) -> str | None:
    """E.164 of a number; the common "+1NXXNXXXXXX" form without the library's full parse."""
    plain = _NANP.fullmatch(value.strip())
    return f"+1{plain.group(1)}" if plain else to_e164(value)


def _clean(value: str) -> str:
    return " ".join(unescape_markdown(value).replace("**", "").split())


def _read_block(incident_id: str, lines: list[str]) -> CallDetails:
    fields: dict[str, str] = {}
    pending: str | None = None
    description: list[str] = []
    for raw_line in lines:
        line = (_QUOTE.sub("", raw_line) if ">" in raw_line else raw_line).strip()
        if not line:
            if description:
                break
            continue
        if description:
            if _TRAILERS.match(line):
                break
            description.append(line)
            continue
        # "Label: value", as nearly every block writes it, found without _LABEL's case-insensitive match
        written, colon, value = line.partition(":")
        name = LABELS.get(written.lower()) if colon and len(written) <= _LABEL_MAX else None
        if name is None:
            label = _LABEL.match(line)
            if label:
                written, value = label.groups()
                written = written.lower()
                name = LABELS.get(written) or LABELS[re.sub(r"\s+", "", written)]
        if name is not None:
            value = value.strip()
            if value:
                fields.setdefault(name, value)
                pending = None
            else:
                pending = name
        elif pending:
            fields.setdefault(pending, line)
            pending = None
        elif _TRAILERS.match(line):
            break
        else:
            description.append(line)
    called = fields.get("called")
    caller = fields.get("caller")
    return CallDetails(
        incident_id=incident_id,
        call_time=parse_call_time(fields["call_time"]) if "call_time" in fields else None,
        called=_phone(called) if called else None,
        caller=_phone(caller) if caller else None,
        campaign=_clean(fields["campaign"])[:CAMPAIGN_MAX] or None if "campaign" in fields else None,
        description=_clean(" ".join(description)) or None,
    )


def _headings(text: str, lower: str | None, first: int | None) -> list[re.Match[str]]:
    lower = text.lower() if lower is None else lower
    first = lower.find(HEADING_START) if first is None else first
    if first == -1:
        return []
    if len(lower) != len(text):  # lower() expanded a rare letter: its offsets would be off
        return list(HEADING.finditer(text))
    return list(_HEADING_LOWER.finditer(lower, first))  # no heading starts before the first "call details for"


def extract(text: str, lower: str | None = None, first: int | None = None) -> tuple[CallDetails, ...]:
    """Every call-details block in `text`, in order; a block's end is the next heading.

    `lower` is `text.lower()` when the caller has it already, and `first` where
    its first HEADING_START is (-1: nowhere) when the caller has looked.
    """
    headings = _headings(text, lower, first)
    blocks: list[CallDetails] = []
    for i, heading in enumerate(headings):
        start = text.find("\n", heading.end())
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        body = text[start:end] if start != -1 and start < end else ""
        block = _read_block(heading.group(1), body.split("\n"))
        if block.description == SEE_ABOVE and blocks:
            block = replace(block, description=blocks[-1].description)
        blocks.append(block)
    return tuple(blocks)


def referenced_ids(text: str) -> tuple[str, ...]:
    """Incident numbers named anywhere: headings, `Traceback #N` and `Traceback Request #N` mentions."""
    lower = text.lower()
    return tuple(dict.fromkeys(_HEADING_LOWER.findall(lower) + _MENTION_LOWER.findall(lower)))
