"""Carrier replies: what the carrier answered, in its own words.

The reply's own words are found by `mail-parser-reply` (Gmail "On ... wrote:",
Outlook "From:/Sent:" headers, signatures, disclaimers; English and Spanish),
then cut again at the first quote marker it may have missed. Outcomes are decided
sentence by sentence by an ordered table of phrase patterns; the sentence that
decided is kept as evidence. A reply naming several tracebacks, each with its own
answer, yields one answer per traceback (`answers`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from mailparser_reply.parser import EmailMessage

from mailbot.parsers.addresses import mailable
from mailbot.parsers.call_details import referenced_ids
from mailbot.domain.records import ReplyResult

# Carriers answer in bullet lists ("- Upstream: X"); only "--" starts a signature.
_LANGUAGES = ("en", "es")

# Where quoted text, forwarded text or boilerplate begins (the library misses some).
_QUOTE_START = re.compile(
    r"^(>|-{2,}\s*(original message|mensaje original)|-{5,}\s*forwarded message|_{10,}|from:\s.+|de:\s.+@|"
    r"on .+ wrote:|on .+,\s*$|el .+ escribi[oó]:|begin forwarded message|sent from my|enviado desde mi|"
    r"call details for (traceback|incident)|confidentiality notice|aviso de confidencialidad|"
    r"this (e-?mail|message|communication)( and any (attachments|files)[\w ]*)? (is|are|may contain|contains)\b|"
    r"este (correo|mensaje)[\w ,]* (es|contiene|puede contener)\b)",
    re.IGNORECASE,
)
# Closing words after which only a signature follows.
_SIGNOFF = re.compile(
    r"^(thanks|thank you|regards|best regards|kind regards|best|sincerely|cheers|saludos|atentamente|"
    r"gracias|cordialmente|un saludo|muchas gracias)\b[\w ,.!]*$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# "Traceback #7", "incident 4101", "TB#12", or a bare "#4101".
_TRACEBACK_MENTION = re.compile(r"\b(?:traceback|incident|tb|rastreo|caso)s?\s*#?\s*(\d+)\b|#\s*(\d{2,})\b", re.IGNORECASE)

# A provider or customer name: capitalised words (digits, &, dotted domains allowed),
# joined by a few lower-case connectors, with an optional legal suffix after a comma.
_WORD = r"[A-Z0-9ÁÉÍÓÚÑ][\w&'.\-]*[\w&]|[A-Z0-9]"
_NAME = re.compile(
    rf"(?P<name>(?:{_WORD})(?:(?: (?:of|de|del|y|and|&|/) | / | )(?:{_WORD})){{0,7}}(?:,? (?:LLC|Inc|Corp|Ltd|S\.?A\.?(?: de C\.?V\.?)?)\.?)?)"
)
# Filler between a trigger phrase and the name itself.
_FILLER = re.compile(
    r"^(?:[\s:,\-–]|the|our|an?|upstream|provider|carrier|partner|vendor|customer|client|company|is|was|called|named|"
    r"el|la|los|un|una|nuestro|nuestra|proveedor|operador|cliente|es|fue|de|llamad[oa]|denominad[oa])+\b[\s:,\-–]*",
    re.IGNORECASE,
)
# Capitalised words that start sentences, not names.
_NOT_A_NAME = re.compile(r"^(We|I|It|This|The|Our|They|Please|Nosotros|Este|Esta|El|La|Por|Unknown|N/?A)$")

_P = r"(?:[\w.]+ ){0,3}"  # up to three words in between
# (outcome, pattern, where the name follows) in priority order; first match wins per sentence.
OUTCOMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (outcome, re.compile(pattern, re.IGNORECASE))
    for outcome, pattern in (
        ("dispute", (r"\b(we )?(dispute|disagree|object to)\b|\b(do|does|did)(n't| not) agree\b|not (our|my) (traffic|call)|"
                    r"we are not the (originating|upstream)|\b(written|documented|express|prior) consent\b|"
                    r"\b(we )?(contest|reject|deny|refute)s?\b|\b(do|does)(n't| not) accept\b|"
                    r"\bnot (robocalls?|illegal|unlawful|spam)\b|\bwith (the )?[\w']+ (permission|consent)\b|\bspoofed\b|"
                    r"\b(lawful|legitimate|consented|opted[- ]in)\b.{0,60}\b(call|traffic|campaign)|"
                    r"\b(disputamos|impugnamos|no estamos de acuerdo|no es nuestro tr[aá]fico)\b")),
        ("not_found", (r"\b(could not|couldn't|cannot|can't|unable to|did not|didn't|were not able to|was not able to|wasn't able to|weren't able to) "
                      rf"{_P}(find|locate|identify|see|match|trace)\b|\bno (trace|sign|record)s? of\b|"
                      r"\bnever (hit|reached|touched|crossed|transited|traversed|entered)\b|"
                      r"\bno (information|info|data|details) (on|about|for|regarding) (this|that|the) call\b|"
                      r"\bnothing (in|on) our (logs?|cdrs?|records|switch|systems?)\b|\bno hay (evidencia|registros?|rastro)\b|"
                      r"\bno tenemos (ning[uú]n |alg[uú]n )?registro|\bning[uú]n registro\b|\bno (matching )?(record|records|cdrs?|trace|evidence|match|matches)\b|"
                      r"\bfound (nothing|no (record|match|call|trace))|\bnothing (was )?(found|matching)\b|"
                      r"\b(do|did|does)(n't| not) have (any )?(record|records|cdrs?|trace|logs?)\b|\bno such call\b|"
                      r"\b(was|were) not found\b|"
                      r"\b(not|never) (found |present )?in our (cdrs?|records|logs|switch|switches|network|systems?)\b|"
                      r"\bno (pas[oó]|transit[oó]|curs[oó]) por nuestra red\b|"
                      r"\bdoes(n't| not) (appear|show)\b|did(n't| not) (transit|traverse|pass through|route through|hit)\b|"
                      r"\bno (encontramos|se encontr[oó]|hay registros?|tenemos registros?|localizamos|aparece)\b|"
                      r"\bno (pudimos|fue posible) (encontrar|localizar|ubicar)\b|sin registros?\b")),
        ("upstream", (r"\b(received|got|accepted) (the|this|these|that) (call|calls|traffic)( in)? (from|via)\b|"
                     r"\b(received|got|accepted) (it|them|this|these|that) (from|via)\b|\bsourced (from|by|via)\b|"
                     r"\b(upstream |underlying )?(carrier|provider|vendor) for (this|that|the) (route|call|calls|traffic) (is|was)\b|"
                     r"\bupstream\s*(provider|carrier)?\s*name\s*:|"
                     r"\b(entregad[oa]|enviad[oa]|enrutad[oa]) (por|desde)\b|"
                     r"\bproveedor (para|de) (esa|esta|la) (ruta|llamada) (es|fue)\b|"
                     r"\bupstream\s*(provider|carrier|partner|vendor)?\s*(for (this|these|that) (call|calls|traffic) )?(is|was|were|:|-)|"
                     r"\bsource of (the|this|these|that) (call|calls|traffic) (is|was)\b|\bupstream\s*=|"
                     r"\b(reached|entered|hit) (us|our network|our switch) (through|via|from)\b|"
                     r"\b(carrier|provider|vendor) (that|who|which) (sent|delivered|handed|passed|routed) (us |to us )?"
                     r"(this|the|that) (call|traffic) (is|was)\b|"
                     r"\bprevious (carrier|provider|hop)\b[\w ]{0,30}\b(is|was)\b|"
                     r"\b(bought|purchased|buy) (this|the|that) (route|traffic|termination) from\b|"
                     r"\bproveedor que nos (envi[oó]|entreg[oó]|pas[oó]) (la|esta|esa) llamada (es|fue)\b|"
                     r"\b(upstream|vendor|provider|carrier)( provider| carrier)? as\b|"
                     r"\btraced? (this|the|that) (call|calls|traffic) back to\b|"
                     r"\bingres[oó] (por|de|desde|a trav[eé]s de)\b|"
                     r"\b(came|comes|come|was sent|was delivered|was routed|was handed|arrived|routed|entered|entering) "
                     r"(to us |in to us |in |over |through |into our network |our network )?(on [\w ]{1,30} )?(from|by|via)\b|"
                     r"\bdirect (the|this) traceback to\b|"
                     r"\b(call|calls|traffic) (came|was received|were received|arrived) (in )?(from|via)\b|"
                     r"\b(sent|delivered|handed off|routed|passed) (to us )?(by|from)\b|"
                     r"\bplease (contact|reach out to|forward (this|it) to|send (this|it) to)\b|"
                     r"\bprevious hop (is|was)\b|\bour (upstream|source) (is|was)\b|"
                     r"\b(recibimos|recibi[oó]|lleg[oó]|nos lleg[oó]|provino|proviene|vino|entr[oó]) (la llamada |el tr[aá]fico |las llamadas )?"
                     r"(a trav[eé]s de|de parte de|desde|de|por|v[ií]a)\b|"
                     r"\bproveedor (upstream|anterior|de origen|de tr[aá]nsito)\b|^\W*proveedor\s*:|"
                     r"\b(recibimos|recibi[oó]) (ese|este|el|la) (tr[aá]fico|llamada) (por medio de|a trav[eé]s de|de|desde)\b|"
                     r"\bfavor de contactar a\b|\bcontacten a\b")),
        ("origin", (r"\b(originated|originates|was originated|was placed|was made|was sent) (by|from|with|on|through)\b|"
                   r"\b(our|a) (direct |own |retail |wholesale |enterprise )?(customer|client|subscriber|end[- ]user)\b|"
                   r"\b(is|was|belongs to) (one of )?(our|a) (direct |own )?(customer|client|subscriber)s?\b|"
                   r"\b(customer|client|subscriber) (is|was) ours\b|\bcliente final\b|"
                   r"\b(end|originating|responsible) (customer|client|user|party)\b|"
                   r"\b(nuestro|nuestra|un|una) (cliente|suscriptor|usuario final)\b|\boriginad[oa] por\b|"
                   r"\borigin[oó] (de|en|por)\b|\bes cliente\b")),
    )
)

# Where the named party follows, for outcomes that name one.
_NAME_AFTER = {
    "upstream": re.compile(
        r"(?:from|via|by|through|is|was|were|as|to|:|=|-|contact|reach out to|forward (?:this|it) to|send (?:this|it) to|"
        r"a trav[eé]s de|por medio de|de parte de|desde|de|por|v[ií]a|contactar a|contacten a|es|fue|proveedor:)\s+",
        re.IGNORECASE),
    "origin": re.compile(
        r"(?:customers?|clients?|subscribers?|end[- ]users?|ours|cliente final|clientes?|suscriptor|usuario final|by|por|is|es)[,:]?\s+"
        r"(?:is |was |es |fue )?",
        re.IGNORECASE),
}


def strip_quoted(text: str) -> str:
    """The reply's own words: quotes, forwarded text, signature and disclaimer removed."""
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


def _sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; sentences end at '.', '!', '?', ';' before a space, or a line break."""
    out: list[tuple[int, str]] = []
    for m in re.finditer(r"[^\n]+?(?:[.!?;](?=\s|$)|$)", text, re.MULTILINE):
        sentence = m.group(0).strip()
        if sentence:
            out.append((m.start(), sentence))
    return out


def _name_after(outcome: str, sentence: str, start: int) -> str | None:
    finder = _NAME_AFTER.get(outcome)
    if finder is None:
        return None
    for m in finder.finditer(sentence, start):
        rest = _FILLER.sub("", sentence[m.end():]) if outcome == "upstream" else sentence[m.end():]
        name = _NAME.match(rest)
        if name:
            words = name.group("name").strip(" .,-/")
            first = words.split(" ")[0]
            if "@" not in words and not _NOT_A_NAME.match(first):
                return words
    return None


def _decide(text: str) -> ReplyResult | None:
    """The first sentence, in outcome priority order, that decides; None when none does."""
    sentences = _sentences(text)
    for outcome, pattern in OUTCOMES:
        for index, (_, sentence) in enumerate(sentences):
            m = pattern.search(sentence)
            if not m:
                continue
            name = _name_after(outcome, sentence, m.start())
            email = None
            if outcome == "upstream":
                nearby = " ".join(s for _, s in sentences[index:index + 3])
                found = _EMAIL.search(nearby)
                email = mailable(found.group(0)) if found else None
            return ReplyResult(
                incident_ids=(),
                outcome=outcome,
                upstream_name=name if outcome == "upstream" else None,
                upstream_email=email,
                customer_name=name if outcome == "origin" else None,
                evidence=sentence,
            )
    return None


def _segments(own: str) -> list[tuple[tuple[str, ...], str]]:
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
        if _decide(chunk) is not None:
            pieces.append((tuple(dict.fromkeys(pending)), chunk))
            pending = []
    if pending and pieces:
        numbers, chunk = pieces[-1]
        pieces[-1] = (tuple(dict.fromkeys(numbers + tuple(pending))), chunk)
    return pieces


def answers(own: str, incident_ids: tuple[str, ...]) -> tuple[ReplyResult, ...]:
    """One answer per traceback the reply speaks of; a single answer covers every id."""
    pieces = _segments(own)
    if len(pieces) >= 2:
        found = []
        for numbers, chunk in pieces:
            decided = _decide(chunk)
            assert decided is not None
            found.append(replace(decided, incident_ids=numbers, text=own))
        return tuple(found)
    ids = tuple(dict.fromkeys(incident_ids + _mentioned(own)))
    decided = _decide(own)
    if decided is None:
        return (ReplyResult(incident_ids=ids, outcome="other", text=own),)
    return (replace(decided, incident_ids=ids, text=own),)


def _mentioned(own: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) for m in _TRACEBACK_MENTION.finditer(own))


def parse(subject: str, text: str) -> ReplyResult:
    """The reply as one record: its first answer, with every traceback it names."""
    own = strip_quoted(text)
    ids = referenced_ids(subject + "\n" + text)
    first = answers(own, ids)[0]
    return replace(first, incident_ids=tuple(dict.fromkeys(ids + _mentioned(own))))
