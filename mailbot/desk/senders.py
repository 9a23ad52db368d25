"""Sender authentication: whether a message is from whom its From header says (issue 12 §3).

mailbot does not check SPF, DKIM or DMARC by itself unless asked: the MTA in front of it
does, and writes an RFC 8601 Authentication-Results header. Anyone can write that header,
so only those whose authserv-id is `[mail] trusted_authserv_id` count; the deployment's
MTA must remove any that arrive carrying its id (OpenDMARC and OpenDKIM do). With
`[mail] verify_dkim` mailbot also verifies the DKIM signatures itself (dkimpy; its DNS
lookups go through `DNS_TXT`, which tests point at their own keys).

A registered sender's message fails when the trusted MTA says `dmarc=fail`, or `dkim=fail`
with no passing signature aligned with the From domain, or when one of its providers
requires DKIM alignment and no such signature passed. Alignment is relaxed (RFC 7489
§3.1.1) by domain suffix: `mail.carrier.example` aligns with `carrier.example`; without a
public-suffix list, a signature for a bare public suffix would align too, which no
trusted MTA reports as a pass for someone else's domain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dkim
from sqlmodel import Session

from mailbot.desk import providers
from mailbot.domain.records import AuthResult

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)

# dkimpy's DNS TXT lookup, `(name: bytes, timeout=5) -> bytes | None`; None: dkimpy's own (dnspython).
DNS_TXT: Callable[..., bytes | None] | None = None
MAX_SIGNATURES = 5  # verified per message; more is no signer's doing, and each costs a DNS lookup


@dataclass(frozen=True)
class Verdict:
    """What is known of a message's sender, before any disposition acts on it."""

    registered: bool  # the From address may answer for some provider
    failed: str | None = None  # why the message fails authentication; None when nothing says it does

    @property
    def refused(self) -> bool:
        """A registered sender's message that failed: its answer is not applied, a review says why."""
        return self.registered and self.failed is not None


def aligned(signer: str | None, from_domain: str) -> bool:
    """A signing domain aligned with the From domain (relaxed: one is a subdomain of the other)."""
    if not signer or not from_domain:
        return False
    signer, from_domain = signer.lower().rstrip("."), from_domain.lower().rstrip(".")
    return signer == from_domain or from_domain.endswith("." + signer) or signer.endswith("." + from_domain)


def own_dkim(raw: bytes) -> tuple[int, tuple[str, ...]]:
    """How many DKIM signatures the message has, and the d= domains of those that verify
    (mailbot's own check, `[mail] verify_dkim`)."""
    count, passed = 0, []
    try:
        checker = dkim.DKIM(raw)
        count = sum(1 for name, _value in checker.headers if name.lower() == b"dkim-signature")
        for idx in range(min(count, MAX_SIGNATURES)):
            ok = checker.verify(idx=idx, dnsfunc=DNS_TXT) if DNS_TXT else checker.verify(idx=idx)
            if ok and checker.domain:
                passed.append(checker.domain.decode("ascii", "replace").lower())
    except Exception as exc:  # a malformed signature or message, a DNS failure: it verifies nothing
        log.info("DKIM verification failed: %s", exc)
    return count, tuple(passed)


def verdict(app: App, session: Session, sender: str | None, results: tuple[AuthResult, ...], raw: bytes) -> Verdict:
    """The sender's standing: registered or not, and why its message fails authentication, if it does."""
    if not sender:
        return Verdict(registered=False)
    owners = providers.of_address(session, sender)
    from_domain = sender.rpartition("@")[2]
    trusted_id = app.settings.mail.trusted_authserv_id
    trusted = [r for r in results if trusted_id and r.authserv_id == trusted_id]
    passing = [r.domain for r in trusted if r.method == "dkim" and r.result == "pass"]
    dkim_failed = any(r.method == "dkim" and r.result == "fail" for r in trusted)
    if app.settings.mail.verify_dkim:
        signatures, own = own_dkim(raw)
        passing += list(own)
        dkim_failed = dkim_failed or (signatures > 0 and not own)
    has_aligned = any(aligned(d, from_domain) for d in passing)
    failed: str | None = None
    if any(r.method == "dmarc" and r.result == "fail" for r in trusted):
        failed = f"dmarc=fail for {from_domain} at {trusted_id}"
    elif dkim_failed and not has_aligned:
        where = f"at {trusted_id}" if trusted else "in mailbot's own check"
        failed = f"dkim=fail {where} and no passing DKIM signature aligned with {from_domain}"
    else:
        strict = [p.name for p in owners if p.require_dkim]
        if strict and not has_aligned:
            failed = f"{', '.join(strict)} must be DKIM-aligned: no passing DKIM signature aligned with {from_domain}"
    return Verdict(registered=bool(owners), failed=failed)


def may_refuse(session: Session, sender: str | None, verdict: Verdict) -> bool:
    """A refusal is no backscatter: never to a sender whose message failed authentication, nor to
    a domain no provider has (a forged From would send it to an innocent third party)."""
    if not sender or verdict.failed is not None:
        return False
    return providers.known_domain(session, sender.rpartition("@")[2])
