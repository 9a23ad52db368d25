"""Every notice renders, reads as its kind, and parses back to the incident it carries."""

from __future__ import annotations

import email
import email.message
from email.policy import default as modern
from typing import Any

import pytest
from helpers.notice_context import CALL, CONTEXT, NOW, OTHER_CALL
from mailbot.parsers import call_details
from mailbot.parsers.message import parse_message
from mailbot.parsers.mime import body_text, parse_bytes

from mailbot.domain.records import CallDetails, Kind
from mailbot.outbound.outbox import build_message
from mailbot.outbound.render import render

# Notice kind -> the kind the import parsers must read it as (None: no such kind; still must parse back).
PARSES_AS: dict[str, Kind | None] = {
    "first_contact": Kind.TRACEBACK_REQUEST,
    "request": Kind.TRACEBACK_REQUEST,
    "reminder": Kind.REMINDER,
    "acknowledgement": None,
    "clarification": None,
    "upstream_not_responded": Kind.UPSTREAM_NOT_RESPONDED,
    "non_responsive": Kind.NON_RESPONSIVE,
    "escalation": Kind.NON_RESPONSIVE,
    "status_yellow": Kind.STATUS_CHANGE,
    "status_red": Kind.STATUS_CHANGE,
    "status_change": Kind.STATUS_CHANGE,
    "comment_relay": Kind.COMMENT,
    "status_list": None,
    "refusal": None,
}
EXPECTED = {
    2640: CallDetails(incident_id="2640", **CALL),
    11540: CallDetails(incident_id="11540", **OTHER_CALL),
}


def _mime(kind: str, context: dict = CONTEXT) -> bytes:
    msg = build_message(
        kind=kind,
        to=["noc@smartbiztel.com"],
        context=context,
        now=NOW,
        sender="Traceback Desk <traceback@mailbot.localhost>",
        domain="mailbot.localhost",
        reply_to="traceback+7-0123456789abcdef0123@mailbot.localhost",
    )
    return msg.as_bytes()


def _carried(kind: str) -> list[CallDetails]:
    if kind == "refusal":
        return []  # a refusal goes to someone not entitled to the call details
    if kind == "status_list":
        return [EXPECTED[2640], EXPECTED[11540]]
    return [EXPECTED[2640]]


@pytest.mark.parametrize("kind", list(PARSES_AS))
def test_notice_parses_back_to_its_kind_and_incident(kind: str) -> None:
    raw = _mime(kind)
    parsed = parse_message(raw)
    assert parsed.quarantine is None, parsed.quarantine
    if PARSES_AS[kind] is not None:
        assert parsed.kind == PARSES_AS[kind]
    assert "[Traceback #2640]" in parsed.envelope.subject
    blocks = call_details.extract(body_text(parse_bytes(raw)))
    assert list(blocks) == _carried(kind)
    if parsed.kind in (Kind.TRACEBACK_REQUEST, Kind.REMINDER, Kind.UPSTREAM_NOT_RESPONDED):
        assert list(parsed.incidents) == _carried(kind)  # counted as sightings, exactly as an import would
    elif _carried(kind):
        assert "2640" in parsed.referenced_ids


@pytest.mark.parametrize("kind", [k for k in PARSES_AS if k != "refusal"])
def test_html_alternative_alone_carries_the_same_call_details(kind: str) -> None:
    msg = email.message_from_bytes(_mime(kind), policy=modern)
    html = next(part for part in msg.walk() if part.get_content_type() == "text/html")
    html_only = email.message.EmailMessage()
    html_only["Subject"] = msg["Subject"]
    html_only.set_content(html.get_content(), subtype="html")
    assert list(call_details.extract(body_text(parse_bytes(html_only.as_bytes())))) == _carried(kind)


def test_message_is_multipart_alternative_with_threading_and_loop_headers() -> None:
    msg = email.message_from_bytes(_mime("request"), policy=modern)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Reply-To"] == "traceback+7-0123456789abcdef0123@mailbot.localhost"
    message_id = str(msg["Message-ID"]).strip()
    assert message_id.startswith("<") and message_id.endswith("@mailbot.localhost>")


def test_specific_wording_is_filled_in() -> None:
    upstream = render("upstream_not_responded", CONTEXT)
    assert (
        "Smart Network Solutions Communications Corp has not yet responded to the request for Traceback #2640"
        in upstream.text
    )
    parsed = parse_message(_mime("upstream_not_responded"))
    assert parsed.upstream_notice is not None
    assert parsed.upstream_notice.provider == "Smart Network Solutions Communications Corp"
    comment = parse_message(_mime("comment_relay")).comment
    assert comment is not None and comment.author == "David Frankel"
    assert comment.text == "Please know that we tried to contact Chock Telecom.\nThey did not answer."
    ack = render("acknowledgement", CONTEXT).text
    assert "Upstream provider: Chock Telecom" in ack and "noc@chocktelecom.com" in ack
    assert "reply to this email with the correction" in ack
    assert "Your status is now YELLOW" in render("status_yellow", CONTEXT).text
    assert "your status is now RED" in render("status_red", CONTEXT).text
    assert "status has changed to YELLOW" in render("status_change", CONTEXT).text
    assert "2020-06-29 17:44:00 UTC" in render("first_contact", CONTEXT).text
    assert "You have no open traceback requests" in render("status_list", {**CONTEXT, "open_requests": []}).text


def test_refusal_reveals_no_call_details_or_provider() -> None:
    refusal = render("refusal", CONTEXT)
    for secret in ("+14072223658", "Utility-30MinDisconnect", "Smartbiz", "Big Terminating Carrier"):
        assert secret not in refusal.text and secret not in refusal.html


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown notice kind 'bogus'"):
        render("bogus", CONTEXT)


HOSTILE = "Evil <script>alert(1)</script> & Co\r\nBcc: victim@example.com\r\n\r\nCall Details for Traceback #999"


def test_carrier_text_is_escaped_in_html_and_cannot_forge_a_block() -> None:
    context = {
        **CONTEXT,
        "upstream_name": HOSTILE,
        "recorded": {**CONTEXT["recorded"], "upstream_name": HOSTILE, "evidence": HOSTILE},
        "comment": {"author": HOSTILE, "organization": HOSTILE, "text": HOSTILE + "\nDate/Time: 2001-01-01"},
    }
    for kind in ("acknowledgement", "upstream_not_responded", "status_change", "comment_relay"):
        rendered = render(kind, context)
        assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
        raw = _mime(kind, context)
        assert list(call_details.extract(body_text(parse_bytes(raw)))) == [EXPECTED[2640]]


def test_header_injection_through_names_is_folded_into_one_subject_line() -> None:
    raw = _mime("status_change", {**CONTEXT, "upstream_name": HOSTILE})
    msg = email.message_from_bytes(raw, policy=modern)
    assert msg["Bcc"] is None
    assert len(msg.get_all("Subject") or []) == 1
    subject = str(msg["Subject"])
    assert "\n" not in subject and "\r" not in subject
    assert "Bcc: victim@example.com" in subject  # kept as text, harmless inside the subject
    assert len(render("status_change", {**CONTEXT, "upstream_name": "x" * 5000}).subject) <= 200


@pytest.mark.parametrize("field", ["to", "reply_to"])
def test_addresses_with_line_breaks_are_refused(field: str) -> None:
    bad = "noc@smartbiztel.com\r\nBcc: victim@example.com"
    args: dict[str, Any] = {"to": ["noc@smartbiztel.com"], "reply_to": None, field: [bad] if field == "to" else bad}
    with pytest.raises(ValueError, match="line break"):
        build_message(
            kind="request", context=CONTEXT, now=NOW, sender="d@mailbot.localhost", domain="mailbot.localhost", **args
        )


def test_hostile_in_reply_to_keeps_only_a_message_id() -> None:
    msg = build_message(
        kind="acknowledgement",
        to=["noc@smartbiztel.com"],
        context=CONTEXT,
        now=NOW,
        sender="d@mailbot.localhost",
        domain="mailbot.localhost",
        in_reply_to="<abc@carrier.example>\r\nBcc: victim@example.com",
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=modern)
    assert parsed["In-Reply-To"] == "<abc@carrier.example>" and parsed["Bcc"] is None


def test_a_top_posted_reply_quoting_a_notice_reads_as_an_answer_to_its_traceback() -> None:
    notice = email.message_from_bytes(_mime("request"), policy=modern)
    plain = notice.get_body(("plain",))
    assert plain is not None
    quoted = "\n".join("> " + line for line in plain.get_content().splitlines())
    reply = email.message.EmailMessage()
    reply["From"], reply["To"] = "noc@smartbiztel.com", notice["Reply-To"]
    reply["Subject"], reply["In-Reply-To"] = "Re: " + str(notice["Subject"]), notice["Message-ID"]
    reply.set_content(
        "Hi,\n\nWe received this call from Chock Telecom (noc@chocktelecom.com).\n\nThanks,\nJR\n\n"
        "On Fri, Jun 26, 2020 at 5:44 PM Traceback Desk <traceback@mailbot.localhost> wrote:\n" + quoted
    )
    parsed = parse_message(reply.as_bytes())
    assert parsed.kind == Kind.REPLY and parsed.referenced_ids == ("2640",)
    assert parsed.reply is not None and parsed.reply.outcome == "upstream"
    assert (parsed.reply.upstream_name, parsed.reply.upstream_email) == ("Chock Telecom", "noc@chocktelecom.com")
