"""The directory of providers: names, aliases, contacts, domains; and matching names to them.

Carriers write each other's names loosely ("Telcon US", "Telconus", "Telconus / Telcon
US / Telcon Voice / Whisl"). A name is compared, with rapidfuzz, to every known name and
alias after folding case, punctuation and legal suffixes; a composite name matches when
any of its parts does. At or above `SURE` it is that provider; between `ASK` and `SURE`
a human decides (a Review); below `ASK` it is someone new. Distinct providers sharing a
word ("Smart Network Solutions", "Smartbiz Telecom") score far below `ASK`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rapidfuzz import fuzz
from sqlmodel import Session, col, select

from mailbot.domain.vocabulary import ContactRole, ProviderStatus
from mailbot.store.tables.desk import Provider, ProviderAlias, ProviderContact, ProviderDomain

SURE = 88.0
ASK = 75.0

_SPLIT = re.compile(r"\s*(?:/|\||;|\baka\b|\bd/?b/?a\b|\(|\))\s*", re.I)
_LEGAL = re.compile(
    r"\b(llc|l\.l\.c|inc|incorporated|corp|corporation|ltd|limited|co|company|lp|llp|plc|gmbh|"
    r"s\.?a|s\.?a\.? de c\.?v|de c\.?v|sas|srl|bv)\b\.?",
    re.I,
)
_TLD = re.compile(r"\.(com|net|org|io|us|co|mx)\b", re.I)
# Words that say what a provider is, not who: "Lingo" and "Lingo Telecom" are one provider.
GENERIC = frozenset(
    {
        "telecom",
        "telecommunications",
        "telecomunicaciones",
        "communications",
        "comm",
        "comms",
        "network",
        "networks",
        "voice",
        "voip",
        "carrier",
        "carriers",
        "services",
        "solutions",
        "wholesale",
        "global",
        "group",
        "telefonia",
        "the",
    }
)
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def normalize(name: str) -> str:
    """Case, punctuation, web suffixes and legal suffixes folded away."""
    folded = _LEGAL.sub(" ", _TLD.sub(" ", name.casefold()))
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def parts(name: str) -> list[str]:
    """A composite name's parts: 'Telconus / Telcon US / Whisl' -> three names."""
    found = [p.strip(" ,.-") for p in _SPLIT.split(name)]
    return list(dict.fromkeys(p for p in found if normalize(p)))


def similarity(a: str, b: str) -> float:
    """0..100; spacing differences ('Telcon US' / 'Telconus') do not count against a match."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return 0.0
    core_a, core_b = _core(na), _core(nb)
    if core_a and core_a == core_b:
        return max(92.0, fuzz.ratio(na, nb))
    return max(fuzz.ratio(na, nb), fuzz.ratio(na.replace(" ", ""), nb.replace(" ", "")))


def _core(normalized: str) -> str:
    return "".join(w for w in normalized.split() if w not in GENERIC)


@dataclass(frozen=True, slots=True)
class Match:
    provider: Provider | None
    score: float
    matched: str | None  # the known name or alias it matched

    @property
    def sure(self) -> bool:
        return self.provider is not None and self.score >= SURE

    @property
    def doubtful(self) -> bool:
        return self.provider is not None and ASK <= self.score < SURE


def _known_names(session: Session) -> list[tuple[Provider, str]]:
    providers = {p.id: p for p in session.exec(select(Provider)).all()}
    names = [(p, p.name) for p in providers.values()]
    names += [(providers[a.provider_id], a.alias) for a in session.exec(select(ProviderAlias)).all()]
    return names


def find(session: Session, name: str) -> Match:
    """The best match for a (possibly composite) name."""
    best = Match(provider=None, score=0.0, matched=None)
    for part in parts(name) or [name]:
        for provider, known in _known_names(session):
            for known_part in parts(known) or [known]:
                score = similarity(part, known_part)
                if score > best.score:
                    best = Match(provider=provider, score=score, matched=known)
    return best


def valid_address(address: str) -> bool:
    # ASCII only: notices go out without SMTPUTF8 (an IDN domain is written as IDNA, xn--).
    return address.isascii() and bool(_ADDRESS.match(address.strip()))


def by_address(session: Session, address: str) -> Provider | None:
    """The provider an address belongs to: a registered contact, else a registered domain."""
    address = address.strip().lower()
    contact = session.exec(select(ProviderContact).where(col(ProviderContact.address) == address)).first()
    if contact is not None:
        return session.get(Provider, contact.provider_id)
    domain = address.rpartition("@")[2]
    row = session.exec(select(ProviderDomain).where(col(ProviderDomain.domain) == domain)).first()
    return session.get(Provider, row.provider_id) if row is not None else None


def of_address(session: Session, address: str) -> list[Provider]:
    """Every provider an address may answer for: as a registered contact, or at a registered domain."""
    address = address.strip().lower()
    ids = set(session.exec(select(ProviderContact.provider_id).where(ProviderContact.address == address)).all())
    domain = address.rpartition("@")[2]
    ids |= set(session.exec(select(ProviderDomain.provider_id).where(ProviderDomain.domain == domain)).all())
    return [p for p in (session.get(Provider, i) for i in sorted(ids)) if p is not None]


def known_domain(session: Session, domain: str) -> bool:
    """Some provider has this mail domain: registered, or the domain of one of its contacts."""
    domain = domain.strip().lower()
    if session.exec(select(ProviderDomain.id).where(ProviderDomain.domain == domain)).first() is not None:
        return True
    at_domain = col(ProviderContact.address).endswith("@" + domain, autoescape=True)
    return session.exec(select(ProviderContact.id).where(at_domain)).first() is not None


def may_answer_for(session: Session, provider_id: int, address: str) -> bool:
    """Only the provider's registered addresses, or addresses at its registered domains.

    One address may serve several providers (a shared NOC); it may answer for each of them.
    """
    address = address.strip().lower()
    contact = session.exec(
        select(ProviderContact).where(
            col(ProviderContact.provider_id) == provider_id, col(ProviderContact.address) == address
        )
    ).first()
    domain = session.exec(
        select(ProviderDomain).where(
            col(ProviderDomain.provider_id) == provider_id, col(ProviderDomain.domain) == address.rpartition("@")[2]
        )
    ).first()
    return contact is not None or domain is not None


def contacts(session: Session, provider_id: int, deliverable_only: bool = True) -> list[ProviderContact]:
    """Primary contacts first, then backups."""
    rows = session.exec(
        select(ProviderContact).where(col(ProviderContact.provider_id) == provider_id).order_by(col(ProviderContact.id))
    ).all()
    rows = [c for c in rows if not (deliverable_only and c.undeliverable)]
    return sorted(rows, key=lambda c: c.role != ContactRole.PRIMARY)


def notice_addresses(session: Session, provider_id: int) -> list[str]:
    """Where a notice goes: the deliverable primary contacts, else the first deliverable backup."""
    usable = contacts(session, provider_id)
    primary = [c.address for c in usable if c.role == ContactRole.PRIMARY]
    return primary or [c.address for c in usable[:1]]


# A country written as one of these keeps a provider domestic; any other makes it foreign.
US_NAMES = frozenset({"us", "usa", "u.s.", "u.s.a.", "united states", "united states of america"})
_YES = frozenset({"true", "yes", "y", "1", "foreign"})
_NO = frozenset({"false", "no", "n", "0", "domestic"})


def add(
    session: Session,
    name: str,
    *,
    emails: Sequence[str] = (),
    backups: Sequence[str] = (),
    aliases: Iterable[str] = (),
    domains: Iterable[str] = (),
    status: str | None = None,
    foreign: bool | None = None,
    country: str | None = None,
    require_dkim: bool | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> Provider:
    """Create the provider, or extend the one with the same name; composite names become aliases.

    `foreign`/`country` left None keep what the provider has (a new one is domestic); a
    country other than the U.S. makes it foreign unless `foreign` is given as False.
    `require_dkim` None keeps what the provider has (a new one does not require DKIM).
    Raises ValueError for an address or status that cannot be right.
    """
    # Names reach notices and headers: no line breaks or control characters survive.
    names = parts(" ".join(re.sub(r"[\x00-\x1f\x7f]", " ", name).split()))
    if not names:
        raise ValueError(f"provider name {name!r} has no letters or digits")
    for address in [*emails, *backups]:
        if not valid_address(address):
            raise ValueError(f"not an email address: {address!r}")
    if status is not None and status.upper() not in (ProviderStatus.GREEN, ProviderStatus.YELLOW, ProviderStatus.RED):
        raise ValueError(f"status must be GREEN, YELLOW or RED, not {status!r}")
    provider = _exact(session, names[0])
    if provider is None:
        provider = Provider(name=names[0], created_at=now)
        session.add(provider)
        session.flush()
    if status is not None:
        provider.status = status.upper()
    if country is not None and country.strip():
        provider.country = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", country).split())[:64]
        if foreign is None:
            foreign = provider.country.casefold() not in US_NAMES
    if foreign is not None:
        provider.foreign = foreign
    if require_dkim is not None:
        provider.require_dkim = require_dkim
    if language is not None:
        provider.language = language.strip().lower()[:8] or None  # notices in it where a template has it
    assert provider.id is not None
    for alias in [*names[1:], *aliases]:
        add_alias(session, provider.id, alias)
    for address in emails:
        add_contact(session, provider.id, address, ContactRole.PRIMARY)
    for address in backups:
        add_contact(session, provider.id, address, ContactRole.BACKUP)
    for domain in domains:
        domain = domain.strip().lower().lstrip("@")
        if domain and session.exec(select(ProviderDomain).where(col(ProviderDomain.domain) == domain)).first() is None:
            session.add(ProviderDomain(provider_id=provider.id, domain=domain))
    session.flush()
    return provider


def yes_no(value: str | None) -> bool | None:
    """A CSV cell read as a flag: None when empty, ValueError when neither yes nor no."""
    folded = (value or "").strip().casefold()
    if not folded:
        return None
    if folded in _YES or folded in _NO:
        return folded in _YES
    raise ValueError(f"foreign must be yes/no (true/false, 1/0), not {value!r}")


def _exact(session: Session, name: str) -> Provider | None:
    key = normalize(name).replace(" ", "")
    for provider, known in _known_names(session):
        if normalize(known).replace(" ", "") == key:
            return provider
    return None


def add_alias(session: Session, provider_id: int, alias: str) -> None:
    alias = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", alias).split())
    existing = session.exec(
        select(ProviderAlias).where(col(ProviderAlias.provider_id) == provider_id, col(ProviderAlias.alias) == alias)
    ).first()
    provider = session.get(Provider, provider_id)
    if alias and existing is None and provider is not None and provider.name != alias:
        session.add(ProviderAlias(provider_id=provider_id, alias=alias))


def add_contact(session: Session, provider_id: int, address: str, role: str) -> None:
    """Register an address; the second address of a provider is its backup unless said otherwise."""
    address = address.strip().lower()
    existing = session.exec(
        select(ProviderContact).where(
            col(ProviderContact.provider_id) == provider_id, col(ProviderContact.address) == address
        )
    ).first()
    if existing is not None:
        return
    session.add(ProviderContact(provider_id=provider_id, address=address, role=role))
    session.flush()


def listing(session: Session) -> list[dict]:
    out = []
    for provider in session.exec(select(Provider).order_by(col(Provider.name))).all():
        assert provider.id is not None
        aliases = session.exec(
            select(col(ProviderAlias.alias)).where(col(ProviderAlias.provider_id) == provider.id)
        ).all()
        domains = session.exec(
            select(col(ProviderDomain.domain)).where(col(ProviderDomain.provider_id) == provider.id)
        ).all()
        out.append(
            {
                "id": provider.id,
                "name": provider.name,
                "status": provider.status,
                "known": provider.known,
                "foreign": provider.foreign,
                "country": provider.country,
                "require_dkim": provider.require_dkim,
                "language": provider.language,
                "aliases": sorted(aliases),
                "contacts": [
                    {"address": c.address, "role": c.role, "undeliverable": c.undeliverable}
                    for c in contacts(session, provider.id, deliverable_only=False)
                ],
                "domains": sorted(domains),
            }
        )
    return out


def _cells(value: str | None) -> list[str]:
    return [v.strip() for v in re.split(r"[;|]", value or "") if v.strip()]


def import_csv(session: Session, path: Path, now: datetime) -> int:
    """Rows of `name,emails,backups,aliases,domains,status[,foreign,country]` (lists split by ';'); returns rows read.

    Every row is checked before any is stored: one bad row stores nothing and names its line.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "name" not in [f.strip().lower() for f in reader.fieldnames]:
            raise ValueError(f"{path}: the first row must be a header with at least a 'name' column")
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    for line, row in enumerate(rows, start=2):
        if not row.get("name"):
            raise ValueError(f"{path}:{line}: no name")
        for address in _cells(row.get("emails")) + _cells(row.get("backups")):
            if not valid_address(address):
                raise ValueError(f"{path}:{line}: not an email address: {address!r}")
        try:
            yes_no(row.get("foreign"))
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: {exc}") from exc
    for row in rows:
        add(
            session,
            row["name"],
            emails=_cells(row.get("emails")),
            backups=_cells(row.get("backups")),
            aliases=_cells(row.get("aliases")),
            domains=_cells(row.get("domains")),
            status=row.get("status") or None,
            foreign=yes_no(row.get("foreign")),
            country=row.get("country") or None,
            now=now,
        )
    return len(rows)
