"""Each rule that matches a reply to its hop, alone: the other three are absent from the reply.

The replies here quote nothing (a quoted notice carries its number and would be a second
clue), are sent from the hop's registered address, and name Lingo Telecom as the upstream;
a reply the rule under test cannot match stays an `unmatched` review and moves no hop.
"""

from __future__ import annotations

import email.message
import uuid
from email.message import EmailMessage

import pytest
from helpers.desk_mail import deliver, hops, notice, open_tb, reviews
from mailbot.store.db import session_scope
from sqlalchemy.engine import Engine

from mailbot.app import App
from mailbot.desk import providers

PLAIN_DESK = "traceback@desk.example"  # the desk's address without a token
ANSWER = "Hello,\n\nWe received this call from Lingo Telecom.\n\nRegards,\nNOC"


def bare_reply(
    to: str,
    subject: str = "Re: your request",
    body: str = ANSWER,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "NOC <noc@smartbiz.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@carrier.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    return bytes(msg)


def _first(app: App) -> tuple[int, email.message.Message]:
    tb = open_tb(app)
    engine = app.engine
    return tb, notice(engine, "first_contact", "noc@smartbiz.example")


def _answered(engine: Engine, tb: int) -> bool:
    first = hops(engine, tb)[0]
    return (first.outcome, first.upstream_name) == ("upstream", "Lingo Telecom")


def test_the_token_alone(desk_app: App, engine: Engine) -> None:
    tb, first = _first(desk_app)
    deliver(desk_app, bare_reply(to=str(first["Reply-To"])))
    assert _answered(engine, tb)


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_the_thread_alone(desk_app: App, engine: Engine, header: str) -> None:
    tb, first = _first(desk_app)
    notice_id = str(first["Message-ID"])
    thread = {"in_reply_to": notice_id} if header == "In-Reply-To" else {"references": f"<other@x.example> {notice_id}"}
    deliver(desk_app, bare_reply(to=PLAIN_DESK, **thread))
    assert _answered(engine, tb)


def test_the_subject_tag_alone(desk_app: App, engine: Engine) -> None:
    tb, _ = _first(desk_app)
    deliver(desk_app, bare_reply(to=PLAIN_DESK, subject=f"RE: [Traceback #{tb}] Traceback request"))
    assert _answered(engine, tb)


def test_a_number_in_the_words_alone(desk_app: App, engine: Engine) -> None:
    tb, _ = _first(desk_app)
    deliver(
        desk_app, bare_reply(to=PLAIN_DESK, body=f"About Traceback #{tb}: we received this call from Lingo Telecom.")
    )
    assert _answered(engine, tb)


def test_with_no_clue_at_all_nothing_moves(desk_app: App, engine: Engine) -> None:
    tb, _ = _first(desk_app)
    deliver(desk_app, bare_reply(to=PLAIN_DESK))
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert [k for k, _ in reviews(engine)] == ["unmatched"]


def test_the_first_rule_that_finds_something_decides(desk_app: App, engine: Engine) -> None:
    one, first = _first(desk_app)
    two = open_tb(desk_app)
    # The token says #one, the subject tag #two: the token wins. (Numbers in the words are left out:
    # a reply naming tracebacks in its text answers each one it names, by design.)
    deliver(desk_app, bare_reply(to=str(first["Reply-To"]), subject=f"Re: [Traceback #{two}]"))
    assert _answered(engine, one)
    assert [h.outcome for h in hops(engine, two)] == [None]


def test_a_name_close_to_a_known_provider_is_a_provider_match_review(desk_app: App, engine: Engine) -> None:
    with session_scope(engine) as s:
        providers.add(s, "Whisl", emails=["noc@whisl.example"])
    tb, first = _first(desk_app)
    deliver(desk_app, bare_reply(to=str(first["Reply-To"]), body="We received this call from Whistle."))
    # Not a provider mailbot knows: proposed, and confirmed by the carrier.
    confirmation = notice(engine, "confirmation", "noc@smartbiz.example")
    deliver(desk_app, bare_reply(to=str(confirmation["Reply-To"]), body="Sí, es correcto."))
    path = hops(engine, tb)
    assert [(h.outcome, h.upstream_name) for h in path] == [("upstream", "Whistle")]  # recorded, not guessed
    ((kind, detail),) = reviews(engine)
    assert kind == "provider_match" and "'Whistle'" in detail and "'Whisl'" in detail
    assert len(path) == 1  # no next hop opened until a human confirms
