"""The standardized labels of a Call Path's hops, as the ITG's platform marks them (pure).

A path is the traceback's hops in order, terminating provider first, each with whether
its provider is foreign (the directory's `foreign` flag, as the ITG reads it from the
FCC's Robocall Mitigation Database) and its outcome. A U.S. provider that accepted the
call from a foreign one is a U.S. Point of Entry; that foreign provider, the one
immediately preceding the POE in the Call Path, is the Foreign Point of Departure, even
when it then names an upstream of its own. A call that enters the U.S. more than once
has more than one POE. A plain intermediate hop, or one still unanswered, has no label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mailbot.domain.vocabulary import HopOutcome

US_ORIGIN = "us_origin"
INTERNATIONAL_ORIGIN = "international_origin"
US_POE = "us_poe"
FOREIGN_POINT_OF_DEPARTURE = "foreign_point_of_departure"
# A silent or not-found hop is labelled with its own outcome word.
LABELS = (
    HopOutcome.NO_RESPONSE,
    US_ORIGIN,
    INTERNATIONAL_ORIGIN,
    US_POE,
    FOREIGN_POINT_OF_DEPARTURE,
    HopOutcome.NOT_FOUND,
)
ORIGINS = frozenset({US_ORIGIN, INTERNATIONAL_ORIGIN})


@dataclass(frozen=True)
class PathHop:
    foreign: bool
    outcome: str | None  # None while unanswered


@dataclass(frozen=True)
class _Here:
    """One hop with its neighbours: `upstream` is the next hop of the path, `downstream` the one before."""

    hop: PathHop
    upstream: PathHop | None
    downstream: PathHop | None


def _crossing_in(downstream: PathHop | None, upstream: PathHop | None) -> bool:
    """A U.S. provider (`downstream`) accepted the call from a foreign one (`upstream`)."""
    return downstream is not None and upstream is not None and not downstream.foreign and upstream.foreign


# First rule that holds gives the label. What a hop itself answered (silence, not
# found, origin) comes before where it sits on the path.
RULES: tuple[tuple[str, Callable[[_Here], bool]], ...] = (
    (HopOutcome.NO_RESPONSE, lambda h: h.hop.outcome == HopOutcome.NO_RESPONSE),
    (HopOutcome.NOT_FOUND, lambda h: h.hop.outcome == HopOutcome.NOT_FOUND),
    (US_ORIGIN, lambda h: h.hop.outcome == HopOutcome.ORIGIN and not h.hop.foreign),
    (INTERNATIONAL_ORIGIN, lambda h: h.hop.outcome == HopOutcome.ORIGIN and h.hop.foreign),
    (US_POE, lambda h: _crossing_in(h.hop, h.upstream)),
    (FOREIGN_POINT_OF_DEPARTURE, lambda h: _crossing_in(h.downstream, h.hop)),
)


def label_path(path: Sequence[PathHop]) -> list[str | None]:
    """Each hop's label, in path order (None for a plain intermediate or unanswered hop)."""
    labels: list[str | None] = []
    for i, hop in enumerate(path):
        here = _Here(hop, path[i + 1] if i + 1 < len(path) else None, path[i - 1] if i else None)
        labels.append(next((label for label, holds in RULES if holds(here)), None))
    return labels


class HopRow(Protocol):
    """A stored hop as `store.paths` reads it."""

    @property
    def hop_id(self) -> int: ...
    @property
    def foreign(self) -> bool: ...
    @property
    def outcome(self) -> str | None: ...


def labels_by_hop(paths: Mapping[int, Sequence[HopRow]]) -> dict[int, str | None]:
    """hop id -> label, for whole paths (traceback id -> its hops in order)."""
    out: dict[int, str | None] = {}
    for rows in paths.values():
        for row, label in zip(rows, label_path([PathHop(row.foreign, row.outcome) for row in rows]), strict=True):
            out[row.hop_id] = label
    return out
