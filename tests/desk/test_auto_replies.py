"""Every kind of automatic mail the README lists never advances a hop and is never answered.

README ("Refusals"): `Auto-Submitted` other than `no`, `Precedence: bulk/junk/list`,
`X-Autoreply`/`X-Autorespond`, `List-Id`, out-of-office subjects, mail from mailbot's own
domain (bounces: tests/desk/test_desk.py). Each reply below would otherwise be a clear
`upstream` answer from a stranger or the provider, so a broken rule shows as a moved hop
or a queued notice.
"""

from __future__ import annotations

import pytest
from helpers.desk_mail import deliver, hops, notice, open_tb, outbox, reply_to
from sqlalchemy.engine import Engine

from mailbot.app import App

BODY = "I am away until Monday. We received this call from Lingo Telecom."

HEADERS = {
    "auto-submitted-auto-replied": {"Auto-Submitted": "auto-replied"},
    "auto-submitted-auto-notified": {"Auto-Submitted": "auto-notified"},
    "precedence-bulk": {"Precedence": "bulk"},
    "precedence-junk": {"Precedence": "junk"},
    "precedence-list": {"Precedence": "list"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "x-autorespond": {"X-Autorespond": "Out of office"},
    "list-id": {"List-Id": "NOC team <noc.smartbiz.example>"},
}
SUBJECTS = ["Automatic reply:", "Out of Office:", "Auto-Reply:", "Respuesta automática:"]


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_automatic_headers(desk_app: App, engine: Engine, headers: dict[str, str]) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    before = len(outbox(engine))
    deliver(desk_app, reply_to(first, BODY, extra=headers))
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert len(outbox(engine)) == before


@pytest.mark.parametrize("prefix", SUBJECTS)
def test_out_of_office_subjects(desk_app: App, engine: Engine, prefix: str) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    before = len(outbox(engine))
    raw = reply_to(first, BODY).replace(b"Subject: Re: ", f"Subject: {prefix} Re: ".encode(), 1)
    deliver(desk_app, raw)
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert len(outbox(engine)) == before


def test_mail_from_our_own_domain(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    before = len(outbox(engine))
    # A stranger would get a refusal; our own domain gets nothing, so two mailbots cannot loop.
    deliver(desk_app, reply_to(first, BODY, sender="traceback@desk.example"))
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert len(outbox(engine)) == before


def test_the_same_reply_without_a_trigger_is_an_answer(desk_app: App, engine: Engine) -> None:
    """The control: these replies are answers but for their automatic marks."""
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, BODY, extra={"Auto-Submitted": "no"}))
    assert next(h.outcome for h in hops(engine, tb)) == "upstream"
