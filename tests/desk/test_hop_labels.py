"""Hop labels: the table, the desk's timeline, and the scheduler's status and metrics that count them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from helpers.desk_mail import deliver, notice, open_tb, reply_to
from mailbot.parsers.message import parse_message
from mailbot.scheduler import jobs
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Provider
from mailbot.store.tables.outbox import OutboxMessage
from mailbot.store.tables.schedule import StatusChange
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.cli import main
from mailbot.domain.hop_labels import PathHop, label_path
from mailbot.testing import simulate

US, ABROAD = False, True


def _labels(*hops: tuple[bool, str | None]) -> list[str | None]:
    return label_path([PathHop(foreign, outcome) for foreign, outcome in hops])


def test_domestic_chain_to_its_origin() -> None:
    assert _labels((US, "upstream"), (US, "upstream"), (US, "origin")) == [None, None, "us_origin"]


def test_a_call_from_abroad_has_a_point_of_entry_and_a_point_of_departure() -> None:
    assert _labels((US, "upstream"), (US, "upstream"), (ABROAD, "upstream"), (ABROAD, "origin")) == [
        None,
        "us_poe",
        "foreign_point_of_departure",
        "international_origin",
    ]
    # Named, not yet answered: the foreign hop is already the point of departure.
    assert _labels((US, "upstream"), (ABROAD, None)) == ["us_poe", "foreign_point_of_departure"]


def test_a_call_entering_twice_has_two_points_of_entry() -> None:
    assert _labels((US, "upstream"), (ABROAD, "upstream"), (US, "upstream"), (ABROAD, "upstream"), (US, "origin")) == [
        "us_poe",
        "foreign_point_of_departure",
        "us_poe",
        "foreign_point_of_departure",
        "us_origin",
    ]
    # Leaving the U.S. is no point of entry: the U.S. hop upstream of a foreign one is plain.
    assert _labels((ABROAD, "upstream"), (US, "upstream"), (US, "origin")) == [None, None, "us_origin"]


def test_silence_and_not_found_end_the_path_with_their_own_label() -> None:
    assert _labels((US, "upstream"), (US, "no_response")) == [None, "no_response"]
    assert _labels((US, "not_found")) == ["not_found"]
    assert _labels((US, "upstream"), (ABROAD, "no_response")) == ["us_poe", "no_response"]
    assert _labels((US, None)) == [None]
    assert _labels((US, "dispute")) == [None]
    assert _labels() == []


# --- the desk: a reply names a provider registered as foreign ----------------------------------

ENV = {"MAILBOT_MAIL_SECRET": "test-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}


def _cli(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--db", db_url, *args], env=ENV)
    assert result.exit_code == 0, result.output
    return result.output


def test_reply_naming_a_foreign_upstream_makes_the_hop_a_point_of_entry(
    desk_app: App,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
) -> None:
    _cli(
        db_url,
        "providers",
        "add",
        "Mexcom Telecomunicaciones",
        "--email",
        "noc@mexcom.example",
        "--foreign",
        "--country",
        "MX",
    )
    tb = open_tb(desk_app)
    deliver(
        desk_app,
        reply_to(
            notice(engine, "first_contact", "noc@smartbiz.example"),
            "We received this call from Mexcom Telecomunicaciones (noc@mexcom.example).",
        ),
    )
    # Mexcom names an upstream new to the directory: created from the reply, and domestic.
    deliver(
        desk_app,
        reply_to(
            notice(engine, "first_contact", "noc@mexcom.example"),
            "We received this call from Andes Voice Networks (noc@andesvoice.example).",
            sender="noc@mexcom.example",
        ),
    )
    shown = json.loads(_cli(db_url, "traceback", "show", str(tb), "--format", "json"))
    assert [(h["provider"], h["outcome"], h["label"]) for h in shown["hops"]] == [
        ("Smartbiz Telecom", "upstream", "us_poe"),
        ("Mexcom Telecomunicaciones", "upstream", "foreign_point_of_departure"),
        ("Andes Voice Networks", None, None),
    ]
    assert {
        "provider",
        "outcome",
        "requested_at",
        "answered_at",
        "upstream_name",
        "upstream_email",
        "customer_name",
        "evidence",
        "messages",
    } <= set(shown["hops"][0])  # the contract, kept
    text = _cli(db_url, "traceback", "show", str(tb))
    assert "-> upstream (Mexcom Telecomunicaciones)" in text and "[us_poe]" in text
    assert "[foreign_point_of_departure]" in text

    listed = {
        p["name"]: (p["foreign"], p["country"])
        for p in json.loads(_cli(db_url, "providers", "list", "--format", "json"))
    }
    assert listed["Mexcom Telecomunicaciones"] == (True, "MX")
    assert listed["Andes Voice Networks"] == (False, None)
    assert "[foreign, MX]" in _cli(db_url, "providers", "list")

    # The directory: an optional foreign/country column; a country abroad implies foreign.
    sheet = tmp_path / "providers.csv"
    sheet.write_text(
        "name,emails,foreign,country\nAndes Voice Networks,,yes,CO\nCaribe Tel,noc@caribe.example,,DO\n"
        "Hometown Voice,noc@hometown.example,,US\n"
    )
    _cli(db_url, "providers", "import", str(sheet))
    listed = {
        p["name"]: (p["foreign"], p["country"])
        for p in json.loads(_cli(db_url, "providers", "list", "--format", "json"))
    }
    assert (listed["Andes Voice Networks"], listed["Caribe Tel"], listed["Hometown Voice"]) == (
        (True, "CO"),
        (True, "DO"),
        (False, "US"),
    )
    assert "[foreign_point_of_departure]" in _cli(db_url, "traceback", "show", str(tb))  # Mexcom still first abroad
    bad = tmp_path / "bad.csv"
    bad.write_text("name,foreign\nSomeone,perhaps\n")
    refused = CliRunner().invoke(main, ["--db", db_url, "providers", "import", str(bad)], env=ENV)
    assert refused.exit_code != 0 and "bad.csv:2" in refused.output and "perhaps" in refused.output


# --- the scheduler: status and monthly metrics count points of entry ---------------------------

NY = ZoneInfo("America/New_York")


@pytest.fixture
def app(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_OUTBOUND_MAILDIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAILBOT_MAIL_SECRET", "test-secret")
    app = build_app(config_module.load(None, db_url))
    return app


def _run(app: App, world: simulate.World, at: datetime, event: simulate.Event | None = None) -> None:
    if event is not None:
        event[1](app, world)
    app.fixed_now = at
    jobs.run_due(app, digest=False)


def test_point_of_entry_twice_goes_yellow_then_red_and_counts_in_metrics(app: App) -> None:
    with session_scope(app.engine) as session:
        world = simulate.World(providers=simulate.add_providers(session), tracebacks={}, hops={})
        opextel = session.get(Provider, world.providers["opextel"])
        assert opextel is not None
        opextel.foreign = True
    bluewave = world.providers["bluewave"]

    def changes() -> list[tuple[str, str]]:
        with session_scope(app.engine) as session:
            return [
                (c.old_status, c.new_status)
                for c in session.scalars(
                    select(StatusChange).where(col(StatusChange.provider_id) == bluewave).order_by(col(StatusChange.id))
                )
            ]

    _run(app, world, simulate.ny(9, 10, 1), simulate.open_traceback("a", "bluewave", "Tax-Debt-P1", simulate.ny(9, 10)))
    assert changes() == []  # asked, not yet identified
    _run(app, world, simulate.ny(9, 11), simulate.answer("a", 0, simulate.ny(9, 10, 30), "upstream", "opextel"))
    assert changes() == [("GREEN", "YELLOW")]  # accepted the call from a foreign provider: POE
    _run(app, world, simulate.ny(9, 13), simulate.answer("a", 1, simulate.ny(9, 12), "origin"))
    _run(
        app,
        world,
        simulate.ny(10, 10, 1),
        simulate.open_traceback("b", "bluewave", "Utility-Disconnect", simulate.ny(10, 10)),
    )
    _run(app, world, simulate.ny(10, 11), simulate.answer("b", 0, simulate.ny(10, 10, 30), "upstream", "opextel"))
    assert changes() == [("GREEN", "YELLOW"), ("YELLOW", "RED")]  # a second campaign in the window

    app.fixed_now = datetime(2026, 4, 1, 7, 0, tzinfo=NY)
    jobs.run_due(app, digest=False)
    with session_scope(app.engine) as session:
        raw = session.scalars(
            select(col(OutboxMessage.raw)).where(col(OutboxMessage.dedupe_key) == f"metrics:{bluewave}:2026-03")
        ).one()
    metrics = parse_message(raw).metrics
    assert metrics is not None and metrics.your_summary is not None
    assert {k: metrics.your_summary.values[k] for k in ("Total Hops", "POE", "Orig")} == {
        "Total Hops": "2",
        "POE": "2",
        "Orig": "0",
    }
    # Upstream: Opextel originated one call (International Origin) and never answered the other.
    assert {row.provider: row.values for row in metrics.upstream} == {
        "Opextel, LLC": {"Total Hops": "2", "Open": "0", "POE": "0", "Orig": "1", "No Resp": "1", "Not Found": "0"}
    }


def test_providers_stored_before_the_flag_upgrade_as_domestic(db_url: str) -> None:
    from mailbot.store import schema
    from mailbot.store.db import make_engine

    upgraded = make_engine(db_url)
    schema.upgrade(upgraded, "0002")
    with upgraded.begin() as conn:
        conn.exec_driver_sql("INSERT INTO provider (name, status, known) VALUES ('Old Carrier', 'GREEN', false)")
    schema.upgrade(upgraded)
    with session_scope(upgraded) as session:
        old = session.scalars(select(Provider)).one()
        assert (old.name, old.foreign, old.country) == ("Old Carrier", False, None)
