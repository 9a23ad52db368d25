"""The one command that settles each kind of review, as ops type it: in a shell, or in a reply by email.

The digest shows both forms next to each waiting item. The email form is a line of
`mailbot.parsers.ops_commands` (a reply to the digest); the shell form runs the same
desk function. Words in capitals (NAME, ADDRESS, PROVIDER) are for ops to fill in;
what mailbot already knows (the upstream a carrier named) is filled in for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.domain.vocabulary import ReviewKind

# kind -> (email line, shell command); {id} is the review, {tb} its traceback, {name} the upstream named.
_ANSWER = ('resolve {id} upstream "{name}" ADDRESS', 'mailbot review resolve {id} upstream "{name}" ADDRESS')
_DISMISS = ("resolve {id}", "mailbot review resolve {id}")
SETTLE: dict[str, tuple[str, str]] = {
    ReviewKind.DISPUTE: _ANSWER,
    ReviewKind.LOW_CONFIDENCE: _ANSWER,
    ReviewKind.UNKNOWN_UPSTREAM: _ANSWER,
    ReviewKind.PROVIDER_MATCH: ('forward {tb} "{name}"', 'mailbot traceback forward {tb} --provider "{name}"'),
    ReviewKind.UNAUTHORIZED_SENDER: ("accept-contact {id}", "mailbot review accept-contact {id}"),
    ReviewKind.FORGED_TOKEN: _DISMISS,
    ReviewKind.BOUNCE: _DISMISS,
    ReviewKind.CORRECTION: _DISMISS,
    ReviewKind.UNMATCHED: _DISMISS,
    ReviewKind.CLARIFICATION_LIMIT: _ANSWER,  # ops record the answer the carrier could not make clear
}
# A doubtful match names its candidate: "upstream named 'X' may be 'Y' (81%); confirm or add it".
_CANDIDATE = re.compile(r"may be '(?P<name>[^']+)'")


@dataclass(frozen=True, slots=True)
class Settle:
    email: str
    cli: str


def command(
    kind: str, review_id: int, traceback_id: int | None, detail: str, upstream_name: str | None
) -> Settle | None:
    """Both forms of the command that settles this review; None for a kind with no command."""
    forms = SETTLE.get(kind)
    if forms is None or (traceback_id is None and "{tb}" in forms[0]):
        return None
    name = upstream_name or "NAME"
    if kind == ReviewKind.PROVIDER_MATCH:
        found = _CANDIDATE.search(detail)
        name = found["name"] if found else "PROVIDER"
    name = name.replace('"', "'")  # the line quotes the name with double quotes
    email, cli = (form.format(id=review_id, tb=traceback_id, name=name) for form in forms)
    return Settle(email=email, cli=cli)
