"""Issue 12 §2: a reply can never change who a provider is."""

from __future__ import annotations

from .security_desk import CARRIER, UPSTREAM, Desk, answer, reply_to

MALLORY = "mallory@evil.example"


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
    # Until a person accepts it, the proposed address may answer nothing for the provider.
    upstream_notice = desk.notice(UPSTREAM[1], "first_contact")
    desk.send(
        answer(upstream_notice, "We received it from Evil Telecom.", sender=MALLORY),
        MALLORY,
        [reply_to(upstream_notice)],
    )
    desk.settled(2)
    assert desk.show(number)["hops"][1]["outcome"] is None
    assert any(r["kind"] == "unauthorized_sender" and MALLORY in r["detail"] for r in desk.reviews())
    # Accepted, it is a contact.
    (proposal,) = [r for r in desk.reviews() if r["kind"] == "contact_change"]
    assert "accepted" in desk.cli("review", "resolve", str(proposal["id"]), "--accept")
    lingo = next(p for p in desk.providers() if p["name"] == UPSTREAM[0])
    assert sorted(c["address"] for c in lingo["contacts"]) == sorted([UPSTREAM[1], MALLORY])
