"""The status words of mailbot, each spelled once.

These are the values stored in the database and written in exports, so they never
change; a `StrEnum` member compares equal to (and stores as) its plain string, so rows
written before these existed read back as the same words.
"""

from __future__ import annotations

from enum import StrEnum


class ProviderStatus(StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


class ContactRole(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class TracebackStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TracebackDirection(StrEnum):
    """Which way a traceback walks: `back` upstream to a call's origin, `forward` downstream to
    whoever answers a call-back number (a Trace Forward)."""

    BACK = "back"
    FORWARD = "forward"


class HopOutcome(StrEnum):
    UPSTREAM = "upstream"
    ORIGIN = "origin"
    NOT_FOUND = "not_found"
    DISPUTE = "dispute"
    OTHER = "other"
    NO_RESPONSE = "no_response"  # also the result label of a traceback that ended unanswered
    # A Trace Forward's answers: the next provider the number's calls go to, the subscriber
    # the number is assigned to, or "ported away" (naming the current carrier when known).
    DOWNSTREAM = "downstream"
    CUSTOMER = "customer"
    NOT_OURS = "not_ours"


class ExemptReason(StrEnum):
    """Why a traceback is Strike Exempt (it stays in the record but counts toward nothing)."""

    ACCEPTED_DISPUTE = "accepted_dispute"
    TESTING = "testing"
    TECHNICAL_ERROR = "technical_error"
    FACTUAL_ISSUE = "factual_issue"


class DisputeStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ReviewKind(StrEnum):
    DISPUTE = "dispute"
    LOW_CONFIDENCE = "low_confidence"
    UNKNOWN_UPSTREAM = "unknown_upstream"
    PROVIDER_MATCH = "provider_match"  # a name close to, but not surely, a known provider
    UNAUTHORIZED_SENDER = "unauthorized_sender"
    FORGED_TOKEN = "forged_token"
    UNAUTHENTICATED = "unauthenticated"  # a registered sender's message failed DMARC/DKIM (issue 12 §3)
    BOUNCE = "bounce"
    CORRECTION = "correction"  # a further answer on a hop already answered
    UNMATCHED = "unmatched"  # live mail that answers nothing (forwarded notices, stray replies)
    CONTACT_CHANGE = "contact_change"  # a reply proposed an address for a known provider; a person accepts it
    CLARIFICATION_LIMIT = "clarification_limit"  # a hop got its clarifications and is still unclear


class MessageStatus(StrEnum):
    NEW = "new"  # stored raw, not yet parsed
    PARSED = "parsed"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (new, deferred or retrying)
    SENDING = "sending"  # claimed by a sender; stale claims are taken over after a lease
    SENT = "sent"
    FAILED = "failed"  # permanent failure or retries exhausted; `last_error` says why


class NoticeKind(StrEnum):
    """A notice mailbot sends; each has a template in templates/notices/."""

    FIRST_CONTACT = "first_contact"
    REQUEST = "request"
    REMINDER = "reminder"
    ACKNOWLEDGEMENT = "acknowledgement"
    CLARIFICATION = "clarification"
    CONFIRMATION = "confirmation"  # "We read your answer as ...; reply YES (SÍ) to confirm"
    UPSTREAM_NOT_RESPONDED = "upstream_not_responded"
    NON_RESPONSIVE = "non_responsive"
    ESCALATION = "escalation"
    STATUS_YELLOW = "status_yellow"
    STATUS_RED = "status_red"
    STATUS_CHANGE = "status_change"
    COMMENT_RELAY = "comment_relay"
    STATUS_LIST = "status_list"
    REFUSAL = "refusal"
    MONTHLY_METRICS = "monthly_metrics"
    NONCOOPERATIVE_WARNING = "noncooperative_warning"
    NONCOOPERATIVE_DESIGNATED = "noncooperative_designated"
    NONCOOPERATIVE_REMOVED = "noncooperative_removed"
    OPS_REPLY = "ops_reply"  # to ops: what their emailed commands did, line by line
    DISPUTE_DECISION = "dispute_decision"
    STATUS_GREEN = "status_green"  # only when a strike-exempt mark lowers a status (not on decay)
