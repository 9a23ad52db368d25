"""A simulated week of tracebacks, replayed through the real desk and scheduler in seconds.

The tests and `docs/make_digest_screenshot.py` use it. Tracebacks are opened with the
desk (`mailbot.desk.workflow.open_traceback`, which queues the request notices); carriers answer
by email: each answer is a real reply to the notice the carrier got (its Reply-To,
subject and In-Reply-To), stored and processed by the live pipeline, so the reply
parser and the desk decide what it means. Between events the scheduler's `run_due`
ticks on a clock set by `app.fixed_now`, so reminders, no_response, escalation and
status changes happen as they would in real time.
"""

from __future__ import annotations

import email
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from mailbot.app import App
from mailbot.desk import providers, workflow
from mailbot.domain.records import Arrival
from mailbot.domain.timeutil import utc
from mailbot.intake import pipeline
from mailbot.scheduler import jobs
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally
from mailbot.store.tables.desk import Hop
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage

NY = ZoneInfo("America/New_York")
WEEK_START = datetime(2026, 3, 9, 8, 0, tzinfo=NY)  # Monday
DIGEST_AT = datetime(2026, 3, 16, 7, 0, tzinfo=NY)  # the next Monday's digest
IMPORTED_AT = datetime(2026, 3, 15, 18, 0, tzinfo=NY)  # staff imported the sample mailbox on Sunday

PROVIDERS = {
    "bluewave": "Bluewave Telecom",
    "opextel": "Opextel, LLC",
    "lata1": "Lata 1 Communications Inc",  # as the directory keeps it (no trailing dot)
    "silent": "Silent Route VoIP",
    "telcon": "Telcon Voice",
    "keystone": "Keystone Networks",
}
# What carriers write for each answer (phrasings the reply parser's table covers).
WORDS = {
    "upstream": "Hi team,\n\nWe received this call from {upstream}.\n\nThanks,\nNOC",
    "origin": "This call was originated by our customer Sunrise Solar Marketing LLC. Account suspended.",
    "not_found": "Unable to locate the call. The number is not ours.",
    "dispute": "We dispute this traceback. Our customer has documented consent from the called party "
    "and the campaign is lawful.",
    "other": "Thanks, we are looking into this and will get back to you shortly.",
}


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the simulated week, in UTC as the store keeps it."""
    return utc(datetime(2026, 3, day, hour, minute, tzinfo=NY))


@dataclass
class World:
    """Row ids by name, for events and assertions."""

    providers: dict[str, int]
    tracebacks: dict[str, int]
    hops: dict[tuple[str, int], int]


Event = tuple[datetime, Callable[[App, World], None]]


def address(provider: str) -> str:
    return f"noc@{provider}.example"


def add_providers(session: Session) -> dict[str, int]:
    """The week's carriers in the provider directory, one NOC address each."""
    added = {
        key: providers.add(session, name, emails=[address(key)], now=utc(WEEK_START)) for key, name in PROVIDERS.items()
    }
    return {key: provider.id for key, provider in added.items() if provider.id is not None}  # flushed: all


def _record_hops(app: App, world: World, tb: str) -> None:
    with session_scope(app.engine) as session:
        for position, hop_id in session.execute(
            select(col(Hop.position), col(Hop.id)).where(col(Hop.traceback_id) == world.tracebacks[tb])
        ):
            world.hops[(tb, position)] = hop_id


def open_traceback(tb: str, provider: str, campaign: str, at: datetime) -> Event:
    """Ops open a traceback at the terminating provider (the desk sends the request)."""
    at = utc(at)  # SQLite keeps no offset: the store holds UTC

    def run(app: App, world: World) -> None:
        with session_scope(app.engine) as session:
            row = workflow.open_traceback(
                app,
                session,
                provider_name=PROVIDERS[provider],
                campaign=campaign,
                now=at,
                call_time=at - timedelta(days=1),
                called="+12025550143",
                caller="+18885550100",
                description=f"{campaign} robocall",
            )
            assert row.id is not None  # flushed
            world.tracebacks[tb] = row.id
        _record_hops(app, world, tb)

    return at, run


def reply_to_notice(notice: bytes, sender: str, words: str, at: datetime, to: str | None = None) -> bytes:
    """A top-posted answer quoting the notice, as a mail client writes it: to its Reply-To (or `to`)."""
    original = email.message_from_bytes(notice, policy=default_policy)
    body = original.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in (body.get_content() if body else "").split("\n"))
    msg = EmailMessage()
    msg["From"] = f"NOC <{sender}>"
    msg["To"] = to or str(original["Reply-To"])
    msg["Subject"] = "RE: " + str(original["Subject"])
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.split('@')[1]}>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg.set_content(f"{words}\n\nOn {format_datetime(at)} Traceback Desk wrote:\n{quoted}\n")
    return msg.as_bytes()


def answer(tb: str, position: int, at: datetime, outcome: str, upstream: str | None = None) -> Event:
    """The hop's provider replies by email to the last notice it got; `upstream` is a
    provider key of the week or any other name."""
    at = utc(at)

    def run(app: App, world: World) -> None:
        hop_id = world.hops[(tb, position)]
        with session_scope(app.engine) as session:
            hop = session.get(Hop, hop_id)
            assert hop is not None, f"no hop {hop_id}"
            provider = next(k for k, v in world.providers.items() if v == hop.provider_id)
            notice = session.scalars(
                select(col(OutboxMessage.raw))
                .where(col(OutboxMessage.hop_id) == hop_id)
                .order_by(col(OutboxMessage.id).desc())
            ).first()
        assert notice is not None, f"no notice was sent on hop {hop_id}"
        words = WORDS[outcome].format(upstream=PROVIDERS.get(upstream or "", upstream))
        _deliver(app, reply_to_notice(notice, address(provider), words, at), at)
        with session_scope(app.engine) as session:
            hop = session.get(Hop, hop_id)
            assert hop is not None, f"no hop {hop_id}"
            got, proposed = hop.outcome, hop.proposed
            # "We read your answer as ...": the carrier confirms what mailbot was not sure of.
            question = session.scalars(
                select(col(OutboxMessage.raw))
                .where(col(OutboxMessage.hop_id) == hop_id, col(OutboxMessage.kind) == "confirmation")
                .order_by(col(OutboxMessage.id).desc())
            ).first()
        if got is None and proposed and question is not None:
            _deliver(app, reply_to_notice(question, address(provider), "YES", at), at)
            with session_scope(app.engine) as session:
                hop = session.get(Hop, hop_id)
                assert hop is not None, f"no hop {hop_id}"
                got = hop.outcome
        expected = None if outcome == "other" else outcome  # "other" leaves the hop open, for a human
        assert got == expected, f"{tb} hop {position}: the desk read {got!r}, the week expects {expected!r}"
        _record_hops(app, world, tb)

    return at, run


def _deliver(app: App, raw: bytes, at: datetime) -> None:
    """A carrier's mail arrives over SMTP (as intake stores it) and is processed."""
    recipient = parseaddr(email.message_from_bytes(raw)["To"])[1]
    arrival = Arrival(
        source="smtp",
        source_key=uuid.uuid4().hex,
        origin="smtp",
        raw=b"Delivered-To: " + recipient.encode() + b"\n" + raw,
    )
    pipeline.receive(app.engine, arrival, at)
    pipeline.process_pending(app, at)


def week() -> list[Event]:
    """Mon 9 - Sun 15 March 2026 (New York)."""
    return sorted(
        [
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
            # Waiting for a human: a dispute, an answer naming an upstream nobody knows, a vague answer.
            open_traceback("testcall", "keystone", "TestCall-StaySafeStayHome", ny(12, 13, 0)),
            answer("testcall", 0, ny(12, 14, 0), "dispute"),
            open_traceback("student", "bluewave", "StudentLoan-Payments-P1", ny(13, 14, 0)),
            answer("student", 0, ny(13, 14, 30), "upstream", "VoxRoute Global"),
            open_traceback("amazon", "bluewave", "Amazon-AuthorizeOrder", ny(13, 11, 0)),
            answer("amazon", 0, ny(13, 11, 20), "upstream", "telcon"),
            answer("amazon", 1, ny(14, 9, 5), "other"),
            # Opened on Sunday evening: its clock starts Monday 9:00.
            open_traceback("debt", "opextel", "DebtRelief-ZeroTax", ny(15, 20, 0)),
        ],
        key=lambda event: event[0],
    )


def run_week(
    app: App, step: timedelta = timedelta(minutes=30), until: datetime = DIGEST_AT, events: list[Event] | None = None
) -> World:
    """Create the providers, then replay the week's events with the scheduler ticking in between."""
    with session_scope(app.engine) as session:
        world = World(providers=add_providers(session), tracebacks={}, hops={})
    pending = list(week() if events is None else events)
    moment = WEEK_START
    while moment <= until:
        while pending and pending[0][0] <= moment:
            pending.pop(0)[1](app, world)
        app.fixed_now = moment
        jobs.run_due(app)
        moment += step
    return world


def import_mailbox(app: App, paths: list[Path], at: datetime = IMPORTED_AT) -> Tally:
    """Import mailboxes (archive mode), dated inside the simulated week (the importer uses the real clock)."""
    from mailbot.archive.importer import import_paths

    with session_scope(app.engine) as session:
        before = session.scalar(select(func.max(col(Message.id)))) or 0
    tally = import_paths(app.engine, paths, progress=False)
    with session_scope(app.engine) as session:
        session.execute(update(Message).where(col(Message.id) > before).values(received_at=utc(at)))
    return tally


# Two files a staff member might find in an old mailbox: a notice whose call details are
# unreadable, and something that is not an email at all. Both end in quarantine.
BROKEN_MAIL = {
    "unreadable-details.eml": (
        b"From: Industry Traceback Group <traceback-notice@tracebacks.org>\n"
        b"Subject: Traceback request #12\nMessage-ID: <broken-12@tracebacks.org>\n\n"
        b"Call Details for Traceback #12\nDate/Time: (illegible)\n"
    ),
    # Headerless junk inside an mbox is stored and quarantined; a loose file like it in a directory
    # would only be counted as not mail.
    "scans.mbox": b"From fax@smartbiztel.com Mon Jun 29 09:00:00 2020\n\x00\x01 scanned fax page 3 of 7\n",
}


def write_broken_mail(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in BROKEN_MAIL.items():
        (folder / name).write_bytes(raw)
    return folder
