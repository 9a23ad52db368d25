"""The provider directory: adding, importing, and matching loosely written names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.desk import Provider
from sqlmodel import select

from mailbot.desk import providers

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str):
    engine = make_engine(db_url)
    create_schema(engine)
    return engine


def test_loose_names_match_one_provider_and_similar_words_do_not(engine) -> None:
    with session_scope(engine) as s:
        telcon = providers.add(
            s, "Telconus / Telcon US / Telcon Voice / Whisl", emails=["noc@telconus.example"], now=NOW
        )
        smart = providers.add(s, "Smart Network Solutions", emails=["noc@sns.example"], now=NOW)
        assert telcon.id is not None
        for written in (
            "Telcon US",
            "Telconus",
            "TELCONUS, LLC",
            "Telcon Voice",
            "Whisl",
            "Telconus / Telcon US / Telcon Voice / Whisl",
        ):
            match = providers.find(s, written)
            assert match.sure and match.provider is not None and match.provider.id == telcon.id, written
        assert providers.find(s, "Smart Network Solutions Inc.").provider.id == smart.id  # type: ignore[union-attr]
        smartbiz = providers.find(s, "Smartbiz Telecom")
        assert not smartbiz.sure and not smartbiz.doubtful, smartbiz.score
        assert providers.find(s, "Whistle").doubtful  # close, not sure: a human decides
        assert providers.find(s, "Telconus Networks").sure  # what it is ("networks") does not change who
        # Adding by an alias extends the same provider rather than making a second one.
        providers.add(s, "Telcon US", backups=["backup@telconus.example"], now=NOW)
        assert len(s.exec(select(Provider)).all()) == 2
        assert providers.notice_addresses(s, telcon.id) == ["noc@telconus.example"]
        roles = [(c.address, c.role) for c in providers.contacts(s, telcon.id)]
        assert roles == [("noc@telconus.example", "primary"), ("backup@telconus.example", "backup")]


def test_addresses_and_domains_decide_who_may_answer(engine) -> None:
    with session_scope(engine) as s:
        lingo = providers.add(s, "Lingo Telecom", emails=["tb@lingo.example"], domains=["lingo-noc.example"], now=NOW)
        assert lingo.id is not None
        assert providers.may_answer_for(s, lingo.id, "TB@lingo.example")
        assert providers.may_answer_for(s, lingo.id, "anyone@lingo-noc.example")
        assert not providers.may_answer_for(s, lingo.id, "tb@lingo.example.evil.example")
        assert not providers.may_answer_for(s, lingo.id, "someone@gmail.com")
        shared = providers.add(s, "Lingo Wholesale Partner", emails=["tb@lingo.example"], now=NOW)
        assert shared.id is not None
        assert providers.may_answer_for(s, shared.id, "tb@lingo.example")  # a shared NOC answers for both
        assert providers.may_answer_for(s, lingo.id, "tb@lingo.example")
        with pytest.raises(ValueError, match="not an email address"):
            providers.add(s, "Broken", emails=["not-an-address"], now=NOW)


def test_csv_import_checks_every_row_first(engine, tmp_path: Path) -> None:
    good = tmp_path / "providers.csv"
    good.write_text(
        "name,emails,backups,aliases,domains,status\n"
        "Peerless Network,noc@peerless.example,abuse@peerless.example,Peerless,,GREEN\n"
        "Axtel Mayorista,noc@axtel.example,,Axtel;Axtel SA,axtel.example,YELLOW\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("name,emails\nFine Co,ok@fine.example\nBroken Co,nope\n")
    with session_scope(engine) as s:
        with pytest.raises(ValueError, match=r"bad.csv:3: not an email address"):
            providers.import_csv(s, bad, NOW)
        assert s.exec(select(Provider)).all() == []
        assert providers.import_csv(s, good, NOW) == 2
        listed = {p["name"]: p for p in providers.listing(s)}
    assert listed["Axtel Mayorista"]["status"] == "YELLOW"
    assert listed["Axtel Mayorista"]["aliases"] == ["Axtel", "Axtel SA"]
    assert listed["Peerless Network"]["contacts"][1] == {
        "address": "abuse@peerless.example",
        "role": "backup",
        "undeliverable": False,
    }


def test_providers_cli(db_url: str, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from mailbot.cli import main

    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        done = runner.invoke(main, ["--db", db_url, *args])
        return done.exit_code, done.output

    assert (
        run(
            "providers",
            "add",
            "Telconus / Telcon US",
            "--email",
            "noc@telconus.example",
            "--email",
            "backup@telconus.example",
            "--alias",
            "Whisl",
        )[0]
        == 0
    )
    assert run("providers", "add", "Telcon US", "--email", "ops@telconus.example")[0] == 0  # the same provider
    code, out = run("providers", "add", "Broken", "--email", "nope")
    assert code != 0 and "not an email address" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("name,emails\nFine Co,ok@fine.example\nBroken Co,nope\n")
    code, out = run("providers", "import", str(bad))
    assert code != 0 and "bad.csv:3" in out
    good = tmp_path / "good.csv"
    good.write_text("name,emails,aliases\nPeerless Network,noc@peerless.example,Peerless\n")
    assert run("providers", "import", str(good)) == (0, f"imported 1 provider row(s) from {good}\n")
    code, out = run("providers", "list", "--format", "json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert sorted(listed) == ["Peerless Network", "Telconus"]
    assert listed["Telconus"]["aliases"] == ["Telcon US", "Whisl"]
    assert [(c["address"], c["role"]) for c in listed["Telconus"]["contacts"]] == [
        ("noc@telconus.example", "primary"),
        ("ops@telconus.example", "primary"),
        ("backup@telconus.example", "backup"),
    ]
    code, out = run("providers", "list")
    assert code == 0 and "Telconus aka Telcon US / Whisl" in out
