"""parse_message: raw bytes to one ParsedMessage, or ParseError with the reason."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.parsers import call_details, reply
from mailbot.parsers import itg_notices as notices
from mailbot.parsers import live as live_facts
from mailbot.parsers import metrics_notice as metrics
from mailbot.parsers.classify import Facts, classify
from mailbot.parsers.mime import body_text, envelope, parse_bytes

from mailbot.domain.records import SIGHTING_KINDS, Envelope, Kind, ParsedMessage, ParseError

EMPTY_ENVELOPE = Envelope(message_id=None, date=None, subject="", sender=None, recipients=())


def _sightings(facts: Facts, kind: Kind) -> dict:
    blocks = call_details.extract(facts.plain, facts.lower, facts.heading_at)
    if kind in (Kind.TRACEBACK_REQUEST, Kind.REMINDER) and not blocks:
        raise ParseError(f"{kind} without a readable call-details block")
    unreadable = [b.incident_id for b in blocks if b.call_time is None and b.campaign is None and b.called is None]
    if unreadable and len(unreadable) == len(blocks):
        raise ParseError(f"call-details block #{unreadable[0]} has no readable fields")
    problems = tuple(
        [
            f"incident #{b.incident_id}: no {name}"
            for b in blocks
            if b.call_time is None or b.called is None or b.caller is None  # most blocks have all three
            for name, value in (("call_time", b.call_time), ("called", b.called), ("caller", b.caller))
            if value is None
        ]
    )
    return {"incidents": blocks, "problems": problems}


def _metrics(facts: Facts, kind: Kind) -> dict:
    parsed = metrics.parse(facts.plain)
    if parsed is None or (parsed.your_summary is None and not parsed.upstream):
        raise ParseError("monthly metrics without a readable summary table")
    return {"metrics": parsed}


def _upstream(facts: Facts, kind: Kind) -> dict:
    notice = notices.upstream_notice(facts.plain)
    if notice is None:
        raise ParseError("upstream-not-responded notice without provider or traceback number")
    return {"upstream_notice": notice, "referenced_ids": (notice.traceback_id,), **_optional_blocks(facts)}


def _comment(facts: Facts, kind: Kind) -> dict:
    found = notices.comment(facts.plain)
    if found is None:
        raise ParseError("comment notice without a readable message")
    return {"comment": found, "referenced_ids": call_details.referenced_ids(facts.envelope.subject + "\n" + facts.text)}


def _reply(facts: Facts, kind: Kind) -> dict:
    result = reply.parse(facts.envelope.subject, facts.text)
    return {"reply": result, "referenced_ids": result.incident_ids}


def _referenced(facts: Facts, kind: Kind) -> dict:
    return {"referenced_ids": call_details.referenced_ids(facts.envelope.subject + "\n" + facts.text)}


def _optional_blocks(facts: Facts) -> dict:
    return {"incidents": call_details.extract(facts.plain, facts.lower, facts.heading_at)}


# One extractor per kind; kinds not listed carry nothing beyond their kind.
EXTRACTORS: dict[Kind, Callable[[Facts, Kind], dict]] = {
    Kind.TRACEBACK_REQUEST: _sightings,
    Kind.REMINDER: _sightings,
    Kind.MONTHLY_METRICS: _metrics,
    Kind.UPSTREAM_NOT_RESPONDED: _upstream,
    Kind.COMMENT: _comment,
    Kind.REPLY: _reply,
    Kind.BOUNCE: _referenced,
    Kind.AUTO_REPLY: _referenced,
    Kind.NON_RESPONSIVE: _referenced,
    Kind.STATUS_CHANGE: _referenced,
}


def parse_message(raw: bytes, *, live: bool = False) -> ParsedMessage:
    """Never raises: what cannot be understood comes back with `quarantine` set.

    `live`: also read what the desk needs to answer it (`ParsedMessage.live`); an import does not.
    """
    try:
        msg = parse_bytes(raw)
        head = envelope(msg)
    except Exception as exc:
        return ParsedMessage(kind=Kind.OTHER, envelope=EMPTY_ENVELOPE, quarantine=f"unreadable message: {exc!r}")
    if not raw or raw.isspace():  # what `not raw.strip()` says, without copying the message
        return ParsedMessage(kind=Kind.OTHER, envelope=head, quarantine="empty message")
    kind = Kind.OTHER
    try:
        facts = Facts.of(msg, head, body_text(msg))
        kind = classify(facts)
        extracted = EXTRACTORS[kind](facts, kind) if kind in EXTRACTORS else {}
        if live:
            extracted["live"] = live_facts.read(msg, raw, kind, head.subject, facts.text, extracted.get("reply"))
    except ParseError as exc:
        return ParsedMessage(kind=kind, envelope=head, quarantine=str(exc))
    except Exception as exc:
        return ParsedMessage(kind=kind, envelope=head, quarantine=f"parser error: {exc!r}")
    if kind == Kind.OTHER and not msg.keys():
        return ParsedMessage(kind=kind, envelope=head, quarantine="no mail headers and no notice text: not an email")
    if kind not in SIGHTING_KINDS:
        extracted.pop("incidents", None)
    if head.address_problems:
        extracted["problems"] = (*extracted.get("problems", ()), *head.address_problems)
    return ParsedMessage(kind=kind, envelope=head, **extracted)
