"""Campaign names clustered so obvious misspellings share one canonical name.

Two names join only when they split into the same number of words and differ in
exactly one word, by a typo-sized edit of a word long enough to carry one.
So `Apple-iCloud-AccountBreachd` joins `Apple-iCloud-AccountBreached`, while
`Utility-30MinDisconnect - NC` (an extra word), `Amazon-AuthorizeOrder-P3` (a
different tag) and `AutoWarranty-Variious-P2` vs `AutoWarranty-Various-P3` (two
words differ) stay apart.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

_WORD = re.compile(r"[A-Za-z0-9$%]+")
MIN_WORD = 6  # shorter words (tags like P1, NC, GImpS) must match exactly
PREFILTER = 85  # rapidfuzz ratio below which two names are never compared word by word


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _typo(a: str, b: str) -> bool:
    if min(len(a), len(b)) < MIN_WORD or a.isdigit() or b.isdigit():
        return False
    return Levenshtein.distance(a, b) <= max(1, min(len(a), len(b)) // 8)


def same_campaign(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    if wa == wb:
        return True
    if len(wa) != len(wb):
        return False
    differing = [(x, y) for x, y in zip(wa, wb, strict=True) if x != y]
    return len(differing) == 1 and _typo(*differing[0])


def canonical_names(counts: dict[str, int]) -> dict[str, str]:
    """Map every name to its cluster's canonical spelling: the most used, then alphabetical."""
    names = sorted(counts, key=lambda n: (-counts[n], n))
    rank = {n: i for i, n in enumerate(names)}
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for i, name in enumerate(names):
        for other, _score, _ in process.extract(name, names[:i], scorer=fuzz.ratio, score_cutoff=PREFILTER, limit=None):
            if same_campaign(name, other):
                a, b = root(name), root(other)
                # The earlier name in `names` (more used) stays the root.
                if rank[a] < rank[b]:
                    parent[b] = a
                else:
                    parent[a] = b
    return {n: root(n) for n in names}
