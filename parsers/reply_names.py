"""Provider and customer names in a reply, grounded in what mailbot knows.

The directory (provider names, aliases, domains) is an argument: this module reads text
only. A name is found by its shape (capitalised words, a legal suffix of many countries,
quotes, lower-case words when a role word introduces them), an address's domain maps to a
known provider, and a name is matched to the directory with rapidfuzz.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils


@dataclass(frozen=True)
class KnownProvider:
    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = field(default=())


# Legal suffixes (US, UK, Latin America, Spain, Germany, Netherlands, Australia, Italy, Nordics ...).
LEGAL_SUFFIXES = (
    "LLC",
    "L.L.C.",
    "Inc",
    "Inc.",
    "Corp",
    "Corp.",
    "Co.",
    "Ltd",
    "Ltd.",
    "Limited",
    "LLP",
    "PLC",
    "LP",
    "Ltda",
    "Ltda.",
    "S.A.S.",
    "SAS",
    "S.A.",
    "SA",
    "S.A. de C.V.",
    "SA de CV",
    "S. de R.L.",
    "S. de R.L. de C.V.",
    "S.R.L.",
    "SRL",
    "S.A.C.",
    "SAC",
    "S.A.A.",
    "E.I.R.L.",
    "EIRL",
    "S.L.",
    "SL",
    "S.L.U.",
    "S.p.A.",
    "SpA",
    "GmbH",
    "AG",
    "B.V.",
    "BV",
    "N.V.",
    "Pty Ltd",
    "Pty. Ltd.",
    "Sdn Bhd",
    "AB",
    "AS",
    "A/S",
    "Oy",
    "K.K.",
)
# English writes these with or without the period ("Inc", "Inc."), so at the end of a sentence
# the period cannot be told from the full stop and the name is read without it. Suffixes spelled
# with inner dots ("S.A.S.", "Pty. Ltd.") and Spanish or Portuguese abbreviations, whose period is
# part of their spelling ("Ltda."), keep it.
OPTIONAL_PERIOD = ("Inc.", "Corp.", "Co.", "Ltd.")
# What may follow a sentence's last word: an aside in brackets (an address), the full stop, then the
# end of the text or the next sentence.
_SENTENCE_END = re.compile(r"(?:\s*\([^()\n]*\))?\s*[.!?;]?(?:\s*$|\s*\n|\s+(?=[A-Z¿¡\"“]))")
_SUFFIX = "|".join(re.escape(s) for s in sorted(LEGAL_SUFFIXES, key=len, reverse=True))
_CAP = r"[A-Z0-9ÁÉÍÓÚÑ][\w&'.\-]*[\w&]|[A-Z0-9]"
_CONNECT = r"(?: (?:of|de|del|la|las|los|y|and|&|e|/) | / | )"
# Capitalised words joined by a few lower-case connectors, and an optional legal suffix.
# A legal suffix is one word even with inner dots and spaces ("S.A. de C.V.").
_TOKEN = rf"(?:{_SUFFIX})(?![\w])|{_CAP}"
CAPITALISED = re.compile(rf"(?P<name>(?:{_CAP})(?:{_CONNECT}(?:{_TOKEN})){{0,7}}(?:,? (?:{_SUFFIX})(?![\w]))?)")
QUOTED = re.compile(r"^[\"“”«'\u2018](?P<name>[^\"“”»'\u2019\n]{2,60})[\"“”»'\u2019]")
# Lower-case names are read only when a role word introduces them ("our upstream acme voice").
_STOP = (
    r"(?:our|ours|of|us|upstream|provider|carrier|vendor|partner|customer|client|subscriber|"
    r"nuestro|nuestra|nuestros|proveedor|operador|cliente|and|or|who|which|that|on|for|in|at|to|with|from|via|by|is|was|are|the|their|they|we|it|this|"
    r"y|o|que|en|para|con|desde|por|es|fue|su|sus|nos|el|la|los|las|este|esta|ese|esa)"
)
LOWER = re.compile(
    rf"(?P<name>(?!{_STOP}\b)[a-z0-9][\w&'\-]*(?:\.[a-z]{{2,}})?(?: (?!{_STOP}\b)[a-z0-9][\w&'\-]*){{0,3}})"
)
ROLE_WORDS = re.compile(
    r"\b(upstream|provider|carrier|vendor|partner|customer|client|subscriber|users?|proveedor|operador|"
    r"cliente|carrier|socio|suscriptor|abonad[oa]|usuario)s?\b"
    r"(?:\s+(?:of ours|ours|nuestr[oa]s?))?\W*$",
    re.IGNORECASE,
)
# Words that start a sentence or fill a clause, never a name on their own.
NOT_A_NAME = re.compile(
    r"^(We|I|It|This|That|These|The|Our|They|Their|Please|Nosotros|Este|Esta|Ese|Esa|El|La|Los|Las|Por|Unknown|N/?A|"
    r"Thanks|Thank|Regards|Saludos|Gracias|Hi|Hello|Hola|Yes|No|Si|Sí|SIP|Trunk|Route|Ruta|Troncal|Upstream|"
    r"Provider|Carrier|Customer|Cliente|Proveedor|Contact|Contacto|Email|Correo|Attn|Traceback|Calls|Llamada)$"
)
# Negated names: "we are not X", "it did not come from X", "no somos X", "no vino de X".
NEGATED = re.compile(
    r"\b(?:(?:we|i) (?:are|am)(?: not|n't)|(?:is|was|it's)(?: not|n't)(?: from| via)?|"
    r"(?:did|does|do)(?: not|n't) (?:come|arrive|originate|route|transit)[a-z]* (?:from|via|through|by|on)|"
    r"not (?:from|via|through)|no somos|no es(?: de)?|no (?:vino|lleg[oó]|provino|entr[oó]) (?:de|por|desde|v[ií]a))\s+"
    r"(?:the |our |el |la |nuestro |nuestra )?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _legal_suffix(words: str) -> str | None:
    """The legal suffix words end with, as a whole word ("Pty. Ltd.", not "Ltd.")."""
    return max(
        (s for s in LEGAL_SUFFIXES if words.endswith(s) and (words == s or words[-len(s) - 1] in " ,")),
        key=len,
        default=None,
    )


def name_at(text: str, *, introduced: bool = False, endpos: int | None = None) -> str | None:
    """The name that starts text (within text[:endpos]; what follows is context): quoted,
    capitalised, or lower-case after a role word."""
    endpos = len(text) if endpos is None else endpos
    quoted = QUOTED.match(text, 0, endpos)
    if quoted:
        return quoted.group("name").strip()
    m = CAPITALISED.match(text, 0, endpos)
    if m:
        words = m.group("name").strip(" ,-/")
        suffix = _legal_suffix(words)
        # "Route 12" is no name, "Ruta Sur Comunicaciones S.A." is one.
        substantial = words.count(" ") >= 2 or (suffix is not None and " " in words)
        if suffix is None or (suffix in OPTIONAL_PERIOD and _SENTENCE_END.match(text, m.end())):
            words = words.rstrip(".")
        first = words.split(" ")[0].rstrip(".,")
        if "@" not in words and (substantial or not NOT_A_NAME.match(first)):
            return words
        return None
    if introduced:
        m = LOWER.match(text, 0, endpos)
        if m and len(m.group("name")) >= 3:
            return m.group("name").strip(" .,")
    return None


def negated_names(text: str) -> set[str]:
    """Names the reply says the call did not come from, or the carrier is not."""
    out = set()
    for m in NEGATED.finditer(text):
        name = name_at(text[m.end() :], introduced=True)
        if name:
            out.add(name.casefold())
    return out


def domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def same_organisation(address: str, own_domain: str | None) -> bool:
    """An address at the replying carrier's own domain (or a subdomain of it)."""
    if not own_domain:
        return False
    host = domain(address)
    return host == own_domain or host.endswith("." + own_domain)


def by_domain(address: str, directory: Sequence[KnownProvider]) -> KnownProvider | None:
    host = domain(address)
    for provider in directory:
        if any(host == d or host.endswith("." + d) for d in provider.domains):
            return provider
    return None


def known(name: str, directory: Sequence[KnownProvider], cutoff: float = 88) -> KnownProvider | None:
    """The directory's provider a name (or alias) refers to, if any."""
    choices = {i: label for i, p in enumerate(directory) for label in (p.name, *p.aliases)}
    if not choices:
        return None
    found = process.extractOne(
        name, choices, scorer=fuzz.token_sort_ratio, processor=utils.default_process, score_cutoff=cutoff
    )
    return directory[found[2]] if found else None


def mentioned(text: str, directory: Sequence[KnownProvider]) -> list[KnownProvider]:
    """Known providers named anywhere in text (by name or alias, allowing small misspellings)."""
    lowered = utils.default_process(text)
    out = []
    for provider in directory:
        for label in (provider.name, *provider.aliases):
            if fuzz.partial_ratio(utils.default_process(label), lowered, score_cutoff=92):
                out.append(provider)
                break
    return out


# Words that end a lower-case provider name ("bluefin telecom").
INDUSTRY_WORDS = frozenset(
    (
        "telecom",
        "telecomunicaciones",
        "telecommunications",
        "networks",
        "network",
        "voice",
        "voz",
        "communications",
        "comunicaciones",
        "carrier",
        "wholesale",
        "tel",
        "telephone",
        "telefonia",
        "telefonía",
        "redes",
        "connect",
        "link",
        "voip",
        "global",
        "digital",
        "solutions",
        "services",
        "systems",
        "group",
        "grupo",
        "mayorista",
    )
)


_CONNECTORS = frozenset({"de", "del", "la", "las", "los", "el", "of", "the", "and", "y", "&"})


def name_for_address(text: str, address: str) -> str | None:
    """The words in text that spell the address's domain ("telnexus" for noc@telnexus.com): a name
    that has no capital letters is still grounded when the carrier's own address spells it."""
    label = domain(address).split(".")[0].replace("-", "")
    if len(label) < 4:
        return None
    words = re.findall(r"[\w&'\-]+", text)
    # Words that spell the label whole first (the longest, "telepuerto del norte" for telepuertonorte),
    # then a word that begins it ("arcadia" for arcadiatel, grown by the industry words after it).
    for spelled, sizes in ((True, (3, 2, 1)), (False, (1, 2, 3))):
        for size in sizes:
            for i in range(len(words) - size + 1):
                candidate = words[i : i + size]
                if "@" in " ".join(candidate) or candidate[0].casefold() in {"noc", "abuse", "soporte", "support"}:
                    continue
                if candidate[0].casefold() in _CONNECTORS or candidate[-1].casefold() in _CONNECTORS:
                    continue
                joined = "".join(w for w in candidate if w.casefold() not in _CONNECTORS).casefold().replace("-", "")
                joined = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode()
                if (
                    fuzz.ratio(joined, label) >= (90 if size == 1 else 97)
                    if spelled
                    else (len(joined) >= 5 and label.startswith(joined))
                ):
                    # The whole name the word starts: "Sable Networks", "bluefin telecom".
                    at = text.find(candidate[0])
                    whole = name_at(text[at:]) if at >= 0 else None
                    if whole and whole.startswith(candidate[0]):
                        return whole
                    rest = words[i + size :]
                    while rest and rest[0].casefold() in INDUSTRY_WORDS:
                        candidate, rest = candidate + rest[:1], rest[1:]
                    return " ".join(candidate)
    return None


def emails(text: str) -> list[str]:
    return [m.group(0).lower().rstrip(".") for m in _EMAIL.finditer(text)]
