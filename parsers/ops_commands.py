"""Commands ops write in a reply to the digest, one per line; pure (text in, commands out).

    resolve 17 upstream "Acme Telecom" noc@acme.example
    resolve 17 origin "Sunrise Solar"     resolve 17 not_found     resolve 17
    forward 42 Acme
    close 42 not_found
    accept-contact 9
    help

Each verb has one grammar in `GRAMMARS`: what its number names, how the words after it
read, and the usage line `help` shows. Quoting is shell-like (a name with spaces in
double quotes, or simply the rest of the line); a mail client's curly quotes count as
quotes. Reading stops at the quoted digest (`>` lines, "On ... wrote:") or a signature.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

MAX_COMMANDS = 50  # one reply; more lines are reported, not applied
_ADDRESS = re.compile(r"^<?([^@\s<>]+@[^@\s<>]+\.[^@\s<>]+)>?$")
_NUMBER = re.compile(r"^#?(\d{1,9})$")
_STOP = re.compile(r"^(>|--\s*$|_{5,}|-{5,}\s*original message|on .{4,200}wrote:\s*$)", re.I)
# A mail client's curly double and single quotes are plain quotes here.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})


@dataclass(frozen=True, slots=True)
class Command:
    """One understood line: `verb` on `number` (a review or a traceback), with what the words say."""

    verb: str
    line: str
    number: int | None = None
    answer: str | None = None  # resolve: upstream | origin | not_found (None: just mark it dealt with)
    name: str | None = None  # the upstream or provider named; the customer of an origin
    address: str | None = None  # the upstream's contact address
    result: str | None = None  # close: the result label


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a command as written; `error` says why, for the reply."""

    line: str
    error: str


def _address(words: list[str]) -> tuple[str | None, list[str]]:
    """The one address among the words (last wins), and the other words."""
    found = [w for w in words if _ADDRESS.match(w)]
    if not found:
        return None, words
    rest = [w for w in words if w is not found[-1]]
    match = _ADDRESS.match(found[-1])
    assert match is not None
    return match.group(1).lower(), rest


def _resolve(words: list[str]) -> dict[str, str | None]:
    if not words:
        return {}
    answer, rest = words[0].lower().replace("-", "_"), words[1:]
    if answer == "upstream":
        address, rest = _address(rest)
        name = " ".join(rest).strip() or None
        if not name and not address:
            raise ValueError('upstream needs a name or an address: upstream "NAME" ADDRESS')
        return {"answer": "upstream", "name": name, "address": address}
    if answer == "origin":
        return {"answer": "origin", "name": " ".join(rest).strip() or None}
    if answer in ("not_found", "notfound"):
        if rest:
            raise ValueError("not_found takes nothing after it")
        return {"answer": "not_found"}
    raise ValueError(f"{words[0]!r} is not an answer: write upstream, origin or not_found")


def _forward(words: list[str]) -> dict[str, str | None]:
    if not words:
        raise ValueError("forward needs the provider to ask next")
    return {"name": " ".join(words)}


def _close(words: list[str]) -> dict[str, str | None]:
    if len(words) != 1:
        raise ValueError("close needs one result label, such as not_found or origin")
    return {"result": words[0].lower()}


def _nothing(words: list[str]) -> dict[str, str | None]:
    if words:
        raise ValueError("takes nothing after the number")
    return {}


@dataclass(frozen=True, slots=True)
class Grammar:
    verb: str
    number: str | None  # what the number names ("review", "traceback"), None: no number
    read: Callable[[list[str]], dict[str, str | None]]  # the words after the number; ValueError if wrong
    usage: str
    does: str


GRAMMARS: dict[str, Grammar] = {
    g.verb: g
    for g in (
        Grammar(
            "resolve",
            "review",
            _resolve,
            'resolve REVIEW [upstream "NAME" ADDRESS | origin ["CUSTOMER"] | not_found]',
            "settle a review: record the hop's answer for the carrier and move on, or just mark it dealt with",
        ),
        Grammar("forward", "traceback", _forward, 'forward TRACEBACK "PROVIDER"', "ask PROVIDER for the next hop"),
        Grammar("close", "traceback", _close, "close TRACEBACK RESULT", "end the traceback (origin, not_found, ...)"),
        Grammar(
            "accept-contact",
            "review",
            _nothing,
            "accept-contact REVIEW",
            "an unregistered sender's answer: register the sender for the provider and apply the answer",
        ),
        Grammar("help", None, _nothing, "help", "this list"),
    )
}


def parse_line(line: str) -> Command | Rejected:
    text = line.strip()
    try:
        words = shlex.split(text.translate(_QUOTES))
    except ValueError:
        return Rejected(text, "a quote is not closed")
    verb = words[0].lower() if words else ""
    grammar = GRAMMARS.get(verb) or GRAMMARS.get(verb.replace("_", "-"))
    if grammar is None:
        return Rejected(text, "not a command (write help for the list)")
    rest = words[1:]
    number = None
    if grammar.number is not None:
        found = _NUMBER.match(rest[0]) if rest else None
        if found is None:
            return Rejected(text, f"{grammar.verb} needs a {grammar.number} number: {grammar.usage}")
        number, rest = int(found.group(1)), rest[1:]
    try:
        fields = grammar.read(rest)
    except ValueError as exc:
        return Rejected(text, f"{exc} ({grammar.usage})")
    return Command(verb=grammar.verb, line=text, number=number, **fields)


def parse(text: str) -> list[Command | Rejected]:
    """Every command line of a reply, in order, up to the quoted text or signature; blank lines skipped."""
    out: list[Command | Rejected] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _STOP.match(line.strip()):
            break
        if not line.strip():
            continue
        if len(out) == MAX_COMMANDS:
            out.append(Rejected(line.strip(), f"more than {MAX_COMMANDS} commands in one reply: not applied"))
            break
        out.append(parse_line(line))
    return out
