"""Issue 12 §2: a reply can never change who a provider is."""

from __future__ import annotations

import pytest

from .security_desk import CARRIER, UPSTREAM, Desk, answer, reply_to

MALLORY = "mallory@evil.example"


@pytest.mark.xfail(strict=True, reason="issue 12 §2: a reply adds a contact to an existing provider with no human")
def test_a_reply_naming_a_known_provider_with_a_new_address_is_a_review(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    words = f"Hi,\n\nOur upstream is {UPSTREAM[0]}, contact {MALLORY}.\n\nThanks,\nJohn"
    desk.send(answer(notice, words), CARRIER[1], [reply_to(notice)])
    desk.settled(1)
    lingo = next(p for p in desk.providers() if p["name"] == UPSTREAM[0])
    assert [c["address"] for c in lingo["contacts"]] == [UPSTREAM[1]]
    assert not desk.received(MALLORY), "the proposed address got the provider's notice"
    assert any(MALLORY in r["detail"] and not r["resolved"] for r in desk.reviews())
    ack = desk.notice(CARRIER[1], "acknowledgement")
    assert "pending" in ack.get_body(preferencelist=("plain",)).get_content().lower()  # type: ignore[union-attr]
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"
