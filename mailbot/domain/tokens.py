"""Signed reply tokens: which hop a carrier's reply answers, in the Reply-To address.

Each notice's Reply-To is `local+<token>@domain`, the token being the hop id and
an HMAC-SHA256 of it (as osTicket signs its reply addresses). A reply that comes
back to that address names its hop; a token that was altered or made up does
not verify and names nothing.

Tokens are lower-case hex and digits only, because some mail systems fold the
case of local parts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from email.utils import getaddresses
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings are read, not imported: domain sits below config
    from mailbot.config import Settings

# 80 bits of signature: far beyond guessing by mail, short enough for a local part.
_SIG_HEX = 20
_TOKEN = re.compile(rf"^(\d{{1,18}})-([0-9a-f]{{{_SIG_HEX}}})$")


def _signature(hop_id: int, secret: bytes) -> str:
    return hmac.new(secret, f"hop:{hop_id}".encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]


def make_token(hop_id: int, secret: bytes) -> str:
    if hop_id < 0:
        raise ValueError(f"hop id must not be negative: {hop_id}")
    return f"{hop_id}-{_signature(hop_id, secret)}"


def read_token(token: str, secret: bytes) -> int | None:
    """The hop id a token was made for, or None if it is forged, altered or malformed."""
    m = _TOKEN.match(token.strip().lower())
    if not m:
        return None
    hop_id = int(m.group(1))
    return hop_id if hmac.compare_digest(m.group(2), _signature(hop_id, secret)) else None


def reply_address(hop_id: int, secret: bytes, local_part: str, domain: str) -> str:
    return f"{local_part}+{make_token(hop_id, secret)}@{domain}"


def token_from_address(addr: str) -> str | None:
    """The part after `+` in an address's local part (`"Desk" <a+TOKEN@d>` too), or None."""
    pairs = getaddresses([addr])
    address = pairs[0][1] if pairs else ""
    local, at, _domain = address.rpartition("@")
    if not at or "+" not in local:
        return None
    token = local.split("+", 1)[1]
    return token or None


def load_secret(settings: Settings) -> bytes:
    """`[mail] secret`, else a secret generated once into `[mail] secret_file` (so a fresh machine works)."""
    if settings.mail.secret:
        return settings.mail.secret.encode()
    path = settings.mail.secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another process won the race; then everyone uses the winner's secret.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()


def desk_address(settings: Settings) -> tuple[str, str]:
    """(local part, domain) of the desk's address: `[mail] from`'s local part and `[mail] domain`."""
    sender = getaddresses([settings.mail.sender])[0][1]
    return sender.rpartition("@")[0] or "traceback", settings.mail.domain


def hop_reply_address(hop_id: int, settings: Settings) -> str:
    """The Reply-To for a hop's notices, from `[mail] from` (local part) and `[mail] domain`."""
    local, domain = desk_address(settings)
    return reply_address(hop_id, load_secret(settings), local, domain)


# --- VERP return paths: which sent message a bounce is about -----------------------------------

BOUNCE_LOCAL = "bounces"
_BOUNCE = re.compile(rf"^{BOUNCE_LOCAL}\+(\d{{1,18}})-([0-9a-f]{{{_SIG_HEX}}})@(.+)$")


def _bounce_signature(outbox_id: int, secret: bytes) -> str:
    # Its own message prefix: a hop's reply token never verifies as a return path, nor the reverse.
    return hmac.new(secret, f"bounce:{outbox_id}".encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]


def bounce_address(outbox_id: int, secret: bytes, domain: str) -> str:
    """The envelope sender of one outbox message: `bounces+<id>-<hmac>@domain` (VERP)."""
    if outbox_id < 0:
        raise ValueError(f"outbox id must not be negative: {outbox_id}")
    return f"{BOUNCE_LOCAL}+{outbox_id}-{_bounce_signature(outbox_id, secret)}@{domain}"


def read_bounce_address(address: str, secret: bytes, domain: str) -> int | None:
    """The outbox id a return path was made for; None for any other address, or a forged one."""
    m = _BOUNCE.match(address.strip().lower())
    if not m or m.group(3).rstrip(".") != domain.lower():
        return None
    outbox_id = int(m.group(1))
    return outbox_id if hmac.compare_digest(m.group(2), _bounce_signature(outbox_id, secret)) else None
