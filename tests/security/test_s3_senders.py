"""Issue 12 §3: senders are who they claim."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import dkim
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


def test_dkim_fail_with_no_aligned_pass_through_the_pipe_is_not_applied(make_desk: object) -> None:
    """A passing signature of some other domain does not vouch for the From domain."""
    desk: Desk = make_desk(mail_trusted_authserv_id=AUTHSERV)  # type: ignore[operator]
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    results = f"{AUTHSERV}; dkim=fail header.d=smartbiz.example; dkim=pass header.d=bulkmailer.example"
    desk.pipe(answer(notice, ANSWER, extra={"Authentication-Results": results}), recipient=reply_to(notice))
    desk.settled(1)
    assert desk.show(number)["hops"][0]["answered_at"] is None
    (review,) = desk.reviews()
    assert review["kind"] == "unauthenticated" and "dkim=fail" in review["detail"], review
    desk.cli("outbox", "send")
    assert not desk.received("tb@lingo.example") and not desk.received(CARRIER[1])[1:]  # nothing sent back


def test_results_of_an_untrusted_authserv_id_count_for_nothing(make_desk: object) -> None:
    """Anyone can write the header: only the trusted MTA's are read."""
    desk: Desk = make_desk(mail_trusted_authserv_id=AUTHSERV)  # type: ignore[operator]
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    results = "mx.elsewhere.example; dkim=fail header.d=smartbiz.example; dmarc=fail header.from=smartbiz.example"
    desk.send(answer(notice, ANSWER, extra={"Authentication-Results": results}), CARRIER[1], [reply_to(notice)])
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


def test_a_provider_that_must_be_dkim_aligned_answers_only_signed(make_desk: object) -> None:
    desk: Desk = make_desk(mail_trusted_authserv_id=AUTHSERV)  # type: ignore[operator]
    desk.cli("providers", "add", CARRIER[0], "--require-dkim")
    assert next(p for p in desk.providers() if p["name"] == CARRIER[0])["require_dkim"] is True
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    desk.send(answer(notice, ANSWER), CARRIER[1], [reply_to(notice)])  # no signature at all
    desk.settled(1)
    assert desk.show(number)["hops"][0]["answered_at"] is None
    assert any(r["kind"] == "unauthenticated" and "DKIM-aligned" in r["detail"] for r in desk.reviews())
    # A signature of a subdomain of the From domain that the trusted MTA verified is aligned.
    signed = {"Authentication-Results": f"{AUTHSERV}; dkim=pass header.d=mail.smartbiz.example"}
    desk.send(answer(notice, ANSWER, extra=signed), CARRIER[1], [reply_to(notice)])
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


def _dkim_key(folder: Path) -> tuple[bytes, str]:
    """A fresh RSA key, and its DNS TXT record."""
    pem = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(pem), "1024"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return pem.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def test_mailbots_own_dkim_check_passes_a_signed_answer_and_refuses_an_altered_one(
    make_desk: object, tmp_path: Path
) -> None:
    """`[mail] verify_dkim`: dkimpy, its key lookups answered from the test's keys (no DNS here)."""
    key, record = _dkim_key(tmp_path)
    desk: Desk = make_desk(  # type: ignore[operator]
        dkim_keys={"sel1._domainkey.smartbiz.example": record}, mail_verify_dkim="true"
    )
    desk.cli("providers", "add", CARRIER[0], "--require-dkim")
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")

    def signed() -> bytes:  # each its own Message-ID: a second copy of one message is a duplicate
        raw = answer(notice, ANSWER)
        return dkim.sign(raw, b"sel1", b"smartbiz.example", key, include_headers=[b"from", b"to", b"subject"]) + raw

    desk.send(signed().replace(b"Lingo Telecom", b"Evil Telecom"), CARRIER[1], [reply_to(notice)])
    desk.settled(1)
    assert desk.show(number)["hops"][0]["answered_at"] is None
    assert any(r["kind"] == "unauthenticated" for r in desk.reviews())
    desk.send(signed(), CARRIER[1], [reply_to(notice)])
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


def test_refusals_at_most_one_a_day_and_none_for_a_failed_message(make_desk: object) -> None:
    """An address at a provider's domain that may not answer gets one refusal a day; not when
    its message failed authentication (its From may be forged: that would be backscatter)."""
    desk: Desk = make_desk(mail_trusted_authserv_id=AUTHSERV)  # type: ignore[operator]
    desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    failing = {"Authentication-Results": f"{AUTHSERV}; dmarc=fail header.from=smartbiz.example"}
    stranger = "intern@smartbiz.example"
    desk.send(answer(notice, ANSWER, sender=stranger, extra=failing), stranger, [reply_to(notice)])
    desk.settled(1)
    desk.cli("outbox", "send")
    assert not desk.received(stranger)
    for count in (2, 3):
        desk.send(answer(notice, ANSWER, sender=stranger), stranger, [reply_to(notice)])
        desk.settled(count)
    desk.cli("outbox", "send")
    assert [m["X-Mailbot-Notice"] for m in desk.received(stranger)] == ["refusal"]
