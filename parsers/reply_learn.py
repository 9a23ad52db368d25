"""Replies read the way a person read a close one before: nearest neighbours over labelled examples.

When ops resolve a review by saying what the carrier meant, the carrier's words and that answer
become an `Example`. A later reply whose words are close to an example's (character-level
similarity, rapidfuzz) is read with the example's outcome; its names are the words that stand
where the example's names stood (aligned by the edit operations between the two texts), so
"we got it off the Kestrel trunk" labelled `upstream Kestrel` reads "we got it off the Ostara
trunk" as `upstream Ostara`. Names are masked before the texts are compared, so a different
upstream does not make a reply look different. Confidence grows with the similarity and
goes through the same bars as every reading (`reply.decision`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.parsers import reply_names as names
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from mailbot.domain.records import ReplyResult

# Below this similarity (0..100, names masked) an example says nothing about a reply.
NEAR = 85.0
_MASK = "\u2022"  # stands for a name in both texts while they are compared
_SPACE = re.compile(r"\s+")
_STRIP = " \t.,;:!?\"'()[]<>«»“”-\u2013"


@dataclass(frozen=True)
class Example:
    """A carrier's own words and the answer they gave, as a person labelled it."""

    text: str
    outcome: str
    upstream_name: str | None = None
    upstream_email: str | None = None
    customer_name: str | None = None


def _flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _lower(text: str) -> str:
    # Character by character, so offsets in the lowered text are offsets in the original.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _spans(text: str, example: Example) -> list[tuple[int, int, str]]:
    """Where the example's labelled names and address stand in its own (flattened) text."""
    low = _lower(text)
    out = []
    for field in ("upstream_name", "customer_name", "upstream_email"):
        value = getattr(example, field)
        if value:
            at = low.find(_lower(_flat(value)))
            if at >= 0:
                out.append((at, at + len(value), field))
    return sorted(out)


def _masked(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, _ in spans:
        out += [text[last:start], _MASK]
        last = end
    return _lower("".join(out) + text[last:])


def _aligned(example_text: str, reply_text: str, spans: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The spans of the reply that stand where the example's spans stand."""
    ops = Levenshtein.opcodes(_lower(example_text), _lower(reply_text))

    def where(offset: int, end: bool) -> int:
        for op in ops:
            if op.src_start <= offset < op.src_end or (end and op.src_start < offset == op.src_end):
                if op.tag == "equal":
                    return op.dest_start + (offset - op.src_start)
                return op.dest_end if end else op.dest_start
        return len(reply_text)

    out = []
    for start, end, field in spans:
        a, b = where(start, False), where(end, True)
        # Grow to whole words: a longer name in the reply continues past the example's.
        while a > 0 and reply_text[a - 1].isalnum():
            a -= 1
        while b < len(reply_text) and (reply_text[b].isalnum() or reply_text[b] in ".-&'@"):
            b += 1
        out.append((a, b, field))
    return out


def nearest(text: str, examples: Sequence[Example], *, own_domain: str | None = None) -> ReplyResult | None:
    """The reading of the closest labelled example, with the reply's own names; None when none is near."""
    if not examples:
        return None
    reply_text = _flat(text)
    if not reply_text:
        return None
    flats = [_flat(e.text) for e in examples]
    # A cheap first pass on the whole texts, then the masked comparison on the best few.
    candidates = process.extract(_lower(reply_text), [_lower(f) for f in flats], scorer=fuzz.ratio, limit=5)
    best: tuple[float, Example, list[tuple[int, int, str]]] | None = None
    for _, _, index in candidates:
        example, flat = examples[index], flats[index]
        spans = _spans(flat, example)
        mine = _aligned(flat, reply_text, spans)
        score = fuzz.ratio(_masked(flat, spans), _masked(reply_text, mine))
        if score >= NEAR and (best is None or score > best[0]):
            best = (score, example, mine)
    if best is None:
        return None
    score, example, mine = best
    found = {field: reply_text[a:b].strip(_STRIP) or None for a, b, field in mine}
    for field in ("upstream_name", "customer_name"):
        # A name the person gave that the carrier's words did not spell: the same words mean the same party.
        if getattr(example, field) and not any(f == field for _, _, f in mine):
            found[field] = getattr(example, field)
    email = found.get("upstream_email")
    if example.upstream_email and (email is None or "@" not in email):
        email = next((e for e in names.emails(reply_text) if not names.same_organisation(e, own_domain)), None)
    if email and names.same_organisation(email, own_domain):
        email = None
    return ReplyResult(
        incident_ids=(),
        outcome=example.outcome,
        upstream_name=found.get("upstream_name") if example.outcome == "upstream" else None,
        upstream_email=email if example.outcome == "upstream" else None,
        customer_name=found.get("customer_name") if example.outcome == "origin" else None,
        evidence=reply_text[:300],
        confidence=round(min(0.95, (score / 100) ** 2), 2),
    )
