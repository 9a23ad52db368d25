"""The desk reads a reply knowing the notices it sent on the hop (real PostgreSQL, real pipeline)."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from helpers.desk_mail import deliver, hops, notice, open_tb, text_of
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Traceback
from sqlalchemy.engine import Engine

from mailbot.app import App


def _android_reply(original, body: str, *, below: bool) -> bytes:
    """An Android client's reply: the notice pasted unquoted under '---- On ... wrote ----'."""
    msg = EmailMessage()
    msg["From"] = "NOC <noc@smartbiz.example>"
    msg["To"] = str(original["Reply-To"] or original["From"])
    msg["Subject"] = "Re: " + str(original["Subject"])
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@carrier.example>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    header = "---- On Mon, 2 Nov 2026 10:14:03 -0500 Traceback Desk <traceback@desk.example> wrote ----"
    quoted = f"{header}\n\n{text_of(original)}\n"
    msg.set_content(f"{quoted}\n{body}\n" if below else f"{body}\n\n{quoted}")
    return bytes(msg)


def test_the_pasted_notice_does_not_close_the_traceback(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    assert "could not find the call" in text_of(first)  # the sentence that used to read as not_found
    deliver(desk_app, _android_reply(first, "We're checking with our NOC, will revert.", below=False))
    assert hops(engine, tb)[0].outcome is None
    with session_scope(engine) as s:
        row = s.get(Traceback, tb)
        assert row is not None and row.status == "open"


def test_a_bottom_posted_answer_below_the_pasted_notice_is_read(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(
        desk_app,
        _android_reply(
            first,
            "It came from Lingo Telecom (tb@lingo.example). Copy our legal team at legal@smartbiz.example.",
            below=True,
        ),
    )
    hop = hops(engine, tb)[0]
    assert (hop.outcome, hop.upstream_name, hop.upstream_email) == ("upstream", "Lingo Telecom", "tb@lingo.example")
