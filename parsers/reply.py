"""Carrier replies: what the carrier answered, from its own words.

Outcomes are decided by an ordered table of phrase patterns (English and
Spanish); the matched sentence is kept as evidence.
"""

from __future__ import annotations

import re

from parsers.call_details import referenced_ids
from parsers.records import ReplyResult

_QUOTE_START = re.compile(
    r"^(>|-{2,}\s*original message|-{5,}\s*forwarded message|from:\s.+|on .+ wrote:|el .+ escribi[oó]:|begin forwarded message)",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NAME = r"(?P<name>[A-Z0-9][\w&.,'-]*(?:[ /][A-Z0-9&][\w&.,'-]*){0,6})"

# (outcome, pattern) in priority order; `name` captures the upstream or customer.
OUTCOMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (outcome, re.compile(pattern, re.I))
    for outcome, pattern in (
        ("not_found", r"(could not|couldn't|cannot|can't|unable to|did not|didn't) (find|locate)|no (record|cdrs?) (of|for)|no (encontramos|se encontr)"),
        ("dispute", r"\b(dispute|disagree|not (our|my) (traffic|customer)|we are not the|no es nuestro|no estamos de acuerdo)\b"),
        ("origin", r"(originated (by|from|on)|our (own )?customer|end user|cliente nuestro|nuestro cliente|origin[oó] (de|en))"),
        ("upstream", r"(upstream( provider| carrier)?( is|:| was)|received (the call|it|this call|the traffic) from|sent (to us )?by|proveedor (upstream|anterior)|nos lleg[oó] de|recibimos (la llamada|el tr[aá]fico) de)"),
    )
)


def strip_quoted(text: str) -> str:
    """The reply's own words: everything before the first quote marker."""
    own: list[str] = []
    for line in text.split("\n"):
        if _QUOTE_START.match(line.strip()):
            break
        own.append(line)
    return "\n".join(own).strip()


def _sentence(text: str, start: int) -> str:
    begin = max(text.rfind(".", 0, start), text.rfind("\n", 0, start)) + 1
    end_candidates = [i for i in (text.find(".", start), text.find("\n", start)) if i != -1]
    end = min(end_candidates) if end_candidates else len(text)
    return " ".join(text[begin:end + 1].split())


def parse(subject: str, text: str) -> ReplyResult:
    own = strip_quoted(text)
    ids = referenced_ids(subject + "\n" + text)
    for outcome, pattern in OUTCOMES:
        m = pattern.search(own)
        if not m:
            continue
        evidence = _sentence(own, m.start())
        email_match = _EMAIL.search(own) if outcome == "upstream" else None
        after = own[m.end():].strip(" :,-\n")
        name_match = re.match(_NAME, after)
        name = name_match.group("name").strip(" .,") if name_match else None
        return ReplyResult(
            incident_ids=ids,
            outcome=outcome,
            upstream_name=name if outcome == "upstream" else None,
            upstream_email=email_match.group(0).lower() if email_match else None,
            customer_name=name if outcome == "origin" else None,
            evidence=evidence,
            text=own,
        )
    return ReplyResult(incident_ids=ids, outcome="other", text=own)
