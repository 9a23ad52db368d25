"""Notices: every email mailbot writes, rendered from `templates/notices/`.

`render(kind, context)` gives a subject, a plain-text body and an HTML body. The
wording lives in the templates (`<kind>.txt.j2`, `<kind>.html.j2`, subjects in
`subjects.toml`); this module only fills them in and keeps carrier text harmless.

Context keys (all optional unless the template needs them; missing ones are None):

- `traceback_id` (int): the traceback; its `[Traceback #N]` tag ends the subject.
- `provider_name` (str): the addressee provider.
- `call` (dict): `call_time` (aware datetime), `called`, `caller` (E.164),
  `campaign`, `description`; rendered as the "Call Details for Traceback #N" block.
- `downstream_name` (str): who sent the call to the addressee (the only other hop a
  provider may see).
- `upstream_name` (str): the upstream provider a notice is about.
- `recorded` (dict): what mailbot recorded from an answer, for `acknowledgement`:
  `outcome`, `upstream_name`, `upstream_email`, `customer_name`, `evidence`.
- `question` (str): what `clarification` asks.
- `status` (str): `YELLOW`/`RED` for `status_change`.
- `open_requests` (list of dicts): for `status_list`, each `traceback_id`, `call`,
  `requested_at`, `downstream_name`.
- `comment` (dict): `author`, `organization`, `text`, for `comment_relay`.
- `deadline` (aware datetime): when an answer is due.
- `sender` (str): the address a `refusal` answers.
- `desk_name` (str): who signs when no `organization` is given; default "Traceback Desk".
- `organization` (str), `contact` (str): who runs the desk and the person to write to
  (`[mail] organization`, `[mail] contact`); `enqueue` adds them to every notice.
- `timezone` (str): an IANA zone a `deadline` is also shown in (the desk's business
  clock, `[schedule] timezone`; providers have no zone of their own yet); `enqueue` adds it.
- `causes` (list of dicts): for `status_yellow`/`status_red`, the identifications that
  caused the status, each `traceback_id`, `role` (a hop label), `campaign`, `identified_at`.
- `metrics` (dict): the tables of `monthly_metrics` (`scheduler.metrics.notice_context`).
- `results` (list of dicts): for `ops_reply`, each command line ops wrote: `line`, `ok`, `said`.
- `commands` (list of dicts): for `ops_reply`, the command list (`usage`, `does`) when asked or needed.
- `direction` (str): `forward` for a Trace Forward's hop: its own wording (`<kind>.forward.*`).
- `language` (str): the provider's language (`es`): `<kind>[.forward].es.*` where one exists.
- `dispute` (dict): `decision` (accepted/rejected), `reason` (ops'), `disputed` (the provider's words),
  for `dispute_decision`.

The template of a kind is the most specific of `<kind>.<direction>.<language>`,
`<kind>.<direction>`, `<kind>.<language>`, `<kind>` that exists (`variants`), and its subject
the same key in `subjects.toml`; English and the upstream wording are the fallbacks.

Carrier-supplied text is escaped in HTML (autoescape), folded to one line where a
line break could forge structure, stripped of call-details headings it did not
write, and never reaches a header unsanitised (`header_text`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, select_autoescape

from mailbot.domain.timeutil import parse_instant, utc
from mailbot.domain.vocabulary import NoticeKind
from mailbot.templates import TEMPLATES_DIR

TEMPLATES = TEMPLATES_DIR / "notices"
KINDS = tuple(NoticeKind)
CONTEXT_KEYS = (
    "traceback_id",
    "provider_name",
    "call",
    "downstream_name",
    "upstream_name",
    "recorded",
    "question",
    "status",
    "open_requests",
    "comment",
    "deadline",
    "sender",
    "desk_name",
    "metrics",
    "organization",
    "contact",
    "timezone",
    "causes",
    "results",
    "commands",
    "direction",
    "language",
    "dispute",
)
# RFC 5322 asks for lines under 998 characters; a subject is one header line.
SUBJECT_MAX = 200
UNTRUSTED_MAX = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A carrier writing this phrase could make a notice parse as carrying an incident it does not.
_HEADING = re.compile(r"call\s+details\s+for", re.I)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def header_text(value: object, limit: int = SUBJECT_MAX) -> str:
    """One safe header line: no CR/LF or control characters, whitespace folded, length capped."""
    line = " ".join(_CONTROL.sub(" ", str(value)).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def untrusted(value: object) -> str:
    """Carrier text for a one-line slot: folded, capped, and unable to open a call-details block."""
    if value is None:
        return ""
    return _HEADING.sub("call details (quoted) for", header_text(value, UNTRUSTED_MAX))


def untrusted_lines(value: object) -> str:
    """Carrier text kept as paragraphs (comments), still unable to open a call-details block."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    return _HEADING.sub("call details (quoted) for", text[: UNTRUSTED_MAX * 5]).strip()


def utc_time(value: datetime | str | None) -> str:
    """`2020-06-26 15:34:00 UTC`, the way the sample notices write call times."""
    if value is None:
        return ""
    moment = parse_instant(value) if isinstance(value, str) else utc(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def deadline_time(value: datetime | str | None, zone: str | None = None) -> str:
    """`2020-06-29 21:00:00 UTC (17:00 EDT, America/New_York)`: UTC, and the wall clock in `zone` when given."""
    if value is None:
        return ""
    text = utc_time(value)
    if not zone:
        return text
    try:
        local = (parse_instant(value) if isinstance(value, str) else utc(value)).astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return text
    return f"{text} ({local:%H:%M} {local.tzname()}, {zone})"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        untrusted=untrusted, untrusted_lines=untrusted_lines, utc=utc_time, oneline=header_text, deadline=deadline_time
    )
    return env


_ENV = _environment()
_SUBJECTS: dict[str, str] = tomllib.loads((TEMPLATES / "subjects.toml").read_text())


def variants(kind: str, direction: str | None, language: str | None) -> list[str]:
    """Template names to try for a kind, most specific first (the plain kind always last)."""
    names = []
    for way, lang in ((direction, language), (direction, None), (None, language)):
        if way or lang:
            names.append(".".join(part for part in (kind, way, lang) if part))
    return [*names, kind]


def _pick(names: list[str], exists: Any) -> str:
    return next(name for name in names if exists(name))


def render(kind: str, context: dict[str, Any]) -> Rendered:
    """The notice of this kind; ValueError for an unknown kind, jinja2 errors for a missing value."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}; known: {', '.join(KINDS)}")
    values: dict[str, Any] = {key: None for key in CONTEXT_KEYS}
    values["desk_name"] = "Traceback Desk"
    values.update({k: v for k, v in context.items() if v is not None})
    values["organization"] = values["organization"] or values["desk_name"]
    names = variants(kind, values["direction"], values["language"])
    subject = _ENV.from_string(_SUBJECTS[_pick(names, _SUBJECTS.__contains__)]).render(values)
    if values["traceback_id"] is not None:
        subject = f"{subject} [Traceback #{int(values['traceback_id'])}]"
    body = _pick(names, lambda name: (TEMPLATES / f"{name}.txt.j2").exists())
    # `language` is the one the chosen template is written in (the layouts' sign-off follows it).
    values["language"] = values["language"] if values["language"] and body.endswith("." + values["language"]) else None
    return Rendered(
        subject=header_text(subject),
        text=_ENV.get_template(f"{body}.txt.j2").render(values),
        html=_ENV.get_template(f"{body}.html.j2").render(values),
    )
