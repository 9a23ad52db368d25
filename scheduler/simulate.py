"""A simulated week of tracebacks, replayed through the real scheduler in seconds.

The tests and `docs/make_digest_screenshot.py` use it: providers, tracebacks and
answers are written as rows (what the desk would record), and between events the
scheduler's `run_due` ticks on a clock set by `app.fixed_now`, so reminders,
no_response, escalation and status changes happen as they would in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlmodel import Session

from mailbot.app import App
from scheduler import jobs
from scheduler.calendar import as_utc
from store.db import session_scope
from store.desk import Hop, Provider, ProviderContact, Review, Traceback
from store.ingest import Tally
from store.models import Message

NY = ZoneInfo("America/New_York")
WEEK_START = datetime(2026, 3, 9, 8, 0, tzinfo=NY)  # Monday
DIGEST_AT = datetime(2026, 3, 16, 7, 0, tzinfo=NY)  # the next Monday's digest
IMPORTED_AT = datetime(2026, 3, 15, 18, 0, tzinfo=NY)  # staff imported the sample mailbox on Sunday

PROVIDERS = {
    "bluewave": "Bluewave Telecom",
    "opextel": "Opextel, LLC",
    "lata1": "Lata 1 Communications Inc.",
    "silent": "Silent Route VoIP",
    "telcon": "Telcon Voice",
    "keystone": "Keystone Networks",
}


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the simulated week, in UTC as the store keeps it."""
    return as_utc(datetime(2026, 3, day, hour, minute, tzinfo=NY))


@dataclass
class World:
    """Row ids by name, for events and assertions."""

    providers: dict[str, int]
    tracebacks: dict[str, int]
    hops: dict[tuple[str, int], int]


Event = tuple[datetime, Callable[[Session, World], None]]


def add_providers(session: Session) -> dict[str, int]:
    ids = {}
    for key, name in PROVIDERS.items():
        provider = Provider(name=name, known=True, created_at=WEEK_START)
        session.add(provider)
        session.flush()
        session.add(ProviderContact(provider_id=provider.id, address=f"noc@{key}.example"))
        ids[key] = provider.id
    return ids


def open_traceback(tb: str, provider: str, campaign: str, at: datetime) -> Event:
    at = as_utc(at)  # SQLite keeps no offset: the store holds UTC
    def run(session: Session, world: World) -> None:
        row = Traceback(campaign=campaign, opened_at=at, call_time=at - timedelta(days=1),
                        called="+12025550143", caller="+18885550100", description=f"{campaign} robocall")
        session.add(row)
        session.flush()
        world.tracebacks[tb] = row.id
        hop = Hop(traceback_id=row.id, position=0, provider_id=world.providers[provider], requested_at=at)
        session.add(hop)
        session.flush()
        world.hops[(tb, 0)] = hop.id
    return at, run


def answer(tb: str, position: int, at: datetime, outcome: str, upstream: str | None = None) -> Event:
    """The hop's provider answers; naming an upstream opens the next hop."""
    at = as_utc(at)  # SQLite keeps no offset: the store holds UTC
    def run(session: Session, world: World) -> None:
        hop = session.get(Hop, world.hops[(tb, position)])
        hop.answered_at, hop.outcome = at, outcome
        traceback = session.get(Traceback, hop.traceback_id)
        if upstream:
            hop.upstream_name = PROVIDERS[upstream]
            nxt = Hop(traceback_id=hop.traceback_id, position=position + 1, provider_id=world.providers[upstream],
                      downstream_hop_id=hop.id, requested_at=at)
            session.add(nxt)
            session.flush()
            world.hops[(tb, position + 1)] = nxt.id
        elif outcome in ("origin", "not_found"):
            traceback.status, traceback.result, traceback.closed_at = "closed", outcome, at
        session.add_all([hop, traceback])
    return at, run


def review(kind: str, at: datetime, detail: str, tb: str | None = None, provider: str | None = None) -> Event:
    at = as_utc(at)  # SQLite keeps no offset: the store holds UTC
    def run(session: Session, world: World) -> None:
        session.add(Review(kind=kind, traceback_id=world.tracebacks.get(tb) if tb else None,
                           provider_id=world.providers.get(provider) if provider else None,
                           detail=detail, created_at=at))
    return at, run


def week() -> list[Event]:
    """Mon 9 - Sun 15 March 2026 (New York)."""
    return sorted([
        # An Apple scam traced to its originator in a day: Lata 1 turns YELLOW.
        open_traceback("apple", "bluewave", "Apple-iCloud-AccountBreached", ny(9, 9, 30)),
        answer("apple", 0, ny(9, 10, 15), "upstream", "opextel"),
        answer("apple", 1, ny(9, 13, 0), "upstream", "lata1"),
        answer("apple", 2, ny(10, 10, 0), "origin"),
        # Three requests Silent Route never answers: no_response x3, then the escalation letter.
        open_traceback("tax", "bluewave", "Tax-Debt-P1", ny(9, 11, 0)),
        answer("tax", 0, ny(9, 11, 40), "upstream", "silent"),
        open_traceback("hotel", "opextel", "Hotel-ComplimentaryStay", ny(9, 14, 0)),
        answer("hotel", 0, ny(9, 15, 0), "upstream", "silent"),
        open_traceback("utility", "bluewave", "Utility-30MinDisconnect", ny(10, 10, 0)),
        answer("utility", 0, ny(10, 10, 30), "upstream", "silent"),
        # Telcon answers slowly (after three reminders); Lata 1 is origin again, another campaign: RED.
        open_traceback("ssa", "telcon", "SSA-P1-TexasFraud (GovtImpers)", ny(11, 10, 0)),
        answer("ssa", 0, ny(13, 15, 0), "upstream", "lata1"),
        answer("ssa", 1, ny(13, 16, 30), "origin"),
        # A dispute, a low-confidence reading and an unknown upstream wait for a human.
        open_traceback("testcall", "keystone", "TestCall-StaySafeStayHome", ny(12, 13, 0)),
        answer("testcall", 0, ny(12, 14, 0), "dispute"),
        review("dispute", ny(12, 14, 0), "Keystone says the call was never on its network", "testcall", "keystone"),
        open_traceback("amazon", "bluewave", "Amazon-AuthorizeOrder", ny(13, 11, 0)),
        answer("amazon", 0, ny(13, 11, 20), "upstream", "telcon"),
        review("low_confidence", ny(14, 9, 5), "reply 'checked our CDRs, see attached' read as not_found (0.41)",
               "amazon", "telcon"),
        review("unknown_upstream", ny(15, 12, 0), "upstream 'VoxRoute Global' is not in the provider directory",
               "amazon", "telcon"),
        # Opened on Sunday evening: its clock starts Monday 9:00.
        open_traceback("debt", "opextel", "DebtRelief-ZeroTax", ny(15, 20, 0)),
    ], key=lambda event: event[0])


def run_week(app: App, step: timedelta = timedelta(minutes=30), until: datetime = DIGEST_AT,
             events: list[Event] | None = None) -> World:
    """Create the providers, then replay the week's events with the scheduler ticking in between."""
    with session_scope(app.engine) as session:
        world = World(providers=add_providers(session), tracebacks={}, hops={})
    pending = list(week() if events is None else events)
    moment = WEEK_START
    while moment <= until:
        with session_scope(app.engine) as session:
            while pending and pending[0][0] <= moment:
                pending.pop(0)[1](session, world)
        app.fixed_now = moment
        jobs.run_due(app)
        moment += step
    return world


def import_mailbox(app: App, paths: list[Path], at: datetime = IMPORTED_AT) -> Tally:
    """Import mailboxes (archive mode), dated inside the simulated week (the importer uses the real clock)."""
    from mailbot.importer import import_paths

    with session_scope(app.engine) as session:
        before = session.scalar(select(func.max(Message.id))) or 0
    tally = import_paths(app.engine, paths, progress=False)
    with session_scope(app.engine) as session:
        session.execute(update(Message).where(Message.id > before).values(received_at=as_utc(at)))
    return tally


# Two files a staff member might find in an old mailbox: a notice whose call details are
# unreadable, and something that is not an email at all. Both end in quarantine.
BROKEN_MAIL = {
    "unreadable-details.eml": (b"From: Industry Traceback Group <traceback-notice@tracebacks.org>\n"
                               b"Subject: Traceback request #12\nMessage-ID: <broken-12@tracebacks.org>\n\n"
                               b"Call Details for Traceback #12\nDate/Time: (illegible)\n"),
    "not-an-email.eml": b"\x00\x01 scanned fax page 3 of 7",
}


def write_broken_mail(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in BROKEN_MAIL.items():
        (folder / name).write_bytes(raw)
    return folder
