"""A Trace Forward's answers in free text: the phrase table `reply` reads them with.

A Trace Forward asks the provider serving a call-back number who its subscriber for the
number is, or where it routes calls to it. Its outcomes, in priority order (first match
wins per sentence, as in `reply.OUTCOMES`): `not_ours` (ported away, naming the carrier when
known), `dispute` and `not_found` (the upstream table's own phrases), `downstream` (the next
provider) and `customer` (the subscriber). `ROLE` says which upstream outcome each reads its
names like: the next provider's name and address as an upstream's, the subscriber's as an
originating customer's.
"""

from __future__ import annotations

import re

ROLE = {"downstream": "upstream", "not_ours": "upstream", "customer": "origin"}

PHRASES: tuple[tuple[str, str], ...] = (
    (
        "not_ours",
        r"\bport(ed|ing)? (out|away|over)\b|\b(was|were|has been|have been|got) ported\b|\bported (to|over to)\b|"
        r"\bno longer (ours|with us|on our network|our (customer|number|subscriber)('s)?)\b|"
        r"\b(number|it) (left|moved away from) (us|our network)\b|\bnot (one of )?our numbers?\b|"
        r"\bnot a number we (serve|own|have|host)\b|\bportad[oa]s?\b|\bportabilidad\b|"
        r"\bya no (es nuestro|est[aá] con nosotros|pertenece a nuestra red)\b",
    ),
    ("dispute", ""),  # the upstream table's phrases
    ("not_found", ""),
    (
        "downstream",
        r"\b(we )?(route|routes|routed|forward|forwards|forwarded|hand|hands|handed|deliver|delivers|delivered|"
        r"send|sends|sent|pass|passes|passed|terminate|terminates|terminated)( off)? "
        r"(the |these |those |all |our )?(calls?|traffic)( (to|for) (this|that|the) (number|dn|did|tn))? "
        r"(to|on|at|via|over)\b|"
        r"\b(hand|hands|handed|pass|passes|passed) (the |these |those |all )?(calls?|traffic) (off|over|on) to\b|"
        r"\b(number|it|dn|did|tn) (is|was) (served|hosted|handled|terminated|routed) (by|to|on|at)\b|"
        r"\b(downstream|next)( provider| carrier| hop)?\s*(for (this|that|the) number )?(is|was|:|-)\s|"
        r"\b(enrutamos|entregamos|enviamos|pasamos|terminamos|cursamos) (las |estas |esas )?(llamadas|tr[aá]fico)"
        r"[^.]{0,40}? (a|hacia|en)\b|"
        r"\bproveedor siguiente\s*(es|fue|:)|\b(el n[uú]mero|lo|la) (atiende|termina|recibe|aloja)\b",
    ),
    (
        "customer",
        r"\b(assigned|belongs|issued|registered|leased) to (our |a |one of our )?(customer|subscriber|client)?|"
        r"\b(subscriber|customer|client)\s*(is|was|:|-)\s|\basignado a\b|"
        r"\bpertenece a (nuestro|nuestra|un|una) (cliente|abonad[oa])\b|\b(our|a) (direct |retail |enterprise )?"
        r"(customer|client|subscriber|end[- ]user)s?\b|\b(nuestro|nuestra|un|una) (cliente|abonad[oa]|suscriptor)\b",
    ),
)

# Where the subscriber's name follows ("assigned to Bright Leads LLC", "subscriber: ...").
CUSTOMER_NAME_AFTER = re.compile(
    r"\b(?:customers?|clients?|subscribers?|end[- ]users?|ours|clientes?|suscriptor|abonad[oa]s?|nuestr[oa]s?|"
    r"to|a|by|por|is|es)[,:]?\s+(?:is |was |es |fue )?",
    re.IGNORECASE,
)
