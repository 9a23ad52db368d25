"""The answer form every notice carries, and its JSON twin, read exactly when filled in.

A notice ends with short labelled lines (English / Spanish); a carrier fills in the one that
applies. A Trace Forward's notices carry their own lines (`FORWARD_FIELDS`: the downstream
provider, the subscriber, the carrier a ported number went to), read when `direction` is
forward. Providers that automate their answers can send the same lines, or one JSON object
(schema: docs/reply-answer.schema.json) anywhere in the text. An empty line of the form, as
mailbot sent it, says nothing; a filled-in one is the answer whatever the rest of the reply says.
"""

from __future__ import annotations

import json
import re

from mailbot.domain.records import ReplyResult

# field -> labels (any of them, either language, a "label / etiqueta" pair too).
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "upstream_name": ("upstream provider", "proveedor anterior"),
    "upstream_email": ("upstream contact email", "correo del proveedor anterior"),
    "customer_name": ("our customer", "nuestro cliente"),
    "not_found": ("not found", "no encontrada"),
    "dispute": ("dispute", "disputa"),
}
FORWARD_FIELDS: dict[str, tuple[str, ...]] = {
    "downstream_name": ("downstream provider", "proveedor siguiente"),
    "downstream_email": ("downstream contact email", "correo del proveedor siguiente"),
    "subscriber": ("subscriber", "abonado"),
    "ported_to": ("ported to", "portado a"),
    "not_found": FORM_FIELDS["not_found"],
    "dispute": FORM_FIELDS["dispute"],
}
_YES = re.compile(r"^(x|yes|y|s[ií]|true|1)\W*$", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
OUTCOMES = ("upstream", "origin", "not_found", "dispute")
FORWARD_OUTCOMES = ("downstream", "customer", "not_ours", "not_found", "dispute")


def _label(labels: tuple[str, ...]) -> str:
    one = "|".join(re.escape(label) for label in labels)
    hint = r"(?:\s*\([^)\n]{1,20}\))?"  # "Not found (yes)"
    return rf"(?:{one}){hint}(?:\s*/\s*(?:{one}){hint})?"


def _lines(fields: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    return {
        field: re.compile(rf"^[\s>*\-\[]*{_label(labels)}\s*[\]:=]\s*(?P<value>.*?)\s*$", re.IGNORECASE)
        for field, labels in fields.items()
    }


_LINE = _lines(FORM_FIELDS)
_FORWARD_LINE = _lines(FORWARD_FIELDS)
_JSON = re.compile(r"\{[^{}]*\"outcome\"[^{}]*\}", re.DOTALL)


def filled_line(line: str) -> bool:
    """Whether a line is a form line with its answer filled in."""
    return any(
        (m := p.match(line)) is not None and bool(m.group("value").strip(" _.[]"))
        for p in (*_LINE.values(), *_FORWARD_LINE.values())
    )


def _filled(text: str, lines: dict[str, re.Pattern[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.split("\n"):
        for field, pattern in lines.items():
            m = pattern.match(line)
            if m and m.group("value").strip(" _.[]") and field not in found:
                found[field] = m.group("value").strip(" _[]")
    return found


def _named(found: dict[str, str], name_field: str, email_field: str) -> tuple[str | None, str | None]:
    """(name, address) from a name line and an address line, either of which may hold the address."""
    address = _EMAIL.search(found.get(email_field, "") + " " + found.get(name_field, ""))
    name = _EMAIL.sub("", found.get(name_field, "")).strip(" ()<>,") or None
    return name, address.group(0).lower() if address else None


def _read_forward(found: dict[str, str], evidence: str) -> ReplyResult | None:
    if found.get("downstream_name") or found.get("downstream_email"):
        name, address = _named(found, "downstream_name", "downstream_email")
        return ReplyResult(
            incident_ids=(),
            outcome="downstream",
            upstream_name=name,
            upstream_email=address,
            evidence=evidence,
            confidence=1.0,
        )
    if found.get("subscriber"):
        return ReplyResult(
            incident_ids=(), outcome="customer", customer_name=found["subscriber"], evidence=evidence, confidence=1.0
        )
    if found.get("ported_to"):
        # "yes" when the carrier it went to is not known to them.
        name, address = (None, None) if _YES.match(found["ported_to"]) else _named(found, "ported_to", "ported_to")
        return ReplyResult(
            incident_ids=(),
            outcome="not_ours",
            upstream_name=name,
            upstream_email=address,
            evidence=evidence,
            confidence=1.0,
        )
    return None


def read_form(text: str, direction: str = "back") -> ReplyResult | None:
    """The answer the filled-in form lines (or a JSON answer) give; None when none is filled in.

    `direction` `forward` reads a Trace Forward's lines and outcomes; the next provider's name
    and address are in `upstream_name`/`upstream_email` either way (the hop it leads to)."""
    forward = direction == "forward"
    for m in _JSON.finditer(text):
        try:
            data = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("outcome") in (FORWARD_OUTCOMES if forward else OUTCOMES):
            return ReplyResult(
                incident_ids=(),
                outcome=data["outcome"],
                upstream_name=data.get("upstream_name") or data.get("downstream_name"),
                upstream_email=(data.get("upstream_email") or data.get("downstream_email") or "").lower() or None,
                customer_name=data.get("customer_name"),
                evidence=m.group(0),
                confidence=1.0,
            )
    found = _filled(text, _FORWARD_LINE if forward else _LINE)
    evidence = "; ".join(f"{k}: {v}" for k, v in found.items())
    if forward:
        if (answer := _read_forward(found, evidence)) is not None:
            return answer
    elif found.get("upstream_name") or found.get("upstream_email"):
        name, address = _named(found, "upstream_name", "upstream_email")
        return ReplyResult(
            incident_ids=(),
            outcome="upstream",
            upstream_name=name,
            upstream_email=address,
            evidence=evidence,
            confidence=1.0,
        )
    if found.get("customer_name"):
        return ReplyResult(
            incident_ids=(), outcome="origin", customer_name=found["customer_name"], evidence=evidence, confidence=1.0
        )
    if "not_found" in found and _YES.match(found["not_found"]):
        return ReplyResult(incident_ids=(), outcome="not_found", evidence=evidence, confidence=1.0)
    if found.get("dispute"):
        return ReplyResult(incident_ids=(), outcome="dispute", evidence=evidence, confidence=1.0)
    return None
