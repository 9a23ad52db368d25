"""A Trace Forward's answers, read by the same reply parser with the forward table and form lines."""

from __future__ import annotations

import pytest
from helpers.notice_context import CONTEXT
from mailbot.parsers import reply

from mailbot.outbound.render import render

CASES = [
    ("We route calls to this number to Zeta Wireless (noc@zeta.example).", "downstream", "Zeta Wireless", None),
    ("The number is served by Omega Voice, noc@omega.example.", "downstream", "Omega Voice", None),
    ("We hand the calls off to Lumen (noc@lumen.example) for termination.", "downstream", "Lumen", None),
    ("This number was ported to Delta Mobile last month.", "not_ours", "Delta Mobile", None),
    ("The number was ported out; we do not know where.", "not_ours", None, None),
    ("The number is assigned to our subscriber Bright Leads LLC.", "customer", None, "Bright Leads LLC"),
    ("That DID belongs to our customer Sunrise Callbacks Inc.", "customer", None, "Sunrise Callbacks Inc"),
    ("We could not find this number in our records.", "not_found", None, None),
    ("We dispute this request: the number belongs to a legitimate business.", "dispute", None, None),
    (
        "Enrutamos las llamadas a este número hacia Telefonía Austral S.A. (noc@austral.example).",
        "downstream",
        "Telefonía Austral S.A.",
        None,
    ),
    ("El número está asignado a nuestro cliente Servicios Rápidos SA.", "customer", None, "Servicios Rápidos SA"),
    ("El número fue portado a Movistar.", "not_ours", "Movistar", None),
]


@pytest.mark.parametrize(("text", "outcome", "next_name", "customer"), CASES)
def test_free_text_forward_answers(text: str, outcome: str, next_name: str | None, customer: str | None) -> None:
    got = reply.answers(text, (), sender="noc@carrier.example", direction="forward")[0]
    assert (got.outcome, got.upstream_name, got.customer_name) == (outcome, next_name, customer)
    # A ported number's new carrier, named without an address, would be a new provider: the
    # higher bar of issue 13, so mailbot asks the carrier to confirm before it writes to it.
    assert reply.decision(got) == ("propose" if outcome == "not_ours" and next_name else "apply")


def test_the_same_words_read_upstream_keep_the_upstream_vocabulary() -> None:
    got = reply.answers("This call was originated by our customer Bright Leads LLC.", ())[0]
    assert (got.outcome, got.customer_name) == ("origin", "Bright Leads LLC")
    assert reply.answers("Subscriber: Bright Leads LLC", ())[0].outcome == "other"  # not an upstream form line


@pytest.mark.parametrize("language", [None, "es"])
def test_the_forward_form_is_read_filled_in_and_says_nothing_empty(language: str | None) -> None:
    notice = render("request", {**CONTEXT, "direction": "forward", "language": language}).text
    assert "Downstream provider / Proveedor siguiente:" in notice
    quoted = "\n".join("> " + line for line in notice.split("\n"))
    empty = reply.answers(reply.strip_quoted("Thanks, looking.\n\n" + quoted, [notice]), (), direction="forward")
    assert empty[0].outcome == "other"
    lines = {
        "Downstream provider / Proveedor siguiente:": ("Zeta Wireless <noc@zeta.example>", "downstream"),
        "Subscriber / Abonado:": ("Acme Leads LLC", "customer"),
        "Ported to / Portado a:": ("yes", "not_ours"),
        "Not found (yes) / No encontrada (sí):": ("yes", "not_found"),
    }
    for line, (value, outcome) in lines.items():
        filled = notice.replace(line, f"{line} {value}")
        got = reply.answers(filled, (), direction="forward")[0]
        assert (got.outcome, got.confidence) == (outcome, 1.0), line
    upstream = reply.answers(
        notice.replace(next(iter(lines)), f"{next(iter(lines))} Zeta Wireless <noc@zeta.example>"), ()
    )
    assert upstream[0].outcome != "downstream"  # read upstream, the forward lines are not answers


def test_a_json_forward_answer() -> None:
    got = reply.answers(
        '{"outcome": "downstream", "downstream_name": "Zeta", "downstream_email": "NOC@zeta.example"}',
        (),
        direction="forward",
    )[0]
    assert (got.outcome, got.upstream_name, got.upstream_email) == ("downstream", "Zeta", "noc@zeta.example")
