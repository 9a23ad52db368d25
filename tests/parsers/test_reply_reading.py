"""The pieces of reply understanding: form and JSON answers, hedges, negations, own addresses,
the directory, and what confidence lets the desk do."""

from __future__ import annotations

import pytest
from mailbot.parsers import reply
from mailbot.parsers.reply_names import KnownProvider

DIRECTORY = (
    KnownProvider("Lingo Telecom, LLC", aliases=("Lingo",), domains=("lingo.example",)),
    KnownProvider("Peerless Network", domains=("peerless.example",)),
)


def _read(text: str, **kwargs) -> reply.ReplyResult:
    return reply.answers(reply.strip_quoted(text), ("7",), sender="noc@smalltel.example", **kwargs)[0]


def test_a_json_answer_is_read_exactly_whatever_the_text_says() -> None:
    got = _read(
        'We could not find anything else.\n{"traceback": 7, "outcome": "upstream", '
        '"upstream_name": "Nimbus Telecom", "upstream_email": "NOC@nimbus.example"}'
    )
    assert (got.outcome, got.upstream_name, got.upstream_email, got.confidence) == (
        "upstream",
        "Nimbus Telecom",
        "noc@nimbus.example",
        1.0,
    )
    assert reply.decision(got) == "apply"


@pytest.mark.parametrize(
    "text",
    [
        "If this is the 14:05 call, it came from Zeta Networks.",
        "It was either Zeta Networks or Omni Route; we are still investigating.",
        "We think it probably came from Zeta Networks.",
        "Si es la llamada de las 14:05, probablemente vino de Axtel.",
        "Seguimos investigando, pero parece que la recibimos de Axtel.",
    ],
)
def test_hedges_are_not_answers(text: str) -> None:
    assert _read(text).outcome == "other"


def test_a_negated_name_is_never_the_upstream() -> None:
    got = _read("It did not come from Lingo Telecom, it came from Brightlink Carrier (ops@brightlink.example).")
    assert (got.upstream_name, got.upstream_email) == ("Brightlink Carrier", "ops@brightlink.example")
    got = _read("No vino de Marcatel; la recibimos de Conexión Andina Ltda. (soporte@conexion.example).")
    assert got.upstream_name == "Conexión Andina Ltda."


def test_the_replying_carriers_own_addresses_are_never_the_upstream() -> None:
    got = _read("Please copy legal@smalltel.example. We received the call from Orbit Voice, noc@orbit.example.")
    assert got.upstream_email == "noc@orbit.example"
    got = _read("We received the call from Orbit Voice. Questions to abuse@smalltel.example.")
    assert (got.upstream_name, got.upstream_email) == ("Orbit Voice", None)


def test_the_directory_names_an_upstream_given_by_address_or_alias() -> None:
    by_address = _read("Upstream for this one is tb@lingo.example.", directory=DIRECTORY)
    assert (by_address.upstream_name, by_address.upstream_email) == ("Lingo Telecom, LLC", "tb@lingo.example")
    by_alias = _read("it came in from lingo, we have no address for them", directory=DIRECTORY)
    assert by_alias.upstream_name == "Lingo Telecom, LLC"
    unknown = _read("Upstream for this one is tb@elsewhere.example.", directory=DIRECTORY)
    assert unknown.upstream_name is None
    assert reply.decision(by_address, known_upstream=True) == "apply"
    assert reply.decision(unknown) == "propose"  # a new provider with no name: ask the carrier to confirm


def test_closing_readings_need_the_higher_bar() -> None:
    named = _read("The call was placed by our customer Rapid Leads LLC.")
    unnamed = _read("It was one of our retail customers; account closed.")
    assert (named.outcome, unnamed.outcome) == ("origin", "origin")
    assert reply.decision(named) == "apply"
    assert unnamed.confidence < named.confidence and reply.decision(unnamed) == "propose"
    mixed = _read("We could not find the call in our CDRs. We received it from Orbit Voice, noc@orbit.example.")
    assert reply.decision(mixed) != "apply"  # it says two different things
