"""What kind of message this is: an ordered table of rules, first match wins."""

from __future__ import annotations

import email.message
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from mailbot.parsers.call_details import HEADING_START
from mailbot.parsers.mime import content_type, header_index, header_text, utf8_of
from mailbot.parsers.subject import FORWARD, FORWARD_PREFIX, REPLY_PREFIX

from mailbot.domain.records import Envelope, Kind

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
        before = text[max(at - 2, 0) : at]
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


class Facts(NamedTuple):
    """What the rules look at, computed once per message.

    A named tuple, immutable as a frozen dataclass is, made in a fifth of the time.
    """

    msg: email.message.Message
    envelope: Envelope
    text: str  # readable body, as written
    plain: str  # the body with quote markers removed
    lower: str  # `plain` lowercased: body rules scan this without re.I, which is many times faster
    heading_at: int  # where `lower`'s first "call details for" is (-1: nowhere), for the rule and the reader
    boilerplate: Boilerplate | None  # lower[:heading_at] as remembered, when it is
    headers: dict[str, object]  # msg's header_index: its headers by lowercase name
    ascii_subject: str | None  # the subject lowercased when it is ASCII, else None

    @classmethod
    def of(cls, msg: email.message.Message, envelope: Envelope, text: str) -> Facts:
        plain = unquote(text)
        low, heading_at, boilerplate = lower_to_heading(plain, utf8_of(msg, text) if plain is text else None)
        ascii_subject = envelope.subject.lower() if envelope.subject.isascii() else None
        return cls(msg, envelope, text, plain, low, heading_at, boilerplate, header_index(msg), ascii_subject)


@dataclass(slots=True)
class Boilerplate:
    """The text before a notice's first heading, met in an earlier notice."""

    text: str  # as written
    lower: str
    verdicts: dict[_BodyRule, bool] | None = field(default=None)  # each body rule's `before` on `lower`, once asked


# Boilerplates by their first 64 characters, the last one found first. A mailbox has a few dozen.
_LOWERED: dict[str, list[Boilerplate]] = {}
_LOWERED_MAX = 64


def lower_to_heading(plain: str, utf8: bytes | None = None) -> tuple[str, int, Boilerplate | None]:
    """(lower(plain), where its first HEADING_START is (-1: nowhere), the Boilerplate before it or None),
    lowering known boilerplate once.

    The text before a notice's first heading is its sender's boilerplate, most of
    the body: lowercasing it and finding the heading in it again cost more than a
    comparison with the boilerplate as met before. Sound because the heading is
    ASCII and starts with a cased letter (str.lower's one context, a final sigma,
    reads the same on both sides of it) and cannot overlap itself (no earlier
    heading can end inside it); a boilerplate is kept only when lowercasing
    changed no length, so its offsets are the body's.
    """
    key = plain[:64]
    known = _LOWERED.get(key)
    if known is not None:
        for i, met in enumerate(known):
            at = len(met.text)
            if plain.startswith(met.text) and plain[at : at + len(HEADING_START)].lower() == HEADING_START:
                if i:
                    known.insert(0, known.pop(i))
                return met.lower + lower(plain[at:]), at, met
    low = lower(plain, utf8)
    at = low.find(HEADING_START)
    if at <= 0 or len(low) != len(plain):
        return low, at, None
    if known is None:
        if len(_LOWERED) >= _LOWERED_MAX:
            _LOWERED.clear()
        known = _LOWERED[key] = []
    met = Boilerplate(plain[:at], low[:at])
    known.insert(0, met)
    del known[16:]
    return low, at, met


def _header(name: str, pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    if_absent = rx.search("") is not None  # most messages have none of these headers
    key = name.lower()

    def rule(f: Facts) -> bool:
        if key not in f.headers:
            return if_absent
        value = header_text(f.msg, name)
        return rx.search(value) is not None if value else if_absent

    return rule


def _subject(pattern: str, *guards: str) -> Callable[[Facts], bool]:
    """`pattern` in the subject, any case. Every match of it has one of `guards` (lowercase)
    when they are given: an ASCII subject with none is passed by without the regex search,
    which a case-insensitive alternation makes slow. Not other subjects: re.IGNORECASE
    lets a few non-ASCII letters match ASCII ones (U+017F LONG S an 's', U+212A KELVIN SIGN a 'k')."""
    rx = re.compile(pattern, re.IGNORECASE)
    if not guards:
        return lambda f: bool(rx.search(f.envelope.subject))

    def rule(f: Facts) -> bool:
        low = f.ascii_subject
        if low is not None:
            for guard in guards:
                if guard in low:
                    break
            else:
                return False
        return rx.search(f.envelope.subject) is not None

    return rule


def _sender(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda f: bool(rx.search(f.envelope.sender or ""))


def _clear_of_heading(word: str) -> bool:
    """Whether no occurrence of `word` in a lowercase body can take in the first character of
    a call-details heading: no end of the word begins HEADING_START (a word, having no
    space, could take in at most its "call")."""
    return not any(HEADING_START.startswith(word[k:]) for k in range(len(word)))


class _BodyRule:
    """A rule on the lowercase body alone, which classify may split at the body's first heading.

    The text before a notice's first call-details heading is boilerplate, the
    same in every notice its sender writes, and most of the body. What a rule
    finds there (`before`) is remembered by that text (see _before_heading), so
    a notice like an earlier one costs a scan of what follows its heading
    (`after`) instead of one scan of the whole body per rule. No word of a rule
    can take in the heading's first character, so what a rule finds in the
    whole body it finds wholly before the heading or wholly after it.
    """

    def __call__(self, f: Facts) -> bool:
        raise NotImplementedError

    def before(self, prefix: str) -> bool:
        raise NotImplementedError

    def after(self, lower: str, heading_at: int, before: bool) -> bool:
        """The rule's verdict on `lower`, from its `before` on lower[:heading_at]."""
        raise NotImplementedError


class _Body(_BodyRule):
    """`pattern`, written in lowercase, in the body; `guard` is a word it needs.

    The guard is a plain substring test, so the regex runs only on the few
    bodies that could match; only the guard is split at the heading.
    """

    def __init__(self, pattern: str, guard: str) -> None:
        if not _clear_of_heading(guard):
            raise ValueError(f"{guard!r} could run into a heading")
        self.rx = re.compile(pattern, re.MULTILINE)
        self.guard = guard

    def __call__(self, f: Facts) -> bool:
        return self.guard in f.lower and self.rx.search(f.lower) is not None

    def before(self, prefix: str) -> bool:
        return self.guard in prefix

    def after(self, lower: str, heading_at: int, before: bool) -> bool:
        return (before or lower.find(self.guard, heading_at) != -1) and self.rx.search(lower) is not None


class _Phrases(_BodyRule):
    """Any of these lowercase phrases in the body, words possibly wrapped onto the next line.

    Each phrase is guarded by its longest word, or by another phrase's guard
    inside that word ("non-responsive" in "non-responsiveness"): one scan of the
    body per distinct guard. A match starts where the phrase's first word does,
    so the phrase is tried at each of the first word's occurrences, found by
    substring search: a body that has the guard but not the phrase costs a few
    substring scans, not a regex search (several times slower per character).
    """

    def __init__(self, *phrases: str) -> None:
        if not all(_clear_of_heading(word) for phrase in phrases for word in phrase.split()):
            raise ValueError(f"a word of {phrases!r} could run into a heading")
        guards = {p: max(p.split(), key=len) for p in phrases}
        by_guard: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        for phrase, word in guards.items():
            shared = min((g for g in guards.values() if g in word), key=len)
            words = phrase.split()
            by_guard.setdefault(shared, []).append((words[0], re.compile(r"\s+".join(map(re.escape, words)))))
        self.groups = tuple(by_guard.items())

    def _from(self, lower: str, start: int) -> bool:
        """Whether a phrase starts at or after `start` in `lower`."""
        for guard, tries in self.groups:
            if lower.find(guard, start) != -1:
                for first, rx in tries:
                    at = lower.find(first, start)
                    while at != -1:
                        if rx.match(lower, at):
                            return True
                        at = lower.find(first, at + 1)
        return False

    def __call__(self, f: Facts) -> bool:
        return self._from(f.lower, 0)

    def before(self, prefix: str) -> bool:
        return self._from(prefix, 0)

    def after(self, lower: str, heading_at: int, before: bool) -> bool:
        return before or self._from(lower, heading_at)


def _content_type(ctype: str) -> Callable[[Facts], bool]:
    return lambda f: content_type(f.msg) == ctype


HEADING = r"call\s+details\s+for\s+(?:incident|traceback)\s*#\s*\d"
# Where a reply starts quoting what it answers (lowercased, quote markers kept).
_QUOTE_START = re.compile(
    r"^(?:>|-{2,}\s*original message|on .{1,200} wrote:|el .{1,200} escribi[oó]:|from: .*\n(?:sent|date): )",
    re.MULTILINE,
)
_FORWARDED = re.compile(FORWARD_PREFIX, re.IGNORECASE)
# Subject patterns, each with the words one of which every match has.
BOUNCE_SUBJECT = (
    r"undeliverable|undelivered mail|delivery status notification|mail delivery failed|returned mail",
    "deliver",
    "returned mail",
)
AUTO_REPLY_SUBJECT = (
    (
        r"out of (the )?office|automatic reply|auto[- ]?reply|autoreply|respuesta autom[aá]tica"
        r"|fuera de la oficina|abwesenheit"
    ),
    "office",
    "reply",
    "autom",
    "oficina",
    "abwesenheit",
)
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


# A reminder's own words in the newer templates, which may come with the subject of the notice
# answered ("Re: Traceback Request #N") and without "regarding a recent request".
_REMINDER_OPENING = "this is a reminder"


def _reminds(f: Facts) -> bool:
    """A reminder: its opening before the call details, and no quote of another message between
    (a forward of one is still one; a carrier's answer quoting one is an answer)."""
    if f.heading_at <= 0:
        return False
    at = f.lower.find(_REMINDER_OPENING, 0, f.heading_at)
    if at == -1:
        return False
    return _FORWARDED.match(f.envelope.subject) is not None or _QUOTE_START.search(f.lower, 0, f.heading_at) is None


# An out-of-office message without the headers that say so: away, and when back; short, and no notice
# quoted. Both are needed, so a carrier's answer that mentions being away is still an answer.
_AWAY = re.compile(
    r"\b(?:out of (?:the )?office|on vacation|on leave|on holiday|away from (?:the|my) (?:office|desk)"
    r"|(?:i am|i'm|i’m) (?:currently )?away|fuera de la oficina|de vacaciones)\b"
)
_BACK = re.compile(
    r"\b(?:until|will return|return(?:ing)? on|back on|when i return|upon my return|limited access"
    r"|hasta el|regreso)\b"
)
_AWAY_MAX = 1500  # characters: an out-of-office note is a few lines


def _away_note(f: Facts) -> bool:
    if f.heading_at != -1 or len(f.lower) > _AWAY_MAX:
        return False
    return _AWAY.search(f.lower) is not None and _BACK.search(f.lower) is not None


RULES: tuple[tuple[Kind, Callable[[Facts], bool]], ...] = (
    (Kind.BOUNCE, _content_type("multipart/report")),
    (Kind.BOUNCE, _sender(r"^(mailer-daemon|postmaster)@")),
    (Kind.BOUNCE, _subject(*BOUNCE_SUBJECT)),
    # RFC 3834: only "auto-replied" is an answer; "auto-generated" is also what notice systems send.
    (Kind.AUTO_REPLY, _header("Auto-Submitted", r"^\s*auto-replied")),
    (Kind.AUTO_REPLY, _header("X-Autoreply", r"\S")),
    (Kind.AUTO_REPLY, _header("X-Autorespond", r"\S")),
    (Kind.AUTO_REPLY, _header("Precedence", r"^\s*auto_reply")),
    (Kind.AUTO_REPLY, _subject(*AUTO_REPLY_SUBJECT)),
    (Kind.AUTO_REPLY, _away_note),
    (Kind.REMINDER, _reminds),
    (Kind.REPLY, _subject(REPLY_PREFIX)),
    (Kind.REPLY, _answers_quoted_notice),
    (Kind.MONTHLY_METRICS, _Body(r"^\W*monthly\s+metrics\s*[-–]", "metrics")),
    (Kind.UPSTREAM_NOT_RESPONDED, _Phrases("has not yet responded to the request for")),
    (Kind.NON_RESPONSIVE, _Phrases("marked you as a non-responsive", "as a result of your non-responsiveness")),
    (
        Kind.STATUS_CHANGE,
        _Phrases(
            "alerting you to your change in status",
            "alerting you to a change in status",
            "designated a non-cooperative voice service provider",
        ),
    ),
    (Kind.COMMENT, _Phrases("has sent you the following message")),
    (Kind.REMINDER, _Phrases("this is a reminder regarding a recent request")),
    (Kind.TRACEBACK_REQUEST, _has_heading),
    # Last: a notice whose body was lost still says what it was, and is quarantined for it.
    (Kind.REMINDER, _subject(FORWARD_PREFIX.replace(FORWARD, f"(?:{FORWARD})*") + r"reminder:\s*traceback\s*#")),
    (Kind.TRACEBACK_REQUEST, _subject(FORWARD_PREFIX.replace(FORWARD, f"(?:{FORWARD})*") + r"traceback request\s*#")),
)


_BODY_RULES = tuple(rule for _, rule in RULES if isinstance(rule, _BodyRule))
# RULES with each one's body rule (None when it is not one), told once rather than per message and rule.
_TOLD = tuple((kind, rule, rule if isinstance(rule, _BodyRule) else None) for kind, rule in RULES)


def _before_heading(facts: Facts) -> dict[_BodyRule, bool]:
    """Each body rule's `before` on lower[:heading_at]: worked out once per boilerplate met."""
    met = facts.boilerplate
    if met is None:
        prefix = facts.lower[: facts.heading_at]
        return {rule: rule.before(prefix) for rule in _BODY_RULES}
    if met.verdicts is None:
        met.verdicts = {rule: rule.before(met.lower) for rule in _BODY_RULES}
    return met.verdicts


def classify(facts: Facts) -> Kind:
    split = facts.heading_at > 0
    before = None
    for kind, rule, body_rule in _TOLD:
        if body_rule is not None and split:
            if before is None:
                before = _before_heading(facts)
            if body_rule.after(facts.lower, facts.heading_at, before[body_rule]):
                return kind
        elif rule(facts):
            return kind
    return Kind.OTHER
