"""Parse results survive the trip between processes (`import --jobs`) unchanged."""

from __future__ import annotations

import pickle

from helpers.paths import ROOT
from mailbot.parsers.message import parse_message

from mailbot.domain.records import CallDetails, Envelope, Kind, ParsedMessage


def _results() -> list[ParsedMessage]:
    paths = sorted((ROOT / "fixtures" / "emails").glob("*.eml")) + sorted((ROOT / "fixtures" / "shapes").glob("*.eml"))
    return [parse_message(path.read_bytes()) for path in paths]


def test_every_fixture_result_pickles_to_an_equal_result() -> None:
    results = _results()
    kinds = {r.kind for r in results}
    # The fixtures exercise every nested record: metrics, notices, comments, replies, quarantines.
    assert {Kind.MONTHLY_METRICS, Kind.UPSTREAM_NOT_RESPONDED, Kind.COMMENT, Kind.REPLY} <= kinds
    assert any(r.quarantine for r in results)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(results, protocol=protocol))
        assert back == results
        assert [type(r.envelope) for r in back] == [Envelope] * len(results)


def test_a_record_pickles_as_its_constructor_call() -> None:
    details = CallDetails(incident_id="1", campaign="X")
    assert details.__reduce__() == (CallDetails, ("1", None, None, None, "X", None))
    assert pickle.loads(pickle.dumps(details)) == details
