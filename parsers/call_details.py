""" "Call Details for Incident/Traceback #N" blocks, in every layout notices use.

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
_TRAILERS = re.compile(
    r"^(\*?This email was sent|Submit your response|Review the traceback|\(URL is a private)", re.IGNORECASE
)
SEE_ABOVE = "(see description above)"
# The ways notices write it: with or without brackets, capitals, a full stop.
_SEE_ABOVE = re.compile(r"\(?\s*see (?:the )?description above\.?\s*\)?\.?", re.IGNORECASE)
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


def _label_name(cell: str) -> str | None:
    """The CallDetails field a table cell names, with or without its colon ("Date/Time", "To:")."""
    written = cell.strip().removesuffix(":").strip().lower()
    return LABELS.get(written) or LABELS.get(re.sub(r"\s+", "", written))


def _table_row(line: str, header: list[str | None] | None, fields: dict[str, str]) -> list[str | None] | bool | None:
    """Read one tab-separated row (an HTML table's): a header row of labels is returned, to name the
    cells of the row below it; a row under such a header, or a label cell and its value, is read into
    `fields` (True). False: the row is neither, and is read as a line."""
    cells = line.split("\t")
    names = [_label_name(cell) for cell in cells]
    if all(names):
        return names
    if header is not None and len(cells) == len(header):
        for name, value in zip(header, cells, strict=True):
            if name is not None and value.strip():
                fields.setdefault(name, value.strip())
        return True
    if len(cells) == 2 and names[0] is not None:
        fields.setdefault(names[0], cells[1].strip())
        return True
    return False


def _read_block(incident_id: str, lines: list[str]) -> CallDetails:
    fields: dict[str, str] = {}
    pending: str | None = None
    header: list[str | None] | None = None  # the labels of a table's header row, for the row below
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
        if "\t" in line:  # table cells: labels and values may sit in separate rows or cells
            row = _table_row(line, header, fields)
            if row is not False:
                header = row if isinstance(row, list) else None
                pending = None
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
        if block.description is not None and _SEE_ABOVE.fullmatch(block.description):
            block = replace(block, description=_description_above(blocks, block.campaign))
        blocks.append(block)
    return tuple(blocks)


def _description_above(blocks: list[CallDetails], campaign: str | None) -> str | None:
    """What "(see description above)" points to: the nearest block above of the same campaign.

    A block of another campaign above it describes other calls (a notice lists an old
    incident's block after a new one's), so its paragraph is not this block's: None.
    """
    for above in reversed(blocks):
        if above.campaign == campaign:
            return above.description
    return None


def referenced_ids(text: str) -> tuple[str, ...]:
    """Incident numbers named anywhere: headings, `Traceback #N` and `Traceback Request #N` mentions."""
    lower = text.lower()
    return tuple(dict.fromkeys(_HEADING_LOWER.findall(lower) + _MENTION_LOWER.findall(lower)))
