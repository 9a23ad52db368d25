"""What kind of message this is: an ordered table of rules, first match wins."""

from __future__ import annotations

import email.message
import re
from collections.abc import Callable
from dataclasses import dataclass

from parsers.call_details import HEADING_START
from parsers.mime import content_type, header_text, utf8_of
from parsers.records import Envelope, Kind

# Quote markers of inline forwards and replies ("> ", ">> "), removed so a quoted
# notice reads like the notice itself.
_QUOTE_MARKS = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_LEADING_QUOTE = re.compile(r"\s*>")
_ASCII = bytes(range(128))


def _has_quote_marks(text: str) -> bool:
    """'\\n>' or '\\n >' in text, or text.lstrip() starting with '>', looked for at each '>' only.

    A body has a few '>', found at memchr speed; three scans for the pairs, and
    lstrip's copy, cost several times more.
    """
    if _LEADING_QUOTE.match(text):
        return True
    at = text.find(">")
    while at != -1:
        before = text[max(at - 2, 0):at]
        if before.endswith("\n") or before == "\n ":
            return True
        at = text.find(">", at + 1)
    return False


def unquote(text: str) -> str:
    return _QUOTE_MARKS.sub("", text) if _has_quote_marks(text) else text


def lower(text: str, utf8: bytes | None = None) -> str:
    """text.lower(), by way of bytes.lower() when the text's other characters have no case to change.

    Once a text holds one non-ASCII character (the notices' '¶' will do),
    str.lower() looks every character up in the Unicode database, at several
    times the cost of this; bytes.lower() changes ASCII letters only, which is
    all str.lower() changes when each non-ASCII character is its own lowercase.
    `utf8` is text.encode("utf-8", "surrogatepass") when the caller has it.
    """
    if text.isascii():
        return text.lower()
    data = text.encode("utf-8", "surrogatepass") if utf8 is None else utf8
    others = data.translate(None, _ASCII).decode("utf-8", "surrogatepass")
    if others.lower() != others:
        return text.lower()
    return data.lower().decode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at, computed once per message."""

    msg: email.message.Message
    envelope: Envelope
    text: str  # readable body, as written
    plain: str  # the body with quote markers removed
    lower: str  # `plain` lowercased: body rules scan this without re.I, which is many times faster
    heading_at: int  # where `lower`'s first "call details for" is (-1: nowhere), for the rule and the reader

    @classmethod
    def of(cls, msg: email.message.Message, envelope: Envelope, text: str) -> Facts:
        plain = unquote(text)
        low = lower(plain, utf8_of(msg, text) if plain is text else None)
        return cls(msg=msg, envelope=envelope, text=text, plain=plain, lower=low, heading_at=low.find(HEADING_START))


def _header(name: str, pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    if_absent = rx.search("") is not None  # most messages have none of these headers

    def rule(f: Facts) -> bool:
        value = header_text(f.msg, name)
        return rx.search(value) is not None if value else if_absent
    return rule


def _subject(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda f: bool(rx.search(f.envelope.subject))


def _sender(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda f: bool(rx.search(f.envelope.sender or ""))


def _body(pattern: str, guard: str) -> Callable[[Facts], bool]:
    """`pattern`, written in lowercase, in the body; `guard` is a word it needs.

    The guard is a plain substring test, so the regex runs only on the few
    bodies that could match.
    """
    rx = re.compile(pattern, re.MULTILINE)
    return lambda f: guard in f.lower and rx.search(f.lower) is not None


def _from_first_word(phrase: str) -> Callable[[str], bool]:
    """Whether the phrase, words possibly wrapped onto the next line, is in a lowercase text.

    A match starts where the first word does, so the phrase is tried at each of
    the first word's occurrences, found by substring search: a body that has the
    guard but not the phrase costs a few substring scans, not a regex search
    (several times slower per character) over all of it.
    """
    words = phrase.split()
    rx = re.compile(r"\s+".join(map(re.escape, words)))

    def found(lower: str) -> bool:
        at = lower.find(words[0])
        while at != -1:
            if rx.match(lower, at):
                return True
            at = lower.find(words[0], at + 1)
        return False
    return found


def _phrase(*phrases: str) -> Callable[[Facts], bool]:
    """Any of these lowercase phrases in the body, words possibly wrapped onto the next line.

    Each phrase is guarded by its longest word, or by another phrase's guard
    inside that word ("non-responsive" in "non-responsiveness"): one scan of the
    body per distinct guard.
    """
    guards = {p: max(p.split(), key=len) for p in phrases}
    by_guard: dict[str, list[Callable[[str], bool]]] = {}
    for phrase, word in guards.items():
        shared = min((g for g in guards.values() if g in word), key=len)
        by_guard.setdefault(shared, []).append(_from_first_word(phrase))
    groups = tuple(by_guard.items())

    def rule(f: Facts) -> bool:
        for guard, finds in groups:
            if guard in f.lower:
                for found in finds:
                    if found(f.lower):
                        return True
        return False
    return rule


def _content_type(ctype: str) -> Callable[[Facts], bool]:
    return lambda f: content_type(f.msg) == ctype


# Subject tags mail gateways add ("[EXTERNAL]") and forward prefixes before a reply prefix.
_TAGS = r"^\s*(?:\[[^\]]{0,40}\]\s*)*"
FORWARD = r"(?:fwd?|fw|tr|wg|rv|enc|doorst)\s*(?:\[\d+\])?\s*:\s*"
REPLY_PREFIX = _TAGS + rf"(?:{FORWARD})*(?:re|aw|sv|antw|resp|respuesta|r)\s*(?:\[\d+\])?\s*:"
FORWARD_PREFIX = _TAGS + FORWARD
HEADING = r"call\s+details\s+for\s+(?:incident|traceback)\s*#\s*\d"
# Where a reply starts quoting what it answers (lowercased, quote markers kept).
_QUOTE_START = re.compile(
    r"^(?:>|-{2,}\s*original message|on .{1,200} wrote:|el .{1,200} escribi[oó]:|from: .*\n(?:sent|date): )", re.MULTILINE)
_FORWARDED = re.compile(FORWARD_PREFIX, re.IGNORECASE)
_HEADING = re.compile(HEADING)


def _has_heading(f: Facts) -> bool:
    """HEADING in the body; tried first where "call details for" is, as nearly every notice writes it."""
    if f.heading_at != -1 and _HEADING.match(f.lower, f.heading_at):
        return True
    return "details" in f.lower and _HEADING.search(f.lower) is not None


def _answers_quoted_notice(f: Facts) -> bool:
    """A reply that kept the subject as it was: it answers a thread and quotes the notice below its own words."""
    if not (f.envelope.in_reply_to or f.envelope.references) or _FORWARDED.match(f.envelope.subject):
        return False
    lower = f.text.lower()
    heading = lower.find("call details for")
    return heading > 0 and _QUOTE_START.search(lower, 0, heading) is not None


RULES: tuple[tuple[Kind, Callable[[Facts], bool]], ...] = (
    (Kind.BOUNCE, _content_type("multipart/report")),
    (Kind.BOUNCE, _sender(r"^(mailer-daemon|postmaster)@")),
    (Kind.BOUNCE, _subject(r"undeliverable|undelivered mail|delivery status notification|mail delivery failed|returned mail")),
    # RFC 3834: only "auto-replied" is an answer; "auto-generated" is also what notice systems send.
    (Kind.AUTO_REPLY, _header("Auto-Submitted", r"^\s*auto-replied")),
    (Kind.AUTO_REPLY, _header("X-Autoreply", r"\S")),
    (Kind.AUTO_REPLY, _header("X-Autorespond", r"\S")),
    (Kind.AUTO_REPLY, _header("Precedence", r"^\s*auto_reply")),
    (Kind.AUTO_REPLY, _subject(r"out of (the )?office|automatic reply|auto[- ]?reply|autoreply|respuesta autom[aá]tica"
                               r"|fuera de la oficina|abwesenheit")),
    (Kind.REPLY, _subject(REPLY_PREFIX)),
    (Kind.REPLY, _answers_quoted_notice),
    (Kind.MONTHLY_METRICS, _body(r"^\W*monthly\s+metrics\s*[-–]", "metrics")),
    (Kind.UPSTREAM_NOT_RESPONDED, _phrase("has not yet responded to the request for")),
    (Kind.NON_RESPONSIVE, _phrase("marked you as a non-responsive", "as a result of your non-responsiveness")),
    (Kind.STATUS_CHANGE, _phrase("alerting you to your change in status", "alerting you to a change in status",
                                 "designated a non-cooperative voice service provider")),
    (Kind.COMMENT, _phrase("has sent you the following message")),
    (Kind.REMINDER, _phrase("this is a reminder regarding a recent request")),
    (Kind.TRACEBACK_REQUEST, _has_heading),
    # Last: a notice whose body was lost still says what it was, and is quarantined for it.
    (Kind.REMINDER, _subject(FORWARD_PREFIX.replace(FORWARD, f"(?:{FORWARD})*") + r"reminder:\s*traceback\s*#")),
    (Kind.TRACEBACK_REQUEST, _subject(FORWARD_PREFIX.replace(FORWARD, f"(?:{FORWARD})*") + r"traceback request\s*#")),
)


def classify(facts: Facts) -> Kind:
    for kind, rule in RULES:
        if rule(facts):
            return kind
    return Kind.OTHER
