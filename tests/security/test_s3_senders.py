"""Issue 12 §3: senders are who they claim."""

from __future__ import annotations

import pytest

from .security_desk import CARRIER, DOMAIN, Desk, answer, reply_to

ANSWER = "Hi team,\n\nWe received this call from Lingo Telecom.\n\nThanks,\nJohn"

# From headers that are not the carrier's address, though a reader that stops early sees it.
LOOKALIKES = {
    "idn-tail": "NOC <noc@smartbiz.exampleé.evil.example>",
    "zero-width": "NOC <noc@smartbiz.example\u200b.evil.example>",
    "fullwidth-dot": "NOC <noc@smartbiz.example\uff0eevil.example>",
    "homoglyph": "NOC <noc@smartbiz.ex\u0430mple>",  # a Cyrillic a (U+0430)
    "bare-idn-tail": "noc@smartbiz.exampleé.evil.example",
}


@pytest.mark.parametrize("shape", [*sorted(LOOKALIKES), "unreadable"])
def test_a_lookalike_sender_answers_nothing_and_is_reviewed(desk: Desk, shape: str) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    raw = answer(notice, ANSWER, from_header=LOOKALIKES.get(shape, "NOC <noc@smartbiz.example>"))
    if shape == "unreadable":  # not UTF-8: nobody's address
        raw = raw.replace(b"noc@smartbiz.example>", b"noc@smartbiz.example\xff.evil.example>", 1)
    desk.send(raw, "bounce@evil.example", [reply_to(notice)])
    desk.settled(1)
    assert desk.show(number)["hops"][0]["answered_at"] is None
    assert not desk.received("tb@lingo.example")
    assert desk.reviews(), "a message from nobody we know answered a hop without a review"


def test_the_same_answer_from_the_real_address_is_applied(desk: Desk) -> None:
    """The control: what the lookalikes are refused for is what the carrier itself may do."""
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    desk.send(answer(notice, ANSWER, from_header="NOC Team <NOC@Smartbiz.Example>"), CARRIER[1], [reply_to(notice)])
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


AUTHSERV = "mx.desk.example"


def test_an_answer_failing_dmarc_at_the_trusted_mta_is_not_applied(make_desk: object) -> None:
    desk: Desk = make_desk(mail_trusted_authserv_id=AUTHSERV)  # type: ignore[operator]
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    results = (
        f"{AUTHSERV}; dkim=fail header.d=smartbiz.example; spf=fail smtp.mailfrom=evil.example; "
        "dmarc=fail header.from=smartbiz.example"
    )
    desk.send(answer(notice, ANSWER, extra={"Authentication-Results": results}), "x@evil.example", [reply_to(notice)])
    desk.settled(1)
    assert desk.show(number)["hops"][0]["answered_at"] is None
    assert any("dmarc" in r["detail"].lower() for r in desk.reviews())


def test_no_refusal_to_a_domain_no_provider_has(desk: Desk) -> None:
    forged = f"traceback+{'B' * 30}@{DOMAIN}"
    raw = (
        f"From: victim@innocent.example\r\nTo: {forged}\r\nSubject: Re: Traceback\r\n"
        f"Message-ID: <f-1@innocent.example>\r\n\r\nWe received this call from Lingo Telecom.\r\n"
    ).encode()
    desk.send(raw, "victim@innocent.example", [forged])
    desk.settled(1)
    desk.cli("outbox", "send")
    assert not desk.received("victim@innocent.example")
