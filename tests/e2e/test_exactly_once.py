"""Two real `mailbot serve` processes on one PostgreSQL database run the same due work,
one of them restarted midway: every scheduled notice is queued once and lands in the
Maildir once."""

from __future__ import annotations

import email
import itertools
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from helpers.mailbot_proc import Server, wait_for
from mailbot.store.db import make_engine, session_scope
from mailbot.store.tables.desk import Hop, Provider, Traceback
from mailbot.store.tables.outbox import OutboxMessage
from mailbot.store.tables.schedule import NonCooperativeChange, StatusChange
from sqlalchemy import select

from mailbot.domain.timeutil import utc as as_utc
from mailbot.testing import simulate

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 4, 1, 10, 0, tzinfo=NY)  # a Wednesday, the 1st: March's metrics are due
SILENT = 12  # hops Silent Route never answered (past their deadline at NOW)
WAITING = 12  # hops Telcon has not answered yet (first reminder due at NOW)
CAMPAIGNS = ("Tax-Debt-P1", "Hotel-ComplimentaryStay", "SSA-CalltheSSA")


def _build_world(db_url: str) -> dict[str, list[int] | dict[str, int]]:
    """Everything in one transaction, so both servers see it appear at the same moment."""
    engine = make_engine(db_url)
    silent_hops, waiting_hops = [], []
    with session_scope(engine) as session:
        providers = simulate.add_providers(session)

        def traceback(campaign: str, at: datetime) -> Traceback:
            tb = Traceback(campaign=campaign, opened_at=as_utc(at))
            session.add(tb)
            session.flush()
            return tb

        for i in range(SILENT):
            at = datetime(2026, 3, 23, 9, 0, tzinfo=NY) + timedelta(minutes=15 * i)
            tb = traceback(CAMPAIGNS[i % len(CAMPAIGNS)], at)
            first = Hop(
                traceback_id=tb.id,
                provider_id=providers["bluewave"],
                requested_at=as_utc(at),
                answered_at=as_utc(at),
                outcome="upstream",
            )
            session.add(first)
            session.flush()
            hop = Hop(
                traceback_id=tb.id,
                position=1,
                provider_id=providers["silent"],
                downstream_hop_id=first.id,
                requested_at=as_utc(at),
            )
            session.add(hop)
            session.flush()
            silent_hops.append(hop.id)
        for i in range(WAITING):
            at = datetime(2026, 3, 31, 10, 0, tzinfo=NY) + timedelta(minutes=10 * i)
            tb = traceback("Amazon-AuthorizeOrder", at)
            hop = Hop(traceback_id=tb.id, provider_id=providers["telcon"], requested_at=as_utc(at))
            session.add(hop)
            session.flush()
            waiting_hops.append(hop.id)
    engine.dispose()
    return {"providers": providers, "silent": silent_hops, "waiting": waiting_hops}


def test_two_serve_processes_send_every_notice_once(pg_url: str, tmp_path: Path) -> None:
    maildir = tmp_path / "outbox"
    settings = {
        "now": NOW.isoformat(),
        "schedule_tick_seconds": "1",
        "ops_email": "ops@example.com",
        "outbound_maildir": str(maildir),
        "outbound_rate_per_hour": "1000",
        "mail_secret": "shared",
    }
    servers = [Server(pg_url, tmp_path / name, **settings) for name in ("a", "b") if (tmp_path / name).mkdir() is None]
    try:
        world = _build_world(pg_url)  # both are ticking every second by now
        providers = world["providers"]
        assert isinstance(providers, dict)
        silent, bluewave, telcon = providers["silent"], providers["bluewave"], providers["telcon"]
        expected = {
            *(f"hop:{h}:non_responsive:0" for h in world["silent"]),
            *(f"hop:{h}:upstream_not_responded:0" for h in world["silent"]),
            # A run of 12 silences: the 3rd, 6th, 9th and 12th earn the escalation letter.
            *(f"provider:{silent}:escalation:{h}" for h in world["silent"][2::3]),
            *(f"hop:{h}:reminder:1" for h in world["waiting"]),
            *(f"metrics:{p}:2026-03" for p in (bluewave, silent, telcon)),
            "digest:2026-04-01",
        }
        engine = make_engine(pg_url)

        def outbox() -> list[OutboxMessage]:
            with session_scope(engine) as session:
                return list(session.scalars(select(OutboxMessage)))

        def settled() -> bool:
            rows = outbox()
            keys = {r.dedupe_key for r in rows}
            delivered = len(list((maildir / "new").glob("*"))) if (maildir / "new").exists() else 0
            return expected <= keys and all(r.status == "sent" for r in rows) and delivered == len(rows)

        # A restart in the middle of the work: one instance stops (SIGTERM: its tick finishes
        # its transaction), a fresh one starts; what is due is in the rows, not in a process.
        wait_for(lambda: len(outbox()) >= 5, "the first notices queued")
        assert servers[0].terminate() == 0, servers[0].output()
        (tmp_path / "c").mkdir()
        servers[0] = Server(pg_url, tmp_path / "c", **settings)
        try:
            wait_for(settled, "every due notice queued and delivered", timeout=60)
        except AssertionError:
            rows = outbox()
            missing = expected - {r.dedupe_key for r in rows}
            raise AssertionError(
                f"missing {sorted(missing)[:10]}; statuses {Counter(r.status for r in rows)}; "
                f"errors {[r.last_error for r in rows if r.last_error][:3]}\n"
                + "\n".join(s.output()[-3000:] for s in servers)
            ) from None
        time.sleep(3)  # both keep ticking (every second) over the same rows: nothing more may appear
        rows = outbox()
        keys = Counter(r.dedupe_key for r in rows)
        assert max(keys.values()) == 1
        assert {k for k in keys if not k.startswith(("status:", "noncooperative:"))} == expected
        # Twelve silences after every contact was written to: designated Non-Cooperative once, one letter.
        with session_scope(engine) as session:
            designations = list(session.scalars(select(NonCooperativeChange)))
        assert [(d.provider_id, d.action) for d in designations] == [(silent, "designated")]
        assert {k for k in keys if k.startswith("noncooperative:")} == {
            f"noncooperative:{designations[0].id}:noncooperative_designated"
        }

        # Status: Silent Route reached RED; each change recorded once, each with its one letter,
        # and the change-in-status notice to Bluewave, which took its traffic.
        with session_scope(engine) as session:
            changes = list(
                session.scalars(
                    select(StatusChange).where(StatusChange.provider_id == silent).order_by(StatusChange.id)
                )
            )
            assert session.get(Provider, silent).status == "RED"
            assert session.get(Provider, telcon).status == "GREEN"
            outcomes = Counter(session.scalars(select(Hop.outcome).where(Hop.id.in_(world["silent"]))))
        assert outcomes == Counter({"no_response": SILENT})
        walk = ["GREEN"] + [c.new_status for c in changes]
        assert walk[-1] == "RED" and all(a != b for a, b in itertools.pairwise(walk))
        assert [c.old_status for c in changes] == walk[:-1]
        status_keys = {k for k in keys if k.startswith("status:")}
        assert status_keys == {
            key
            for c in changes
            for key in (f"status:{c.id}:status_{c.new_status.lower()}", f"status:{c.id}:status_change:{bluewave}")
        }

        # The Maildir holds one message per queued notice, each with its own Message-ID.
        files = list((maildir / "new").iterdir())
        ids = Counter(email.message_from_bytes(f.read_bytes())["Message-ID"] for f in files)
        assert len(files) == len(rows) and max(ids.values()) == 1
        engine.dispose()
    finally:
        for server in servers:
            assert server.terminate() == 0, server.output()
    logs = [server.output() for server in servers]
    assert all("Traceback" not in log for log in logs), logs
