"""Schema migrations: old databases upgrade with their data; the app refuses unknown schemas."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from mailbot.store import schema
from mailbot.store.db import make_engine, session_scope
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from mailbot.archive import export
from mailbot.cli import main

SENT = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
RAW = b"Message-ID: <n1@example.test>\r\nSubject: Traceback request\r\n\r\nbody\r\n"


def _cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", url, *args])


def _load_baseline_rows(engine: Engine) -> None:
    """Rows as a version of mailbot before migrations wrote them: into the tables as they are."""
    with engine.begin() as conn:
        old = MetaData()
        old.reflect(conn)
        t = old.tables
        rows = [
            {
                "source": "dir:/old",
                "source_key": "a.eml",
                "message_key": "<n1@example.test>",
                "raw_sha256": "0" * 64,
                "raw": RAW,
                "size": len(RAW),
                "origin": "import",
                "received_at": SENT,
                "status": "parsed",
                "reason": None,
                "kind": "traceback_request",
                "date": SENT,
                "subject": "Traceback request",
                "sender": "itg@example.test",
                "recipients": ["noc@carrier.test"],
                "incident_ids": ["2640"],
                "parsed_at": SENT,
            },
            {
                "source": "dir:/old",
                "source_key": "b.eml",
                "message_key": "<r1@carrier.test>",
                "raw_sha256": "1" * 64,
                "raw": b"reply",
                "size": 5,
                "origin": "import",
                "received_at": SENT,
                "status": "parsed",
                "reason": None,
                "kind": "reply",
                "date": SENT,
                "subject": "Re: Traceback",
                "sender": "noc@carrier.test",
                "recipients": [],
                "incident_ids": ["2640"],
                "parsed_at": SENT,
            },
        ]
        # Through the sequences, as the old code did, so later inserts do not collide.
        notice, reply = (
            conn.execute(t["message"].insert().returning(t["message"].c.id), [r]).scalar_one() for r in rows
        )
        conn.execute(
            t["messagekey"].insert(),
            [
                {"message_key": "<n1@example.test>", "message_pk": notice},
                {"message_key": "<r1@carrier.test>", "message_pk": reply},
            ],
        )
        conn.execute(
            t["sighting"].insert(),
            [
                {
                    "incident_id": "2640",
                    "message_pk": notice,
                    "seen_at": SENT,
                    "kind": "traceback_request",
                    "recipients": ["noc@carrier.test"],
                    "campaign": "Utility-30MinDisconnect",
                    "call_time": SENT,
                    "called": "+13125550100",
                    "caller": "+18005550199",
                    "description": "disconnect threat",
                }
            ],
        )
        conn.execute(
            t["incident"].insert(),
            [
                {
                    "incident_id": "2640",
                    "campaign": "Utility-30MinDisconnect",
                    "call_time": SENT,
                    "called": "+13125550100",
                    "caller": "+18005550199",
                    "description": "disconnect threat",
                    "first_seen": SENT,
                    "last_seen": SENT,
                    "sightings": 1,
                }
            ],
        )
        conn.execute(
            t["campaignname"].insert(), [{"name": "Utility-30MinDisconnect", "canonical": "Utility-30MinDisconnect"}]
        )
        conn.execute(
            t["reply"].insert(),
            [
                {
                    "message_pk": reply,
                    "incident_ids": ["2640"],
                    "outcome": "upstream",
                    "upstream_name": "Upstream Telecom",
                    "upstream_email": "abuse@upstream.test",
                    "customer_name": None,
                    "evidence": None,
                    "text": "It came from Upstream Telecom.",
                }
            ],
        )


def _check_baseline_rows(engine: Engine) -> None:
    with session_scope(engine) as session:
        data = export.all_exports(session)
        raw = session.execute(text("SELECT raw FROM message WHERE source_key = 'a.eml'")).scalar_one()
    assert bytes(raw) == RAW
    assert [(i["incident_id"], i["campaign_canonical"], i["call_time"], i["sightings"]) for i in data["incidents"]] == [
        ("2640", "Utility-30MinDisconnect", "2025-03-04T15:30:00Z", 1)
    ]
    assert sorted((m["message_id"], m["kind"], m["status"]) for m in data["messages"]) == [
        ("<n1@example.test>", "traceback_request", "parsed"),
        ("<r1@carrier.test>", "reply", "parsed"),
    ]
    assert [(r["message_id"], r["outcome"], r["upstream_email"]) for r in data["replies"]] == [
        ("<r1@carrier.test>", "upstream", "abuse@upstream.test")
    ]


def test_upgrade_from_first_migration_keeps_data(db_url: str) -> None:
    engine = make_engine(db_url)
    assert schema.upgrade(engine, schema.BASELINE) == (None, schema.BASELINE)
    _load_baseline_rows(engine)
    assert schema.upgrade(engine) == (schema.BASELINE, schema.head())
    _check_baseline_rows(engine)
    # And the upgraded database is one the app runs on and adds to.
    result = _cli(db_url, "import", "--no-progress", "fixtures/emails/001.eml")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        assert len(export.messages(session)) == 3


def test_database_made_before_migrations_is_refused_then_upgraded(db_url: str) -> None:
    engine = make_engine(db_url)
    schema.upgrade(engine, schema.BASELINE)
    _load_baseline_rows(engine)
    with engine.begin() as conn:  # what create_all made before there were versions
        conn.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))
    refused = _cli(db_url, "incidents")
    assert refused.exit_code == 1
    assert "no schema version" in refused.output and "mailbot db upgrade" in refused.output
    upgraded = _cli(db_url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"none -> {schema.head()}" in upgraded.output
    _check_baseline_rows(engine)
    assert _cli(db_url, "incidents").exit_code == 0


def test_refuses_schema_newer_than_it_knows(db_url: str) -> None:
    engine = make_engine(db_url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'"))
    result = _cli(db_url, "export", "incidents")
    assert result.exit_code == 1
    assert "9999, newer than this mailbot knows" in result.output
    assert "Traceback" not in result.output  # a clear message, not a stack trace


def test_empty_database_is_created_at_head(db_url: str) -> None:
    # Only a command that writes creates it (issue 14: a read command refuses, see tests/deploy).
    result = _cli(db_url, "providers", "add", "Acme Telecom", "--email", "noc@acme.example")
    assert result.exit_code == 0, result.output
    assert "created database" in result.output
    assert _cli(db_url, "db", "current").output.splitlines()[0] == f"database: {schema.head()}"
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())
    upgraded = _cli(db_url, "db", "upgrade")
    assert upgraded.output.strip() == f"schema: {schema.head()} (up to date)"
    unknown = _cli(db_url, "db", "upgrade", "--to", "nosuch")
    assert unknown.exit_code == 1 and "Can't locate revision identified by 'nosuch'" in unknown.output


def test_two_upgrades_at_once_wait_for_each_other(pg_url: str) -> None:
    """Instances deployed together may all run `mailbot db upgrade`: one upgrades, the others find it done."""
    mailbot = str(Path(sys.executable).parent / "mailbot")
    procs = [
        subprocess.Popen(
            [mailbot, "--db", pg_url, "db", "upgrade"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs == sorted([f"schema: none -> {schema.head()}", f"schema: {schema.head()} (up to date)"])


def test_database_url_from_the_environment_switches_to_postgresql(pg_url: str) -> None:
    runner = CliRunner(env={"MAILBOT_DATABASE_URL": pg_url, "MAILBOT_CONFIG": None})
    result = runner.invoke(main, ["import", "--no-progress", "fixtures/emails/001.eml"])
    assert result.exit_code == 0, result.output
    engine = make_engine(pg_url)
    with session_scope(engine) as session:
        assert [m["status"] for m in export.messages(session)] == ["parsed"]
    with engine.connect() as conn:
        assert schema.current(conn) == schema.head()
    engine.dispose()


def test_older_schema_is_refused_until_upgraded(db_url: str) -> None:
    engine = make_engine(db_url)
    schema.upgrade(engine, schema.BASELINE)
    assert schema.head() != schema.BASELINE
    refused = _cli(db_url, "incidents")
    assert refused.exit_code == 1
    assert f"is at schema {schema.BASELINE}, this mailbot needs {schema.head()}" in refused.output
    assert "run `mailbot db upgrade`" in refused.output
    assert _cli(db_url, "db", "upgrade").exit_code == 0
    assert _cli(db_url, "incidents").exit_code == 0


def test_head_migration_matches_the_models(db_url: str) -> None:
    """A table or column added to a model without a migration fails here."""
    engine = make_engine(db_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
