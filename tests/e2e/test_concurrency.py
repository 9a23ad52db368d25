"""Several mailbot processes on one PostgreSQL database, and the database going away.

Real processes (the `mailbot` command, or a Python child), the real PostgreSQL,
and a loopback TCP proxy standing between mailbot and PostgreSQL that the test
stops (every connection cut, new ones refused) and starts again.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers.exports import exports_of
from helpers.paths import PG_ADMIN_URL, SAMPLE
from helpers.pg_proxy import Proxy
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.ingest import Arrival
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from mailbot.app import build_app
from mailbot.archive import export
from mailbot.config import load
from mailbot.intake.pipeline import StoreUnavailable, process_pending, receive

MAILBOT = str(Path(sys.executable).parent / "mailbot")
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
FILES = sorted(SAMPLE.glob("*.eml"))


@pytest.fixture
def other_pg_url() -> Iterator[str]:
    """A second PostgreSQL schema, beside `pg_url`'s."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{name}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    admin.dispose()


def _mailbox(root: Path, name: str, files: list[Path]) -> Path:
    folder = root / name
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def _mbox(root: Path, name: str, files: list[Path]) -> Path:
    box = mailbox.mbox(root / name)
    for f in files:
        box.add(mailbox.mboxMessage(f.read_bytes()))
    box.close()
    return root / name


def _import(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MAILBOT, "--db", url, "import", "--no-progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(*procs: subprocess.Popen[str]) -> list[str]:
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
    return outputs


def test_two_concurrent_imports_equal_one_import_of_the_union(pg_url: str, sqlite_url: str, tmp_path: Path) -> None:
    # Overlapping copies (same Message-IDs in different mailboxes, in opposite orders) and one
    # mailbox both import (same places), in small batches so the transactions interleave.
    first = _mailbox(tmp_path, "first", FILES[:200])
    second = _mbox(tmp_path, "second.mbox", FILES[100:][::-1])
    shared = _mailbox(tmp_path, "shared", FILES[150:250])
    _finish(
        _import(pg_url, "--batch-size", "20", str(first), str(shared)),
        _import(pg_url, "--batch-size", "20", str(second), str(shared)),
    )
    _finish(_import(sqlite_url, str(first), str(second), str(shared)))
    together, alone = exports_of(pg_url), exports_of(sqlite_url)
    assert len(together["messages"]) == 200 + 209 + 100
    assert sum(m["status"] == "parsed" for m in together["messages"]) == 308
    assert len(together["incidents"]) == 265
    assert together == alone


def test_jobs_2_equals_jobs_1(pg_url: str, other_pg_url: str) -> None:
    _finish(_import(pg_url, "--jobs", "2", "--batch-size", "50", str(SAMPLE)))
    _finish(_import(other_pg_url, "--jobs", "1", "--batch-size", "50", str(SAMPLE)))
    assert exports_of(pg_url) == exports_of(other_pg_url)


# A serve instance in miniature: the live pipeline's processing loop, with a desk handler
# that writes down every message it is handed (inside the processing transaction).
WORKER = """
import sys
from datetime import UTC, datetime
from sqlalchemy import text
from mailbot.app import build_app
from mailbot.config import load
from mailbot.intake import pipeline
from mailbot.store.db import make_engine

def record(app, session, delivery, now):
    session.execute(text("INSERT INTO handled (message_pk) VALUES (:pk)"), {"pk": delivery.pk})

app = build_app(load(environ={}), handlers=[record], engine=make_engine(sys.argv[1]))
done = 0
while n := pipeline.process_pending(app, datetime(2026, 11, 2, 15, tzinfo=UTC), limit=10):
    done += n
print(done)
"""


def test_two_processing_instances_handle_each_message_once(pg_url: str) -> None:
    engine = make_engine(pg_url)
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE handled (message_pk integer NOT NULL)"))
    for f in FILES[:80]:
        assert receive(engine, Arrival("smtp", f.name, f.read_bytes(), origin="smtp"), NOW)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, pg_url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    counts = [int(out.strip().splitlines()[-1]) for out in _finish(*workers)]
    assert sum(counts) == 80
    with engine.connect() as conn:
        handled = conn.execute(text("SELECT message_pk FROM handled")).scalars().all()
        statuses = conn.execute(text("SELECT status, count(*) FROM message GROUP BY status")).all()
    assert len(handled) == len(set(handled)) == 80
    assert dict(statuses) == {"parsed": 79, "duplicate": 1}  # 006.eml and 007.eml share a Message-ID
    engine.dispose()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    url = make_url(PG_ADMIN_URL)
    p = Proxy((url.host or "127.0.0.1", url.port or 5432))
    p.start()
    yield p
    if p.listener is not None:
        p.stop()


def test_database_loss_intake_tempfails_processing_recovers(
    pg_url: str, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_schema(make_engine(pg_url))
    engine = make_engine(str(make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE handled (message_pk integer NOT NULL)"))
    cut: list[int] = []

    def record_and_cut_once(app, session, delivery, now) -> None:
        session.execute(text("INSERT INTO handled (message_pk) VALUES (:pk)"), {"pk": delivery.pk})
        if not cut:  # the database goes away in the middle of processing this message
            cut.append(delivery.pk)
            proxy.stop()

    app = build_app(load(environ={}), handlers=[], engine=engine)
    arrive = [Arrival("smtp", f.name, f.read_bytes(), origin="smtp") for f in FILES[:12]]
    for a in arrive[:6]:
        assert receive(engine, a, NOW)
    assert process_pending(app, NOW, limit=2) == 2

    proxy.stop()  # the database goes away: open connections die, new ones are refused
    with pytest.raises(StoreUnavailable):  # SMTP intake answers 4xx on this
        receive(engine, arrive[6], NOW)
    with pytest.raises(OperationalError):  # the service loop logs it and retries later
        process_pending(app, NOW)

    proxy.start()  # it comes back; the same engine reconnects
    for a in arrive[6:]:
        assert receive(engine, a, NOW)
    app = build_app(app.settings, handlers=[record_and_cut_once], engine=engine)
    with pytest.raises(OperationalError):  # lost mid-transaction: that message's work rolls back
        process_pending(app, NOW)

    proxy.start()
    assert process_pending(app, NOW) == 10
    with session_scope(engine) as session:
        messages = export.messages(session)
        handled = session.execute(text("SELECT message_pk FROM handled")).scalars().all()
    assert sorted(m["status"] for m in messages) == ["duplicate"] + ["parsed"] * 11  # 006 and 007 are one
    assert len(handled) == len(set(handled)) == 10 and cut[0] in handled  # each handled once, the cut one too
    engine.dispose()


def test_two_instances_answering_one_hop_at_once_open_one_next_hop(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replies to one hop, processed at the same moment by two instances (two connections)."""
    from mailbot.store.tables.desk import Hop, Review
    from mailbot.store.tables.outbox import OutboxMessage

    from mailbot import config as config_module
    from mailbot.desk import inbound, providers, workflow

    settings = config_module.load(
        environ={
            "MAILBOT_MAIL_SECRET": "test-secret",
            "MAILBOT_MAIL_DOMAIN": "desk.example",
            "MAILBOT_MAIL_FROM": "Desk <traceback@desk.example>",
        }
    )
    engine = make_engine(pg_url)
    create_schema(engine)
    with session_scope(engine) as s:
        providers.add(s, "Smartbiz Telecom", emails=["noc@smartbiz.example"], now=NOW)
        tb = workflow.open_traceback(
            build_app(settings, engine=engine),
            s,
            provider_name="Smartbiz Telecom",
            now=NOW,
            campaign="SSA-Suspended-SSN",
            called="+12025550143",
            caller="+16465550178",
        ).id
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.traceback_id == tb)).one()
    notice = email.message_from_bytes(sent.raw, policy=email.policy.default)
    for n in (1, 2):  # the carrier answers twice (two staff members, or a resend)
        reply = EmailMessage()
        reply["From"], reply["To"] = "NOC <noc@smartbiz.example>", str(notice["Reply-To"] or notice["From"])
        reply["Subject"], reply["Message-ID"] = "Re: " + str(notice["Subject"]), f"<answer{n}@smartbiz.example>"
        reply["In-Reply-To"] = reply["References"] = str(notice["Message-ID"])
        reply.set_content("We received this call from Beta Voice Networks (noc@betavoice.example).\n")
        assert receive(engine, Arrival("smtp", f"answer{n}", bytes(reply), origin="smtp"), NOW)

    inside, release = threading.Event(), threading.Event()

    def hold_the_first(app, session, delivery, now) -> None:
        if threading.current_thread().name == "first":  # its transaction stays open, its answer uncommitted
            inside.set()
            release.wait(60)

    app = build_app(settings, handlers=[inbound.handle, hold_the_first], engine=engine)
    errors: list[BaseException] = []

    def instance() -> None:
        try:
            assert process_pending(app, NOW, limit=1) == 1
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=instance, name="first")
    first.start()
    assert inside.wait(60)
    second = threading.Thread(target=instance, name="second")
    second.start()
    second.join(1)  # give the second instance time to reach the hop (it must wait there, not go on)
    release.set()
    first.join(60)
    second.join(60)
    assert errors == []
    with session_scope(engine) as s:
        path = [
            (h.position, h.outcome)
            for h in s.exec(select(Hop).where(col(Hop.traceback_id) == tb).order_by(col(Hop.position))).all()
        ]
        kinds = sorted(m.kind for m in s.exec(select(OutboxMessage).where(OutboxMessage.traceback_id == tb)).all())
        flagged = [r.kind for r in s.exec(select(Review)).all()]
    assert path == [(0, "upstream"), (1, None)]  # one next hop
    assert kinds == ["acknowledgement", "first_contact", "first_contact"]  # one ack, one letter upstream
    assert flagged == ["correction"]  # the later answer goes to a human
    engine.dispose()
