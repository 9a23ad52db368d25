"""What kind of message this is: an ordered table of rules, first match wins."""

from __future__ import annotations

import email.message
import re
from collections.abc import Callable
from dataclasses import dataclass

from parsers.call_details import HEADING
from parsers.mime import header_text
from parsers.records import Envelope, Kind


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at, computed once per message."""

    msg: email.message.Message
    envelope: Envelope
    text: str  # readable body


def _header(name: str, pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.I)
    return lambda f: bool(rx.search(header_text(f.msg, name)))


def _subject(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.I)
    return lambda f: bool(rx.search(f.envelope.subject))


def _sender(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.I)
    return lambda f: bool(rx.search(f.envelope.sender or ""))


def _body(pattern: str) -> Callable[[Facts], bool]:
    rx = re.compile(pattern, re.I | re.M)
    return lambda f: bool(rx.search(f.text))


def _content_type(ctype: str) -> Callable[[Facts], bool]:
    return lambda f: f.msg.get_content_type() == ctype


REPLY_PREFIX = r"^\s*(re|aw|sv|antw|resp|respuesta)\s*:"
FORWARD_PREFIX = r"^\s*(fwd?|fw|tr|wg|rv)\s*:"

RULES: tuple[tuple[Kind, Callable[[Facts], bool]], ...] = (
    (Kind.BOUNCE, _content_type("multipart/report")),
    (Kind.BOUNCE, _sender(r"^(mailer-daemon|postmaster)@")),
    (Kind.BOUNCE, _subject(r"undeliverable|undelivered mail|delivery status notification|mail delivery failed|returned mail")),
    (Kind.AUTO_REPLY, _header("Auto-Submitted", r"^(?!\s*no\b)\S")),
    (Kind.AUTO_REPLY, _header("X-Autoreply", r"\S")),
    (Kind.AUTO_REPLY, _header("X-Autorespond", r"\S")),
    (Kind.AUTO_REPLY, _subject(r"out of (the )?office|automatic reply|auto[- ]?reply|respuesta autom[aá]tica|fuera de la oficina")),
    (Kind.REPLY, _subject(REPLY_PREFIX)),
    (Kind.MONTHLY_METRICS, _body(r"^\W*Monthly Metrics\s*[-–]")),
    (Kind.UPSTREAM_NOT_RESPONDED, _body(r"has not yet responded to the request for")),
    (Kind.NON_RESPONSIVE, _body(r"marked you as a non-responsive|as a result of your non-responsiveness")),
    (Kind.STATUS_CHANGE, _body(r"alerting you to (your|a) change in status|designated a non-cooperative voice service provider")),
    (Kind.COMMENT, _body(r"has sent you the following message")),
    (Kind.REMINDER, _body(r"this is a reminder regarding a recent request")),
    (Kind.TRACEBACK_REQUEST, lambda f: HEADING.search(f.text) is not None),
)


def classify(facts: Facts) -> Kind:
    return next((kind for kind, rule in RULES if rule(facts)), Kind.OTHER)
