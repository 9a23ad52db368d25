"""The one report shape every parser produces.

Parsers are pure: bytes in, these frozen records out. They know nothing of the
database; `store/` turns them into rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """A frozen, slotted dataclass that pickles as a call of its constructor.

    `import --jobs` sends every parse result from a worker process back to the
    importer. The dataclass default restores each object field by field in a Python
    __setstate__; calling the constructor instead halves the cost on both ends
    (~6 to ~3 µs to unpickle a notice's result, ~8 to ~6 µs to pickle it).
    """
    made = dataclass(frozen=True, slots=True)(cls)
    names = tuple(f.name for f in fields(made))  # type: ignore[arg-type]  # `made` is a dataclass now

    def __reduce__(self: Any) -> tuple[type, tuple]:
        return made, tuple(getattr(self, name) for name in names)

    made.__reduce__ = __reduce__  # type: ignore[method-assign]  # replaced on purpose (above)
    return made


class Kind(StrEnum):
    TRACEBACK_REQUEST = "traceback_request"
    REMINDER = "reminder"
    COMMENT = "comment"
    MONTHLY_METRICS = "monthly_metrics"
    UPSTREAM_NOT_RESPONDED = "upstream_not_responded"
    NON_RESPONSIVE = "non_responsive"
    STATUS_CHANGE = "status_change"
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as read from a source, before it is stored."""

    source: str
    source_key: str
    raw: bytes
    origin: str = "import"


# Kinds whose call-details blocks count as sightings of an incident.
SIGHTING_KINDS = frozenset({Kind.TRACEBACK_REQUEST, Kind.REMINDER, Kind.UPSTREAM_NOT_RESPONDED})


class ParseError(Exception):
    """The message cannot be understood; the text is the quarantine reason."""


@record
class CallDetails:
    incident_id: str
    call_time: datetime | None = None  # aware, UTC
    called: str | None = None  # E.164
    caller: str | None = None  # E.164
    campaign: str | None = None  # as written, markdown escapes removed
    description: str | None = None


@record
class SummaryRow:
    """One row of a monthly-metrics table; `provider` is None for "Your Summary"."""

    provider: str | None
    values: dict[str, str]


@record
class MonthlyMetrics:
    organization: str
    addressee: str | None
    your_summary: SummaryRow | None
    upstream: tuple[SummaryRow, ...]


@record
class UpstreamNotice:
    provider: str
    traceback_id: str


@record
class Comment:
    author: str
    organization: str | None
    text: str


@record
class ReplyResult:
    incident_ids: tuple[str, ...]
    outcome: str  # upstream | origin | not_found | dispute | other
    upstream_name: str | None = None
    upstream_email: str | None = None
    customer_name: str | None = None
    evidence: str | None = None
    text: str = ""  # the reply with quotes and signature stripped
    confidence: float = 1.0  # how sure the reading is, 0..1 (parsers.reply.decision: apply, propose or ask)


@record
class Envelope:
    """Header facts of a message, decoded."""

    message_id: str | None
    date: datetime | None  # aware, UTC
    subject: str
    sender: str | None
    recipients: tuple[str, ...]
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # Non-ASCII addresses of From/To/Cc, each "address: why it may pass for another" (IDN, homoglyph, ...).
    lookalikes: tuple[str, ...] = ()
    # What in those headers could not be read exactly: an address there is nobody's (sender None).
    address_problems: tuple[str, ...] = ()


@record
class AuthResult:
    """One method's result in an RFC 8601 Authentication-Results header, as an MTA wrote it."""

    authserv_id: str  # lower-cased: who says so (only the trusted MTA's count)
    method: str  # dkim, dmarc, spf, arc, ...
    result: str  # pass, fail, none, neutral, temperror, ...
    domain: str | None = None  # dkim: header.d; dmarc: header.from; spf: smtp.mailfrom's domain


@record
class LiveFacts:
    """What the desk reads of a live message, worked out when it is parsed (never for an import)."""

    bare_subject: str  # without gateway tags, reply/forward prefixes and `[Traceback #N]`
    is_automatic: bool  # no person wrote it (RFC 3834 and vendor headers, or an auto-reply): never answered
    token_addresses: tuple[str, ...] = ()  # where a signed reply token may be: To, Cc, Delivered-To, X-Original-To
    body_text: str = ""  # the whole text, quotes included (the desk strips what it sent on the thread)
    own_text: str = ""  # the sender's own words: quotes and signature stripped
    answers: tuple[ReplyResult, ...] = ()  # what those words answer, before the desk knows which hops
    failed_recipients: tuple[str, ...] = ()  # a bounce's DSN Final-/Original-Recipient addresses
    quoted_message_ids: tuple[str, ...] = ()  # the Message-IDs a bounce quotes
    hard_failures: tuple[str, ...] = ()  # of failed_recipients, those the DSN gives a permanent (5.x.x) status
    auth_results: tuple[AuthResult, ...] = ()  # every Authentication-Results header's results, top first


@record
class ParsedMessage:
    kind: Kind
    envelope: Envelope
    incidents: tuple[CallDetails, ...] = ()  # blocks this message carries (sightings)
    referenced_ids: tuple[str, ...] = ()  # incidents a reply/bounce is about
    metrics: MonthlyMetrics | None = None
    upstream_notice: UpstreamNotice | None = None
    comment: Comment | None = None
    reply: ReplyResult | None = None
    problems: tuple[str, ...] = field(default=())  # parsed, but with these gaps
    quarantine: str | None = None  # why it could not be parsed; None when it was
    live: LiveFacts | None = None  # for live mail only (`parse_message(raw, live=True)`)
