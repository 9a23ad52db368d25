"""Incidents do not depend on how an import is cut into batches, nor on arrival order.

A batch computes incidents first seen in it from its own sightings, and reads the
rest back; both ways must give what one import of everything gives.
"""

from __future__ import annotations

from helpers.paths import SAMPLE
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.ingest import Arrival

from mailbot.archive import export
from mailbot.archive.importer import save
from mailbot.mailboxes import sources


def _incidents(url: str, batches: list[list[Arrival]]) -> list[dict]:
    engine = make_engine(url)
    create_schema(engine)
    for batch in batches:
        save(engine, batch)
    with session_scope(engine) as session:
        out = export.incidents(session)
    engine.dispose()
    return out


def _copy(raw: bytes, n: int, date: bytes, campaign: bytes) -> Arrival:
    """The notice again, from another message sent at `date`, naming another campaign."""
    raw = raw.replace(b"Fri, 26 Jun 2020 17:44:00 +0000", date).replace(b"Utility-30MinDisconnect", campaign)
    raw = raw.replace(b"<0dab1b53d9904501.202006261744@tracebacks.org>", f"<copy{n}@test.invalid>".encode())
    return Arrival(source="copies", source_key=str(n), raw=raw)


def test_batches_and_order_change_nothing(db_url: str, sqlite_url: str) -> None:
    raw = (SAMPLE / "001.eml").read_bytes()
    # The incident of 001.eml seen by three more messages: the earliest-dated one's campaign is the incident's.
    copies = [
        _copy(raw, 1, b"Sat, 27 Jun 2020 09:00:00 +0000", b"Later-Campaign"),
        _copy(raw, 2, b"Thu, 25 Jun 2020 08:00:00 +0000", b"Earliest-Campaign"),
        _copy(raw, 3, b"Thu, 25 Jun 2020 08:00:00 +0000", b"Same-Date-Later-Message"),
    ]
    sample = list(sources.read(SAMPLE))
    arrivals = [a for a in sample if isinstance(a, Arrival)]
    assert len(arrivals) == len(sample)  # the sample folder holds mail only
    arrivals += copies
    expected = _incidents(sqlite_url, [[a] for a in arrivals])  # one at a time: every incident read back
    assert max(row["sightings"] for row in expected) > 1
    assert "Earliest-Campaign" in {row["campaign"] for row in expected}
    assert not {"Later-Campaign", "Same-Date-Later-Message"} & {row["campaign"] for row in expected}
    backwards = list(reversed(arrivals))
    # All in one batch (every incident from the batch alone), and backwards in odd-sized
    # batches (some from their batch, later ones from the database).
    assert _incidents(db_url, [arrivals]) == expected
    assert _incidents(db_url, [backwards[i : i + 7] for i in range(0, len(backwards), 7)]) == expected
