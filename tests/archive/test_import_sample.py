"""The sample mailbox (309 real notices) imported into incidents, on every backend and format."""

from __future__ import annotations

import mailbox
import shutil
from collections import Counter
from pathlib import Path

import pytest
from helpers.paths import SAMPLE
from mailbot.store.db import create_schema, make_engine, session_scope

from mailbot.archive import export
from mailbot.archive.importer import import_paths
from mailbot.archive.reparse import reparse


def _engine(url: str):
    engine = make_engine(url)
    create_schema(engine)
    return engine


def _exports(engine) -> dict:
    with session_scope(engine) as session:
        return export.all_exports(session)


@pytest.fixture
def imported(sample_import):
    """The sample imported once for the module per backend; the tests here only read it (re-import and
    reparse included: they must change nothing)."""
    return sample_import


def test_counts(imported) -> None:
    engine, tally = imported
    data = _exports(engine)
    assert tally.stored == 309
    assert Counter(m["status"] for m in data["messages"]) == {"parsed": 308, "duplicate": 1}
    assert len(data["incidents"]) == 265
    kinds = Counter(m["kind"] for m in data["messages"] if m["status"] == "parsed")
    assert kinds == {
        "traceback_request": 279,
        "monthly_metrics": 26,
        "reminder": 1,
        "comment": 1,
        "upstream_not_responded": 1,
    }
    assert len(tally.new_incidents) == 265


# Taken by hand from ../shared/seeds/000_a632d66ff9a6bfc0.txt.
SPOT = [
    # id, call_time, called, caller, campaign, first_seen, last_seen, sightings
    (
        "2640",
        "2020-06-26T15:34:00Z",
        "+14072223658",
        "+14072613544",
        "Utility-30MinDisconnect",
        "2020-06-26T17:44:00Z",
        "2020-06-30T07:38:00Z",
        2,
    ),  # request, then the reminder
    (
        "2708",
        "2020-07-08T15:46:00Z",
        "+15756492707",
        "+19152453792",
        "Utility-30MinDisconnect",
        "2020-07-08T20:01:00Z",
        "2020-07-08T20:07:00Z",
        2,
    ),  # label/value on separate lines; 2nd block
    (
        "2930",
        "2020-08-24T14:40:00Z",
        None,
        None,
        "SSA-P1-BenefitsCanceled (GovtImpers)",
        "2020-08-24T20:43:00Z",
        "2020-08-24T20:43:00Z",
        2,
    ),  # no To/From; "Date/Time:2020-..."
    (
        "3242",
        "2020-09-30T16:52:00Z",
        "+17082127770",
        "+12125341961",
        "BofA - Chinese Voice Department",
        "2020-10-03T09:55:00Z",
        "2020-10-03T09:56:00Z",
        2,
    ),  # tab-separated, no blank line
    (
        "4179",
        "2021-01-27T19:43:00Z",
        "+13147992826",
        "+13147993582",
        "Apple-iCloud-AccountBreached",
        "2021-01-27T21:41:00Z",
        "2021-01-28T20:44:00Z",
        2,
    ),
    (
        "4929",
        "2021-05-12T15:07:12Z",
        "+17138228183",
        "+17138227818",
        "SSA-P1-BenefitsCanceled (GovtImpers)",
        "2021-05-14T14:44:00Z",
        "2021-05-14T14:44:00Z",
        1,
    ),  # "+0000 UTC", Campaign first
    (
        "9430",
        "2022-06-20T17:41:18Z",
        "+16517926396",
        "+15309824711",
        "Spanish-AutoWarranty-Upgrade",
        "2022-06-23T13:14:00Z",
        "2022-06-23T13:14:00Z",
        1,
    ),
    (
        "11028",
        "2022-10-27T22:00:27Z",
        "+19083241637",
        "+19457770768",
        "StudentLoan-$10,000-Removal",
        "2022-10-28T18:40:00Z",
        "2022-10-28T18:40:00Z",
        1,
    ),  # markdown "\$" removed
]


@pytest.mark.parametrize("row", SPOT, ids=[r[0] for r in SPOT])
def test_spot_values(imported, row) -> None:
    engine, _ = imported
    by_id = {i["incident_id"]: i for i in _exports(engine)["incidents"]}
    incident_id, call_time, called, caller, campaign, first, last, sightings = row
    got = by_id[incident_id]
    assert (got["call_time"], got["called"], got["caller"], got["campaign"]) == (call_time, called, caller, campaign)
    assert (got["first_seen"], got["last_seen"], got["sightings"]) == (first, last, sightings)


def test_descriptions(imported) -> None:
    engine, _ = imported
    by_id = {i["incident_id"]: i for i in _exports(engine)["incidents"]}
    # "(see description above)" takes the earlier block's text.
    assert by_id["2708"]["description"] == by_id["2709"]["description"]
    assert by_id["2708"]["description"].startswith("Likely FRAUD. Recorded message says your electric service")
    # The notification-only footer is not part of the description.
    assert by_id["11232"]["description"] == (
        "Calls to wireless numbers impersonating Amazon, claiming suspicious activity on customer's account"
    )
    assert "$10,000 removal" in by_id["11028"]["description"]
    assert all(i["description"] and i["campaign"] and i["call_time"] for i in by_id.values())


def test_other_records(imported) -> None:
    from mailbot.store.tables.messages import MetricsReport, MetricsRow, StaffComment, UpstreamNotice
    from sqlmodel import select

    engine, _ = imported
    with session_scope(engine) as session:
        notices = session.exec(select(UpstreamNotice)).all()
        comments = session.exec(select(StaffComment)).all()
        reports = session.exec(select(MetricsReport)).all()
        rows = session.exec(select(MetricsRow)).all()
    assert [(n.provider, n.traceback_id) for n in notices] == [("Smart Network Solutions Communications Corp", "11540")]
    assert comments[0].author == "David Frankel"
    assert "Chock Telecom at alejandro@chocktelecom.com" in comments[0].text
    assert len(reports) == 26 and {r.organization for r in reports} == {"Smartbiz Telecom, LLC"}
    your = [r for r in rows if r.table == "your"]
    upstream = [r for r in rows if r.table == "upstream"]
    assert len(your) == 26
    assert {"Total Hops", "Open", "POE", "Avg Response", "Campaigns"} <= set(your[0].values)
    assert "Telconus / Telcon US / Telcon Voice / Whisl" in {r.provider for r in upstream}
    assert any(
        r.values == {"Total Hops": "3", "Open": "0", "POE": "0", "Orig": "0", "No Resp": "0", "Not Found": "0"}
        and r.provider == "Opextel, LLC"
        for r in upstream
    )


def _as_mbox(target: Path) -> Path:
    box = mailbox.mbox(target)
    for eml in sorted(SAMPLE.glob("*.eml")):
        box.add(eml.read_bytes())
    box.flush()
    box.close()
    return target


def _as_maildir(target: Path) -> Path:
    box = mailbox.Maildir(target, create=True)
    for eml in sorted(SAMPLE.glob("*.eml")):
        box.add(eml.read_bytes())
    box.close()
    return target


def test_formats_give_identical_exports(db_url: str, tmp_path: Path, sqlite_url: str) -> None:
    reference = _engine(sqlite_url)
    import_paths(reference, [SAMPLE], progress=False)
    expected = _exports(reference)
    nested = tmp_path / "nested"
    shutil.copytree(SAMPLE, nested / "a" / "b")
    for i, source in enumerate((_as_mbox(tmp_path / "sample.mbox"), _as_maildir(tmp_path / "Maildir"), nested)):
        engine = _engine(db_url if i == 0 else f"sqlite:///{tmp_path / f'f{i}.sqlite3'}")
        tally = import_paths(engine, [source], batch_size=50, progress=False)
        assert tally.stored == 309, source
        assert _exports(engine) == expected, source
        engine.dispose()


def test_reimport_and_reparse_change_nothing(imported) -> None:
    engine, _ = imported
    before = _exports(engine)
    again = import_paths(engine, [SAMPLE], progress=False)
    assert (again.stored, again.skipped) == (0, 309)
    assert _exports(engine) == before
    reparse(engine)
    assert _exports(engine) == before


def test_single_eml_file(sqlite_url: str) -> None:
    engine = _engine(sqlite_url)
    tally = import_paths(engine, [SAMPLE / "001.eml"], progress=False)
    assert tally.stored == 1
    assert [i["incident_id"] for i in _exports(engine)["incidents"]] == ["2640"]
