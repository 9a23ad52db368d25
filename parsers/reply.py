"""Carrier replies: what the carrier answered, in its own words.

The reply's own words: the notices mailbot sent on the thread and the mail clients' quote
headers are removed first (`reply_quotes`), then `mail-parser-reply` cuts signatures and
disclaimers (English and Spanish). A filled-in answer form (or JSON answer) is read exactly
(`reply_form`). Otherwise outcomes are decided sentence by sentence by an ordered table of
phrase patterns; a hedged sentence ("if so", "either ... or", "still investigating") is no
answer; names are read by shape and grounded in the directory (`reply_names`); every reading
carries a confidence, and `decision` says whether the desk may apply it, should propose it
to the carrier for confirmation, or must ask. A reply naming several tracebacks, each with
its own answer, yields one answer per traceback (`answers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mailbot.parsers import reply_forward
from mailbot.parsers import reply_names as names
from mailbot.parsers.addresses import mailable
from mailbot.parsers.call_details import referenced_ids
from mailbot.parsers.reply_form import read_form
from mailbot.parsers.reply_names import KnownProvider
from mailbot.parsers.reply_quotes import own_lines
from mailparser_reply.parser import EmailMessage
from rapidfuzz import fuzz

from mailbot.domain.records import ReplyResult

# Carriers answer in bullet lists ("- Upstream: X"); only "--" starts a signature.
_LANGUAGES = ("en", "es")

# Where quoted text, forwarded text or boilerplate begins (the library misses some).
_QUOTE_START = re.compile(
    r"^(>|-{2,}\s*(original message|mensaje original)|-{5,}\s*forwarded message|_{10,}|"
    r"on .+ wrote:|on .+,\s*$|el .+ escribi[oó]:|begin forwarded message|"
    r"sent from (my|yahoo|outlook|mail|samsung)|get outlook for|enviado desde|"
    r"call details for (traceback|incident)|confidentiality notice|aviso de confidencialidad|"
    r"this (e-?mail|message|communication)( and any (attachments|files)[\w ]*)? (is|are|may contain|contains)\b|"
    r"este (correo|mensaje)[\w ,]* (es|contiene|puede contener)\b)",
    re.IGNORECASE,
)
# Closing words after which only a signature follows.
_SIGNOFF = re.compile(
    r"^(thanks|thank you|regards|best regards|kind regards|best|sincerely|cheers|saludos|atentamente|"
    r"gracias|cordialmente|un saludo|muchas gracias)\b(?:[\w.!]*[ ,]*){0,4}$",
    re.IGNORECASE,
)
# "Traceback #7", "incident 4101", "TB#12", or a bare "#4101".
_TRACEBACK_MENTION = re.compile(
    r"\b(?:traceback|incident|tb|rastreo|caso)s?\s*#?\s*(\d+)\b|#\s*(\d{2,})\b", re.IGNORECASE
)

# Filler between a trigger phrase and the name itself.
_FILLER = re.compile(
    r"^(?:[\s:,\-–]|the|our|an?|upstream|provider|carrier|partner|vendor|customer|client|company|is|was|called|named|"
    r"wholesale|transit|international|interconnect|long[- ]distance|"
    r"el|la|los|un|una|nuestro|nuestra|proveedor|operador|cliente|es|fue|de|llamad[oa]|denominad[oa]|"
    r"mayorista|internacional|socio|empresa|compañ[ií]a|abonad[oa])+\b[\s:,\-–]*",
    re.IGNORECASE,
)
# Phrasings added after the second round of unseen replies (bench/replies/README.md), by outcome.
MORE_PHRASES: dict[str, str] = {
    "dispute": (
        r"\bwrong (carrier|provider|company|number|party|operator)\b|\bwe(?: are|'re) not (?-i:[A-Z])|"
        r"\bno somos (?-i:[A-Z])|\b(sent|reached|came) to us (in error|by mistake)|\bin error\b|\bby mistake\b|"
        r"\b(por error|es un error|hay un error|equivocad[oa]s?)\b|\b(rechazamos|rechazo|no reconocemos)\b|"
        r"\bno (es|son) (nuestr[oa]s?|tr[aá]fico nuestro)\b|\bnot a number we\b|"
        r"\b(not|never) (one of )?our (number|numbers|traffic|calls?)\b|\bempresa (distinta|diferente)\b"
    ),
    "not_found": (
        r"\b(nothing (on|at) our (end|side)|no (hits|luck|results?|matches)\b|zero (hits|results|matches)|"
        r"(do|does|did|can)(n't| not) see (it|this|that|the call|anything|any)|(came|turned) up (empty|nothing|dry)|"
        r"not seeing (it|this|that|the call|anything|any)|we have nothing\b|draws? a blank|"
        r"no (la|lo|las|los) (vemos|encontramos|ubicamos|localizamos)|no vemos (nada|la llamada|registro)|"
        r"no aparece|no hay nada|no nos aparece|sin resultados|nada en (nuestros|los) (registros|cdrs?))|"
        r"\bno (lo|la)?\s?(logramos|pudimos|conseguimos|hemos podido) (ubicar|encontrar|localizar|identificar|"
        r"rastrear|hallar)|\bno hay (coincidencias|resultados)\b|\bni rastro\b|\bsin rastro\b|"
        r"\bno existen? (ning[uú]n )?registros?\b|\bno (calls?|traffic|llamadas?|tr[aá]fico)\b[^.]{0,30}"
        r"\b(to|from|on|for|a|de|hacia|en)\b|\bzero (cdrs?|records?|calls?|hits|results|matches)\b|"
        r"\bno (registramos|detectamos|identificamos|tenemos constancia)\b"
    ),
    "upstream": (
        r"^\W*(from|de)\s*:\s*\S|"
        r"\b(trunk|route|peer|ip|troncal|ruta|interconnect|interconexi[oó]n|sbc)\b[^;]{0,60}?"
        r"\b(belongs to|is owned by|pertenece a|es de)\b|"
        r"\b(trunk|trunk group|route|troncal|ruta)\b[^.;]{0,30}?\bfrom\b|"
        r"\bour (upstream|source|vendor|provider|carrier)( [\w]+){0,4}? (is|was)\b|"
        r"\bupstream (for|on) (this|that|the) \w+ (is|was)\b|"
        r"\b(proveedor|operador|carrier) que nos (envi[oó]|entreg[oó]|pas[oó]|mand[oó]|curs[oó])"
        r"( (la|esta|esa) llamada)?\s*(es|fue|:)|"
        r"\bnos (la|lo|las|los) (entreg[oó]|envi[oó]|pas[oó]|mand[oó]|curs[oó]|trajo)\b|"
        r"^\W*fue\b.{2,80}\bquien(es)? nos\b|\bit was\b.{2,80}\b(who|that) (sent|delivered|handed|passed|routed)\b|"
        r"\b(redirect|forward|send|direct|route) (this|it|the request|the traceback|this request)( on)? to\b|"
        r"\b(dirij[ae]n|dirigir|env[ií]en|reenv[ií]en|manden) (la|el|esta|este) (solicitud|rastreo|consulta|pedido|"
        r"traceback) a\b|"
        r"\b(lleg[oó]|vino|viene|vienen|entr[oó]|ingres[oó]) (\S+ ){0,4}?(desde|v[ií]a|a trav[eé]s de)\b|"
        r"\bviene (de|desde|por)\b|"
        r"\b(carrier|provider|vendor|operator) (handing|sending|delivering|passing|routing) (us |to us )?"
        r"(this|that|the) (call|traffic) (is|was)\b|"
        r"\b(peering|interconnect|interconnection|trunk|interconexi[oó]n|troncal) (with|con)\b|"
        r"\bnuestro (proveedor|carrier|operador|upstream)( \S+){0,4}? (es|fue)\b"
    ),
    "origin": (
        r"^\W*(customer|cliente|originating customer|end user)\s*:|\b(cliente|clientes) nuestros?\b|"
        r"\b(nuestro|nuestra|un|una) abonad[oa]\b|\b(one of )?our end[- ]users?\b"
    ),
}

_P = r"(?:[\w.]+ ){0,3}"  # up to three words in between
# (outcome, pattern, where the name follows) in priority order; first match wins per sentence.
OUTCOMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (outcome, re.compile(pattern + ("|" + MORE_PHRASES[outcome] if outcome in MORE_PHRASES else ""), re.IGNORECASE))
    for outcome, pattern in (
        (
            "dispute",
            (
                r"\b(we )?(dispute|disagree|object to)\b|\b(do|does|did)(n't| not) agree\b|not (our|my) (traffic|call)|"
                r"we are not the upstream|\b(written|documented|express|prior) consent\b|"
                r"\b(we )?(contest|reject|deny|refute)s?\b|\b(do|does)(n't| not) accept\b|"
                r"\bnot (robocalls?|illegal|unlawful|spam)\b|\bwith (the )?[\w']+ (permission|consent)\b|\bspoofed\b|"
                r"\b(lawful|legitimate|consented|opted[- ]in)\b.{0,60}\b(call|traffic|campaign)|"
                r"\b(disputamos|impugnamos|no estamos de acuerdo|no es nuestro tr[aá]fico)\b"
            ),
        ),
        (
            "not_found",
            (
                r"^\W*(not found|no encontrad[ao]s?)\W*$|\b(could not|couldn't|cannot|can't|unable to|did not|didn't|"
                r"were not able to|was not able to|wasn't able to|weren't able to|(are|am|is) not able to|"
                r"aren't able to) "
                rf"{_P}(find|locate|identify|see|match|trace)\b|\bno (trace|sign|record)s? of\b|"
                r"\bnever (hit|reached|touched|crossed|transited|traversed|entered)\b|"
                r"\bno (information|info|data|details) (on|about|for|regarding) (this|that|the) call\b|"
                r"\bnothing (in|on) our (logs?|cdrs?|records|switch|systems?)\b|"
                r"\bno hay (evidencia|registros?|rastro)\b|"
                r"\bno tenemos (ning[uú]n |alg[uú]n )?registro|\bning[uú]n registro\b|"
                r"\bno (matching )?(record|records|cdrs?|trace|evidence|match|matches)\b|"
                r"\bfound (nothing|no (record|match|call|trace))|\bnothing (was )?(found|matching)\b|"
                r"\b(do|did|does)(n't| not) have (any )?(record|records|cdrs?|trace|logs?)\b|\bno such call\b|"
                r"\b(was|were) not found\b|"
                r"\b(not|never) (found |present )?in our (cdrs?|records|logs|switch|switches|network|systems?)\b|"
                r"\bno (pas[oó]|transit[oó]|curs[oó]) por nuestra red\b|"
                r"\bdoes(n't| not) (appear|show)\b|did(n't| not) (transit|traverse|pass through|route through|hit)\b|"
                r"\bno (encontramos|se encontr[oó]|hay registros?|tenemos registros?|localizamos|aparece)\b|"
                r"\bno (pudimos|fue posible) (encontrar|localizar|ubicar)\b|sin registros?\b"
            ),
        ),
        (
            "upstream",
            (
                r"\b(received|got|accepted) (the|this|these|that) (call|calls|traffic)( in)? (from|via)\b|"
                r"\b(received|got|accepted) (it|them|this|these|that) (from|via)\b|\bsourced (from|by|via)\b|"
                r"\b(upstream |underlying )?(carrier|provider|vendor) for (this|that|the) "
                r"(route|call|calls|traffic) (is|was)\b|"
                r"\bupstream\s*(provider|carrier)?\s*name\s*:|"
                r"\b(entregad[oa]|enviad[oa]|enrutad[oa]) (por|desde)\b|"
                r"\bproveedor (para|de) (esa|esta|la) (ruta|llamada) (es|fue)\b|"
                r"\bupstream\s*(provider|carrier|partner|vendor)?\s*"
                r"(for (this|these|that) (call|calls|traffic) )?(is|was|were|:|-)|"
                r"\bsource of (the|this|these|that) (call|calls|traffic) (is|was)\b|\bupstream\s*=|"
                r"\b(reached|entered|hit) (us|our network|our switch) (through|via|from)\b|"
                r"\b(carrier|provider|vendor) (that|who|which) (sent|delivered|handed|passed|routed) (us |to us |you )?"
                r"(this|the|that) (call|traffic) (is|was)\b|"
                r"\bprevious (carrier|provider|hop)\b[\w ]{0,30}\b(is|was)\b|"
                r"\b(bought|purchased|buy) (this|the|that) (route|traffic|termination) from\b|"
                r"\bproveedor que nos (envi[oó]|entreg[oó]|pas[oó]) (la|esta|esa) llamada (es|fue)\b|"
                r"\b(upstream|vendor|provider|carrier)( provider| carrier)? as\b|"
                r"\btraced? (this|the|that) (call|calls|traffic) back to\b|"
                r"\bingres[oó] (por|de|desde|a trav[eé]s de)\b|"
                r"\b(came|comes|come|was sent|was delivered|was routed|was handed|arrived|routed|entered|entering) "
                r"(to us |in to us |in |over |through |into our network |our network )?"
                r"(on [\w ]{1,30} )?(from|by|via)\b|"
                r"\bdirect (the|this) traceback to\b|"
                r"\b(call|calls|traffic) (came|was received|were received|arrived) (in )?(from|via)\b|"
                r"\b(sent|delivered|handed off|routed|passed) (to us )?(by|from)\b|"
                r"\bplease (contact|reach out to|forward (this|it) to|send (this|it) to)\b|"
                r"\bprevious hop (is|was)\b|\bour (upstream|source) (is|was)\b|"
                r"\b(recibimos|recibi[oó]|lleg[oó]|nos lleg[oó]|provino|proviene|vino|entr[oó]) "
                r"(la llamada |el tr[aá]fico |las llamadas )?"
                r"(a trav[eé]s de|de parte de|desde|de|por|v[ií]a)\b|"
                r"\bproveedor (upstream|anterior|de origen|de tr[aá]nsito)\b|^\W*proveedor\s*:|"
                r"\b(recibimos|recibi[oó]) (ese|este|el|la) (tr[aá]fico|llamada) "
                r"(por medio de|a trav[eé]s de|de|desde)\b|"
                r"\bfavor de contactar a\b|\bcontacten a\b"
            ),
        ),
        (
            "origin",
            (
                r"\b(originated|originates|was originated|was placed|was made|was sent) (by|from|with|on|through)\b|"
                r"\b(our|a) (direct |own |retail |wholesale |enterprise )?(customer|client|subscriber|end[- ]user)s?\b|"
                r"\b(is|was|belongs to) (one of )?(our|a) (direct |own )?(customer|client|subscriber)s?\b|"
                r"\b(customer|client|subscriber) (is|was) ours\b|\bcliente final\b|"
                r"\b(end|originating|responsible) (customer|client|user|party)\b|"
                r"\b(nuestro|nuestra|un|una) (cliente|suscriptor|usuario final)\b|\boriginad[oa] por\b|"
                r"\borigin[oó] (de|en|por)\b|\bes cliente\b"
            ),
        ),
    )
)

# Where the named party follows, for outcomes that name one.
_NAME_AFTER = {
    "upstream": re.compile(
        r"(?:\b(?:from|via|by|through|is|was|were|as|to|contact|reach out to|"
        r"forward (?:this|it) to|send (?:this|it) to|"
        r"a trav[eé]s de|por medio de|de parte de|desde|de|por|v[ií]a|contactar a|contacten a|es|fue|proveedor:|"
        r"entreg[oó]|envi[oó]|pas[oó]|mand[oó]|curs[oó]|trajo|belongs to|pertenece a|with|con)|:|=|-)\s+",
        re.IGNORECASE,
    ),
    "origin": re.compile(
        r"\b(?:customers?|clients?|subscribers?|end[- ]users?|ours|cliente final|clientes?|suscriptor|usuario final|"
        r"abonad[oa]s?|nuestr[oa]s?|by|por|is|es)[,:]?\s+"
        r"(?:is |was |es |fue )?",
        re.IGNORECASE,
    ),
}

_NAME_AFTER["customer"] = reply_forward.CUSTOMER_NAME_AFTER
# The next provider of a Trace Forward follows where an upstream's would, or "to"/"hacia"/"a" it.
_NAME_AFTER["downstream"] = _NAME_AFTER["not_ours"] = re.compile(
    r"\b(?:hacia|a|to)\s+|" + _NAME_AFTER["upstream"].pattern, re.IGNORECASE
)

# A Trace Forward's table: its own phrases, the upstream table's for dispute and not_found.
_BY_OUTCOME = dict(OUTCOMES)
FORWARD_OUTCOMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (outcome, re.compile(pattern, re.IGNORECASE) if pattern else _BY_OUTCOME[outcome])
    for outcome, pattern in reply_forward.PHRASES
)
TABLES = {"back": OUTCOMES, "forward": FORWARD_OUTCOMES}


def _role(outcome: str) -> str:
    """The upstream outcome whose names a forward outcome reads like (itself for the upstream ones)."""
    return reply_forward.ROLE.get(outcome, outcome)


# The upstream as the subject of its sentence: "Acme Telecom sent us this call", "X is our upstream".
_UPSTREAM_VERB = re.compile(
    r"\s+(?:"
    r"(?:sent|delivered|handed|passed|routed|gave|transferred|terminated|brought) (?:us |to us |over )?"
    r"(?:this|the|that|these|those) (?:call|calls|traffic)|"
    r"(?:sent|delivered|handed|passed|routed|gave) (?:it|them)(?: to us| over| us)?(?=\W*$)|"
    r"(?:is|was|are|were) (?:our|the) (?:upstream|source|vendor|provider|carrier)\b(?! for (?:our|the) customer)|"
    r"(?:is|was) (?:who|the one|the carrier|the provider) (?:we|that|who)\b|"
    r"nos (?:envi[oó]|entreg[oó]|pas[oó]|mand[oó]|curs[oó]|trajo) (?:la|esta|esa|el|este|ese|las|los) "
    r"(?:llamada|llamadas|tr[aá]fico)|"
    r"(?:es|fue|son) (?:nuestro|el) (?:proveedor|carrier|operador|upstream)\b)",
    re.IGNORECASE,
)
# A name after a customer role word is a customer's, not an upstream's
# ("our customer, a call center called Acme, sent this call").
_CUSTOMER_BEFORE = re.compile(r"\b(customer|client|subscriber|end user|cliente|abonado|usuario)s?\b", re.IGNORECASE)


def _subject_upstream(sentence: str, refused: set[str]) -> str | None:
    """The upstream as the subject of its sentence: the name that ends right before the verb."""
    for verb in _UPSTREAM_VERB.finditer(sentence):
        prefix = sentence[: verb.start()]
        if _negated(sentence, verb.start()):
            continue
        for start in (m.start() for m in re.finditer(r"(?:^|(?<=[\s,;:(«\"“]))\S", prefix)):
            name = names.name_at(sentence[start:], endpos=len(prefix) - start)  # the verb follows the name
            if name and start + len(name) >= len(prefix.rstrip(" ,.")) - 1 and name.casefold() not in refused:
                if not _CUSTOMER_BEFORE.search(prefix[:start]):
                    return name
                break
    return None


# A hedged sentence is not an answer: conditionals, alternatives, guesses.
HEDGES = re.compile(
    r"\b(if (so|that is|this is|it is|it was|that was|the call|this call|these)|either\b.{1,80}\bor\b|"
    r"may have|might|possibly|probably|likely|perhaps|maybe|not sure|unsure|we think|we suspect|"
    r"could be|could have|would have|to be confirmed|not (yet )?confirmed|pending confirmation|"
    r"si (es|fue) as[ií]|si (fue|es|era) (esa|esta|la|el)|posiblemente|probablemente|quiz[aá]s?|tal vez|"
    r"puede (que|ser|haber)|podr[ií]a|o bien|no estamos seguros|sin confirmar|por confirmar|"
    r"(creemos|pensamos) que|supongo|suponemos|i (believe|think|guess))\b",
    re.IGNORECASE,
)
# Said anywhere in the reply, the answer is not final yet.
STILL_WORKING = re.compile(
    r"\b(still (investigating|checking|looking|reviewing|confirming|waiting|working)|investigation is ongoing|"
    r"(we will|we'll|will) (confirm|get back|follow up|update)|awaiting (confirmation|a response|their)|"
    r"(todav[ií]a|a[uú]n) (estamos )?(investigando|revisando|confirmando|esperando)|"
    r"seguimos (investigando|revisando)|en investigaci[oó]n|les (confirmamos|confirmaremos|avisamos|avisaremos))\b",
    re.IGNORECASE,
)
_NEGATION_BEFORE = re.compile(r"(\bnot|n't|\bnever|\bno|\bnunca)\b[^,;]{0,25}$", re.IGNORECASE)

# How sure a reading must be for the desk to act on it; between PROPOSE_AT and these, it asks the
# carrier to confirm. Closing a traceback, or creating a provider, needs the higher bar.
APPLY_AT = {
    "upstream": 0.8,
    "new_upstream": 0.9,
    "origin": 0.9,
    "not_found": 0.9,
    "dispute": 0.8,
    "downstream": 0.8,
    "not_ours": 0.8,
    "customer": 0.9,
}
PROPOSE_AT = 0.5


def decision(result: ReplyResult, *, known_upstream: bool = False) -> str:
    """What the desk should do with a reading: `apply`, `propose` (ask the carrier to confirm) or `ask`."""
    if result.outcome == "other":
        return "ask"
    key = "upstream" if known_upstream or result.outcome != "upstream" else "new_upstream"
    key = key if result.outcome == "upstream" else result.outcome
    if result.confidence >= APPLY_AT[key]:
        return "apply"
    return "propose" if result.confidence >= PROPOSE_AT else "ask"


def strip_quoted(text: str, sent: Sequence[str] = ()) -> str:
    """The reply's own words: sent notices, quotes, forwarded text, signature and disclaimer removed."""
    text = own_lines(text, sent)
    latest = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
    own = latest.replies[0].body if latest.replies else text
    kept: list[str] = []
    for line in own.split("\n"):
        stripped = line.strip()
        if _QUOTE_START.match(stripped):
            break
        if _SIGNOFF.match(stripped) and kept:
            break
        kept.append(line)
    return "\n".join(kept).strip()


_ABBREVIATION_END = re.compile(
    r"(?:\b[A-Z]\.|\b(?:Inc|Ltd|Ltda|Co|Corp|Jr|Sr|St|No|approx|e\.g|i\.e|Sr|Sra|Lic|Ing)\.)$"
)


def _sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; sentences end at '.', '!', '?', ';' before a space, or a line break,
    except after an abbreviation ("S.A. de C.V.", "Ltd. (noc@...)") when the sentence goes on."""
    out: list[tuple[int, str]] = []
    for m in re.finditer(r"[^\n]+?(?:[.!?;](?=\s|$)|$)", text, re.MULTILINE):
        sentence = m.group(0).strip()
        if not sentence:
            continue
        if (
            out
            and _ABBREVIATION_END.search(out[-1][1])
            and m.start() > 0
            and text[m.start() - 1] != "\n"
            and re.match(r"[a-z(]", sentence)
        ):
            out[-1] = (out[-1][0], out[-1][1] + " " + sentence)
        else:
            out.append((m.start(), sentence))
    return out


def _name_after(outcome: str, sentence: str, start: int, refused: set[str]) -> str | None:
    finder = _NAME_AFTER.get(outcome) or _NAME_AFTER.get(_role(outcome))
    if finder is None:
        return None
    lower_case = None  # a lower-case name, taken only when no capitalised one follows
    for m in finder.finditer(sentence, start):
        after = sentence[m.end() :]
        rest = _FILLER.sub("", after)
        texts = (after, rest)
        name = next((n for t in texts if (n := names.name_at(t))), None)
        if name and name.casefold() not in refused:
            return name
        if lower_case is None and (
            names.ROLE_WORDS.search(sentence[: m.end()])
            or names.ROLE_WORDS.search(sentence[: m.end()] + after[: len(after) - len(rest)])
        ):
            # In apposition: "our customer, a call center called BrightPath Marketing, ..."
            apposed = next(
                (
                    n
                    for a in re.finditer(r"(?<=[\s,«\"“(])\S", after[:80])
                    if (n := names.name_at(after[a.start() :])) and n.casefold() not in refused
                ),
                None,
            )
            if apposed:
                return apposed
            lower_case = names.name_at(rest, introduced=True)
    return lower_case if lower_case and lower_case.casefold() not in refused else None


@dataclass(frozen=True)
class _Reading:
    outcome: str
    sentence: str
    index: int
    name: str | None = None


def _negated(sentence: str, at: int) -> bool:
    return bool(_NEGATION_BEFORE.search(sentence[:at]))


def _readings(
    sentences: list[tuple[int, str]], refused: set[str], table: tuple[tuple[str, re.Pattern[str]], ...] = OUTCOMES
) -> list[_Reading]:
    """Every sentence's reading, in outcome priority order then sentence order."""
    found: list[_Reading] = []
    for outcome, pattern in table:
        for index, (_, sentence) in enumerate(sentences):
            for m in pattern.finditer(sentence):
                if _role(outcome) in ("upstream", "origin") and _negated(sentence, m.start()):
                    continue
                found.append(_Reading(outcome, sentence, index, _name_after(outcome, sentence, m.start(), refused)))
                break
            if outcome == "upstream" and not any(r.index == index and r.outcome == "upstream" for r in found):
                name = _subject_upstream(sentence, refused)
                if name:
                    found.append(_Reading("upstream", sentence, index, name))
    return found


def _upstream_email(
    sentences: list[tuple[int, str]], index: int, name: str | None, own_domain: str | None
) -> str | None:
    """The upstream's address: in its sentence or the next two, never the replying carrier's own."""
    for window in (sentences[index : index + 1], sentences[index : index + 3], sentences):
        # As mail can carry them (an internationalised domain in its xn-- form); unmailable ones are no answer.
        candidates = [
            c
            for _, s in window
            for e in names.emails(s)
            if not names.same_organisation(e, own_domain) and (c := mailable(e)) is not None
        ]
        if candidates:
            if name and len(candidates) > 1:
                return max(candidates, key=lambda e: fuzz.partial_ratio(names.domain(e).split(".")[0], name.casefold()))
            return candidates[0]
    return None


def _decide(
    text: str, *, own_domain: str | None = None, directory: Sequence[KnownProvider] = (), direction: str = "back"
) -> ReplyResult | None:
    """The best reading of a reply's own words; None when no sentence gives an answer."""
    sentences = _sentences(text)
    refused = names.negated_names(text)
    readings = _readings(sentences, refused, TABLES[direction])
    if not readings:
        return None
    # The first reading of the highest-priority outcome, preferring one that names its party.
    best = readings[0]
    role = _role(best.outcome)
    if role in ("upstream", "origin") and best.name is None:
        best = next((r for r in readings if r.outcome == best.outcome and r.name), best)
    if best.outcome != "dispute" and (HEDGES.search(best.sentence) or STILL_WORKING.search(text)):
        return ReplyResult(incident_ids=(), outcome="other", evidence=best.sentence, confidence=0.9)
    confidence = 0.9
    others = {_role(r.outcome) for r in readings if r.outcome != best.outcome and r.index != best.index}
    if others - {"origin", "dispute"} or (best.outcome == "not_found" and others):
        confidence -= 0.25  # the reply says two different things
    email = name = None
    if role == "upstream":
        name = best.name
        email = _upstream_email(sentences, best.index, name, own_domain)
        name = name or (
            names.name_for_address(best.sentence.split(email)[0] if email else "", email) if email else None
        )
        known = (
            (names.known(name, directory) if name else None)
            or (names.by_domain(email, directory) if email else None)
            or next(
                (
                    p
                    for p in names.mentioned(best.sentence, directory)
                    if not any(label.casefold() in refused for label in (p.name, *p.aliases))
                ),
                None,
            )
        )
        if known is not None:
            name = name or known.name
            confidence += 0.05
        elif best.outcome == "not_ours" and not name and not email:
            pass  # ported away to a carrier they do not know: still an answer
        elif not name and not email:
            confidence = 0.4  # an upstream we cannot name or write to: a person must ask
        elif not name or not email:
            confidence -= 0.1
        if name and name.islower():
            confidence -= 0.05
    elif role == "origin":
        name = best.name
        if name is None:
            confidence -= 0.15  # a closing answer without the customer's name: ask the carrier to confirm
    return ReplyResult(
        incident_ids=(),
        outcome=best.outcome,
        upstream_name=name if role == "upstream" else None,
        upstream_email=email,
        customer_name=name if role == "origin" else None,
        evidence=best.sentence,
        confidence=round(min(confidence, 1.0), 2),
    )


def _segments(own: str, direction: str = "back") -> list[tuple[tuple[str, ...], str]]:
    """Split at traceback-number mentions: (numbers, text) pieces; numbers without their own answer join the next."""
    mentions = [(m.start(), m.group(1) or m.group(2)) for m in _TRACEBACK_MENTION.finditer(own)]
    if len({number for _, number in mentions}) < 2:
        return []
    pieces: list[tuple[tuple[str, ...], str]] = []
    pending: list[str] = []
    for i, (start, number) in enumerate(mentions):
        end = mentions[i + 1][0] if i + 1 < len(mentions) else len(own)
        pending.append(number)
        chunk = own[start:end]
        if _decide(chunk, direction=direction) is not None:
            pieces.append((tuple(dict.fromkeys(pending)), chunk))
            pending = []
    if pending and pieces:
        numbers, chunk = pieces[-1]
        pieces[-1] = (tuple(dict.fromkeys(numbers + tuple(pending))), chunk)
    return pieces


def answers(
    own: str,
    incident_ids: tuple[str, ...],
    *,
    sender: str | None = None,
    directory: Sequence[KnownProvider] = (),
    direction: str = "back",
) -> tuple[ReplyResult, ...]:
    """One answer per traceback the reply speaks of; a single answer covers every id.

    `sender` is the replying carrier's address (its own domain is never the upstream);
    `directory` the providers mailbot knows (names, aliases, domains); `direction` `forward`
    reads a Trace Forward's answers (`reply_forward`: downstream, customer, not_ours, ...)."""
    own_domain = names.domain(sender) if sender else None
    ids = tuple(dict.fromkeys(incident_ids + _mentioned(own)))
    form = read_form(own, direction)
    if form is not None:
        if form.outcome in ("upstream", "downstream") and form.upstream_email is None:
            # "Upstream provider: X" with the address on a line of its own wording ("Contact: ...").
            form = replace(form, upstream_email=_upstream_email(_sentences(own), 0, form.upstream_name, own_domain))
        return (replace(form, incident_ids=ids, text=own),)
    pieces = _segments(own, direction)
    if len(pieces) >= 2:
        found = []
        for numbers, chunk in pieces:
            decided = _decide(chunk, own_domain=own_domain, directory=directory, direction=direction)
            assert decided is not None
            found.append(replace(decided, incident_ids=numbers, text=own))
        return tuple(found)
    decided = _decide(own, own_domain=own_domain, directory=directory, direction=direction)
    if decided is None:
        return (ReplyResult(incident_ids=ids, outcome="other", text=own, confidence=0.9),)
    return (replace(decided, incident_ids=ids, text=own),)


def about(found: tuple[ReplyResult, ...], incident_ids: tuple[str, ...]) -> tuple[ReplyResult, ...]:
    """`found` also answering `incident_ids` (what the reply is known to answer): a single answer covers them.

    So the parser can read the answers once, and the desk add the tracebacks it matched later.
    """
    if len(found) != 1:
        return found  # one answer per traceback, each naming its own
    return (replace(found[0], incident_ids=tuple(dict.fromkeys(incident_ids + found[0].incident_ids))),)


def _mentioned(own: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) for m in _TRACEBACK_MENTION.finditer(own))


def parse(
    subject: str,
    text: str,
    *,
    sent: Sequence[str] = (),
    sender: str | None = None,
    directory: Sequence[KnownProvider] = (),
) -> ReplyResult:
    """The reply as one record: its first answer, with every traceback it names."""
    own = strip_quoted(text, sent)
    ids = referenced_ids(subject + "\n" + text)
    first = answers(own, ids, sender=sender, directory=directory)[0]
    return replace(first, incident_ids=tuple(dict.fromkeys(ids + _mentioned(own))))
