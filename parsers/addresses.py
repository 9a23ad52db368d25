"""Addresses read exactly from one header value, or not at all.

An address decides who may answer a traceback, so a reader that takes the
longest readable prefix (`noc@carrier.example` out of
`noc@carrier.example\u200b.evil.example`) hands a stranger the carrier's
hops. Plain ASCII lists (nearly every header) are split by a pattern that must
match each item whole; anything else goes to the standard library's RFC 5322
parser (email.headerregistry), and an address is kept only if it is written
verbatim in the header (no RFC 2047 encoded word may make one up) and stands as
an addr-spec by itself. Non-ASCII addresses are kept, as written, with a note
of what makes them look like another (RFC 6532 allows them; a person decides).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from email import _header_value_parser as _parser
from email.headerregistry import Address
from email.policy import default as rfc5322
from typing import NamedTuple

# An addr-spec as nearly every header writes it: dot-atom local part, a domain of two labels or more.
_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]+"
_ASCII_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[\w-]+(?:\.[\w-]+)+", re.ASCII)
# A display name of plain words (atext and spaces: no '.', '@' or quotes), then the address in <>.
_ANGLE_ITEM = re.compile(r"[\w!#$%&'*+/=?^`{|}~ -]*<\s*([^<>\s]+)\s*>", re.ASCII)
# RFC 5321 §4.5.3.1: at most 64 octets of local part, 254 of address; longer is no one's mailbox.
MAX_LOCAL, MAX_ADDRESS = 64, 254


class Read(NamedTuple):
    addresses: tuple[str, ...]  # lowercased, in header order
    lookalikes: tuple[str, ...] = ()  # "address: why it may pass for another"
    problems: tuple[str, ...] = ()  # what could not be read exactly, and why


def read_addresses(value: str) -> Read:
    """The addresses of one header value as compat32 gives it (raw 8-bit bytes as surrogates)."""
    return _read(" ".join(value.split()))


@functools.lru_cache(maxsize=4096)
def _read(value: str) -> Read:
    # Cached: a mailbox's notices come from a few senders to a few recipient lists.
    if value.isascii() and '"' not in value and "(" not in value and "\\" not in value and "=?" not in value:
        plain = _plain_list(value)
        if plain is not None:
            return Read(plain)
    return _full(value)


def _plain_list(value: str) -> tuple[str, ...] | None:
    """A comma-separated list of bare or <bracketed> addresses, each item whole; else None."""
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        angle = _ANGLE_ITEM.fullmatch(item) if "<" in item else None
        address = angle.group(1) if angle is not None else item
        if _ASCII_ADDRESS.fullmatch(address) is None or not _short_enough(address):
            return None  # not a plain list: the full parser says what it is
        out.append(address.lower())
    return tuple(dict.fromkeys(out))


def _full(value: str) -> Read:
    if any("\udc80" <= ch <= "\udcff" for ch in value):  # raw 8-bit bytes, which RFC 6532 says are UTF-8
        try:
            value = value.encode("ascii", "surrogateescape").decode("utf-8")
        except UnicodeError:
            return Read((), problems=(f"address header is not UTF-8: {_shown(value)}",))
    try:
        header = rfc5322.header_factory("to", value)
        specs = [a.addr_spec for a in header.addresses]
        defects = bool(header.defects)
    except ValueError:
        # headerregistry refuses to build an Address whose decoded display name has CR/LF; the
        # parse tree under it still has each mailbox's addr-spec (the name is not needed here).
        try:
            tree = _parser.get_address_list(value)[0]
            specs, defects = [m.addr_spec for m in tree.all_mailboxes], True
        except Exception as exc:
            return Read((), problems=(f"address header unreadable ({exc}): {_shown(value)}",))
    except Exception as exc:
        return Read((), problems=(f"address header unreadable ({exc}): {_shown(value)}",))
    found = specs
    addresses: list[str] = []
    problems: list[str] = []
    for spec in specs:
        if _exact(spec, value):
            addresses.append(spec.lower())
        elif spec not in ("", "<>"):
            problems.append(f"address not read exactly: {_shown(spec)} in {_shown(value)}")
    if "@" in value and (not found or (defects and len(addresses) < value.count("@"))):
        problems.append(f"address header not read exactly: {_shown(value)}")
    return Read(
        tuple(dict.fromkeys(addresses)), tuple(_lookalike(a) for a in addresses if not a.isascii()), tuple(problems)
    )


def mailable(address: str) -> str | None:
    """`address` as mail without SMTPUTF8 can carry it: ASCII as it is, an internationalised domain
    in its IDNA form (xn--), else None (a non-ASCII local part, a domain IDNA refuses, too long)."""
    address = address.strip().lower().rstrip(".")
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or not local.isascii():
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    spec = f"{local}@{domain}"
    return spec if _short_enough(spec) else None


def _exact(spec: str, source: str) -> bool:
    """Written as-is in the header (not decoded from an encoded word), a whole addr-spec by itself."""
    local, at, domain = spec.rpartition("@")
    if not (at and local and "." in domain) or spec not in source or not _short_enough(spec):
        return False
    try:
        return Address(addr_spec=spec).addr_spec == spec
    except (ValueError, IndexError):
        return False


def _short_enough(spec: str) -> bool:
    return len(spec) <= MAX_ADDRESS and len(spec.rpartition("@")[0]) <= MAX_LOCAL


def _lookalike(address: str) -> str:
    """Why a non-ASCII address may pass for an ASCII one a person knows."""
    hidden = [ch for ch in address if unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp")]
    if hidden:
        return f"{_shown(address)}: invisible character {_names(hidden)}"
    folded = [ch for ch in address if unicodedata.normalize("NFKC", ch) != ch]
    if folded:
        return (
            f"{_shown(address)}: compatibility character {_names(folded)} reads as "
            f"{unicodedata.normalize('NFKC', ''.join(folded))!r}"
        )
    for label in address.replace("@", ".").split("."):
        scripts = {unicodedata.name(ch, "?").split()[0] for ch in label if ch.isalpha()}
        if len(scripts) > 1:
            return f"{_shown(address)}: mixed scripts {', '.join(sorted(scripts))} in {label!r}"
    return f"{_shown(address)}: internationalised address"


def _names(chars: list[str]) -> str:
    return ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}" for ch in dict.fromkeys(chars))


def _shown(text: str) -> str:
    """Printable, and short enough for a review line."""
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return shown if len(shown) <= 200 else shown[:200] + "..."
