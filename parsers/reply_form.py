"""The answer form every notice carries, and its JSON twin, read exactly when filled in.

A notice ends with short labelled lines (English / Spanish); a carrier fills in the one that
applies. Providers that automate their answers can send the same lines, or one JSON object
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
_YES = re.compile(r"^(x|yes|y|s[ií]|true|1)\W*$", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
OUTCOMES = ("upstream", "origin", "not_found", "dispute")


def _label(labels: tuple[str, ...]) -> str:
    one = "|".join(re.escape(label) for label in labels)
    hint = r"(?:\s*\([^)\n]{1,20}\))?"  # "Not found (yes)"
    return rf"(?:{one}){hint}(?:\s*/\s*(?:{one}){hint})?"


_LINE = {
    field: re.compile(rf"^[\s>*\-\[]*{_label(labels)}\s*[\]:=]\s*(?P<value>.*?)\s*$", re.IGNORECASE)
    for field, labels in FORM_FIELDS.items()
}
_JSON = re.compile(r"\{[^{}]*\"outcome\"[^{}]*\}", re.DOTALL)


def filled_line(line: str) -> bool:
    """Whether a line is a form line with its answer filled in."""
    return any((m := p.match(line)) is not None and bool(m.group("value").strip(" _.[]")) for p in _LINE.values())


def _filled(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.split("\n"):
        for field, pattern in _LINE.items():
            m = pattern.match(line)
            if m and m.group("value").strip(" _.[]") and field not in found:
                found[field] = m.group("value").strip(" _[]")
    return found


def read_form(text: str) -> ReplyResult | None:
    """The answer the filled-in form lines (or a JSON answer) give; None when none is filled in."""
    for m in _JSON.finditer(text):
        try:
            data = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("outcome") in OUTCOMES:
            return ReplyResult(
                incident_ids=(),
                outcome=data["outcome"],
                upstream_name=data.get("upstream_name"),
                upstream_email=(data.get("upstream_email") or "").lower() or None,
                customer_name=data.get("customer_name"),
                evidence=m.group(0),
                confidence=1.0,
            )
    found = _filled(text)
    evidence = "; ".join(f"{k}: {v}" for k, v in found.items())
    if found.get("upstream_name") or found.get("upstream_email"):
        address = _EMAIL.search(found.get("upstream_email", "") + " " + found.get("upstream_name", ""))
        name = _EMAIL.sub("", found.get("upstream_name", "")).strip(" ()<>,") or None
        return ReplyResult(
            incident_ids=(),
            outcome="upstream",
            upstream_name=name,
            upstream_email=address.group(0).lower() if address else None,
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
