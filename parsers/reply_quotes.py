"""What the carrier wrote, apart from what mailbot sent it and what its mail client quoted.

Two sources of text that must never decide an answer: the notices mailbot sent on the
thread (it knows their exact text; a carrier's client may quote them with `>`, rewrap
them, paste them bare below a header, or turn them into HTML), and the quote headers
mail clients put above a quoted message (a table, by client). Lines of the sent notices
are removed wherever they are; the carrier's own words are the lines before the first
quote, or, when nothing stands there (bottom-posted or inline answers), the unquoted
lines after it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from mailbot.parsers.reply_form import filled_line
from rapidfuzz import fuzz

# (client, a line that starts its quote). Checked on a line, and on a line joined to the
# next one (Gmail and Apple Mail wrap a long "On ... wrote:").
QUOTE_HEADERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (client, re.compile(pattern, re.IGNORECASE))
    for client, pattern in (
        ("Gmail, Apple Mail, Thunderbird, Yahoo (en)", r"^on\b.{4,240}\bwrote\s*:\s*$"),
        ("Gmail, Apple Mail, Thunderbird (es)", r"^el\b.{4,240}\bescribi[oó]\s*:\s*$"),
        ("Yahoo (es)", r"^en\b.{4,240}\bescribi[oó]\s*:\s*$"),
        ("Android (en)", r"^-{2,}\s*on\b.{4,240}\bwrote\s*:?\s*-{2,}\s*$"),
        ("Android (es)", r"^-{2,}\s*el\b.{4,240}\bescribi[oó]\s*:?\s*-{2,}\s*$"),
        ("Samsung, Outlook, Yahoo original message", r"^-{2,}\s*(original message|mensaje original)\s*-{2,}\s*$"),
        ("Reply Message (BlackBerry, webmail)", r"^-{2,}\s*(reply message|mensaje de respuesta)\s*-{2,}\s*$"),
        ("forwarded message (Gmail, Thunderbird)", r"^-{2,}\s*(forwarded message|mensaje reenviado)\s*-{2,}\s*$"),
        ("Apple Mail forward", r"^(begin forwarded message|inicio del mensaje reenviado)\s*:\s*$"),
        ("Outlook separator line", r"^_{10,}\s*$"),
    )
)
# Outlook (en/es), Samsung, Yahoo and Thunderbird also quote under a block of header fields;
# a "From:" line opens a quote only when another header field follows it.
_FIELD_FROM = re.compile(r"^\*?(from|de|von)\s*:\*?\s*\S", re.IGNORECASE)
_FIELD_OTHER = re.compile(r"^\*?(sent|date|to|cc|subject|enviado|fecha|para|asunto|enviado el)\s*:\*?", re.IGNORECASE)
_FIELD_ANY = re.compile(
    r"^\*?(from|de|sent|date|to|cc|subject|enviado|fecha|para|asunto|enviado el)\s*:", re.IGNORECASE
)
# Lines that say where the answer is, or greet: not an answer by themselves.
_NO_CONTENT = re.compile(
    r"^\W*(hi|hello|hey|dear\b.*|good (morning|afternoon|evening)|hola|buen(os|as)? (d[ií]as?|tardes|noches)|"
    r"estimad[oa]s?\b.*|team|equipo|all|todos|"
    r"(please )?see (below|inline|my answers? below|answers? (below|inline))|answers? (below|inline)|"
    r"(ver|vea|vean|respuestas?|respuesta) (abajo|debajo|entre l[ií]neas)|comments? inline|"
    r"thanks|thank you|regards|best regards|kind regards|best|saludos|gracias|atentamente|cordialmente)\W*$",
    re.IGNORECASE,
)
# The call-details block every notice ends with; a copy below a quote header ends the notice.
_CALL_FIELD = re.compile(
    r"^\s*((date/time|fecha/hora|campaign|campaña)\s*:|call details for traceback)|"
    r"^\s*(to|from|para|de)\s*:\s*\+?[\d\s().\-]{7,}$",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")
_WORDS = re.compile(r"[\w@.+-]+")
MIN_FRAGMENT = 8  # shorter lines ("To:", "Best,") are too common to say they came from a notice


def normalise(line: str) -> str:
    """A line as quoting leaves it comparable: no `>` marks, tags, entities, case or spacing."""
    line = re.sub(r"^(\s*>)+", "", line)
    line = html.unescape(_TAG.sub(" ", line))
    return " ".join(line.casefold().split()).strip(" *_")


class SentText:
    """The notices sent on a thread, as one normalised text and a vocabulary."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.joined = " ".join(normalise(t) for text in texts for t in text.split("\n") if t.strip())
        self.words = set(_WORDS.findall(self.joined))

    def quotes(self, line: str) -> bool:
        """Whether a reply line is, word for word, a piece of a sent notice."""
        norm = normalise(line)
        return len(norm) >= MIN_FRAGMENT and norm in self.joined

    def contains(self, line: str) -> bool:
        """Whether a reply line is (a wrapped piece of) a sent notice line."""
        norm = normalise(line)
        if len(norm) < MIN_FRAGMENT or not self.joined:
            return False
        if norm in self.joined:
            return True
        words = [w for w in _WORDS.findall(norm) if not any(c.isdigit() for c in w)]  # dates, numbers differ
        # Near copies (rewrapped, a word changed by the client): nearly every word is the notice's.
        if len(norm) < 25 or not words or sum(w in self.words for w in words) / len(words) < 0.9:
            return False
        return fuzz.partial_ratio(norm, self.joined, score_cutoff=90) > 0


def quote_header(lines: list[str], i: int) -> str | None:
    """The client whose quote header starts at line i, if one does."""
    line = lines[i].strip()
    if not line:
        return None
    joined = line + " " + (lines[i + 1].strip() if i + 1 < len(lines) else "")
    for client, pattern in QUOTE_HEADERS:
        if pattern.match(line) or (
            len(line) < 200
            and pattern.match(joined)
            and not pattern.match(lines[i + 1].strip() if i + 1 < len(lines) else "")
        ):
            return client
    if _FIELD_FROM.match(line) and any(
        _FIELD_OTHER.match(lines[j].strip()) for j in range(i + 1, min(i + 5, len(lines)))
    ):
        return "Outlook, Samsung, Yahoo, Thunderbird header block"
    return None


def _has_content(lines: list[str]) -> bool:
    """Whether the lines say more than a greeting and "see below" ("Hi, answers inline.")."""
    pieces = (p.strip() for line in lines for p in re.split(r"[,.;:!]", line))
    return any(p and not _NO_CONTENT.match(p) for p in pieces)


def _after_call_details(lines: list[str]) -> list[str]:
    """Below a quote header, a notice copy mailbot's text did not match ends with the call-details
    block and its description paragraph; the answer is what follows."""
    last = max((i for i, line in enumerate(lines) if _CALL_FIELD.match(line)), default=None)
    if last is None:
        return lines
    i = last + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i - 1].strip() == "" and not _CALL_FIELD.match(lines[i]):
        end = i
        while end < len(lines) and lines[end].strip():  # the call's description paragraph
            end += 1
        if any(line.strip() for line in lines[end:]):  # unless nothing follows it: then it is the answer
            i = end
    return lines[i:]


def own_lines(text: str, sent: Sequence[str] = ()) -> str:
    """The reply without the sent notices' lines and without what follows the first quote,
    unless the answer is below or between the quoted lines."""
    notice = SentText(sent)
    lines = text.split("\n")
    marks: list[str] = []
    in_header = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_header and stripped and _FIELD_ANY.match(stripped):
            marks.append("quote")
            continue
        in_header = False
        if filled_line(re.sub(r"^(\s*>)+\s*", "", line)) and not notice.quotes(line):
            marks.append("form")  # the form line mailbot sent, filled in: quoted or not, an answer
        elif stripped.startswith(">"):
            marks.append("quote")
        elif quote_header(lines, i):
            marks.append("quote")
            in_header = True
            if i + 1 < len(lines) and not quote_header(lines, i + 1) and lines[i].strip().endswith("<"):
                lines[i + 1] = ""  # the wrapped second half of the header line
        elif notice.contains(line):
            marks.append("sent")
        else:
            marks.append("own")
    first = next((i for i, m in enumerate(marks) if m == "quote"), len(lines))
    top = [line for line, m in zip(lines[:first], marks[:first], strict=True) if m in ("own", "form")]
    form = [
        re.sub(r"^(\s*>)+\s*", "", line) for line, m in zip(lines[first:], marks[first:], strict=True) if m == "form"
    ]
    if _has_content(top) or first == len(lines):
        return "\n".join(top + form).strip()
    below = [line for line, m in zip(lines[first:], marks[first:], strict=True) if m in ("own", "form")]
    below = _after_call_details(below)
    return "\n".join(top + below + form).strip()
