"""Authentication-Results headers (RFC 8601) read into records, whoever wrote them.

Which of them count is the desk's decision (`[mail] trusted_authserv_id`): anyone can
write this header, so a parser only says who claims what. Headers are read top first,
the order MTAs prepend them in. An unreadable header is skipped (it proves nothing).
"""

from __future__ import annotations

import email.message

import authres

from mailbot.domain.records import AuthResult

# The property that names the domain a method vouches for (RFC 8601 §2.7, RFC 7489 §11.2).
_DOMAIN_PROPERTY = {"dkim": ("header", "d"), "dmarc": ("header", "from"), "spf": ("smtp", "mailfrom")}
MAX_HEADERS = 20  # more is no MTA's doing; reading them all would only cost time


def read(msg: email.message.Message) -> tuple[AuthResult, ...]:
    found: list[AuthResult] = []
    for value in (msg.get_all("Authentication-Results") or [])[:MAX_HEADERS]:
        found += parse_header(str(value))
    return tuple(found)


def parse_header(value: str) -> tuple[AuthResult, ...]:
    """One header's value (after `Authentication-Results:`) as records; () when it cannot be read."""
    try:
        header = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
    except Exception:  # authres raises its own SyntaxError family, and more on odd input
        return ()
    authserv = str(header.authserv_id or "").lower()
    return tuple(
        AuthResult(authserv_id=authserv, method=str(r.method).lower(), result=str(r.result).lower(), domain=_domain(r))
        for r in header.results
    )


def _domain(result: authres.core.AuthenticationResult) -> str | None:
    wanted = _DOMAIN_PROPERTY.get(str(result.method).lower())
    if wanted is None:
        return None
    for prop in result.properties:
        if (str(prop.type).lower(), str(prop.name).lower()) == wanted and prop.value:
            value = str(prop.value).strip().lower()
            return value.rpartition("@")[2].rstrip(".")  # smtp.mailfrom may be a whole address
    return None
