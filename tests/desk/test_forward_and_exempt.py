"""Trace Forward on the business clock, disputes decided, and Strike Exempt marks, in process on both backends.

Replies go through the live pipeline (`helpers.desk_mail.deliver`); the scheduler runs as
`run_due` at chosen moments, as `mailbot --now T tick` does.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from helpers.desk_mail import NOW, deliver, hops, notice, open_tb, outbox, reply_to, reviews, text_of
from mailbot.scheduler import jobs
from mailbot.scheduler.metrics import reports
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Dispute, Provider, Traceback
from sqlalchemy.engine import Engine
from sqlmodel import select

from mailbot.app import App
from mailbot.desk import disputes, views, workflow


def _open_forward(app: App) -> int:
    with session_scope(app.engine) as s:
        tb = workflow.open_traceback(
            app,
            s,
            provider_name="Smartbiz Telecom",
            campaign="USPS-Smishing",
            now=NOW,
            called="+12025550199",
            direction="forward",
        )
        assert tb.id is not None
        return tb.id


def _tick(app: App, at: object) -> jobs.Summary:
    app.fixed_now = at  # type: ignore[assignment]
    return jobs.run_due(app, digest=False)


def _status(engine: Engine, name: str) -> str:
    with session_scope(engine) as s:
        return s.exec(select(Provider.status).where(Provider.name == name)).one()


def test_a_trace_forward_gets_its_reminder_then_no_response_on_the_business_clock(
    desk_app: App, engine: Engine
) -> None:
    tb = _open_forward(desk_app)
    request = notice(engine, "request", "noc@smartbiz.example")  # no first-contact letter for a Trace Forward
    assert "Trace Forward" in str(request["Subject"]) and "Call-back number: +12025550199" in text_of(request)
    assert _tick(desk_app, NOW + timedelta(hours=5)).reminders == 1
    assert "Trace Forward request" in text_of(notice(engine, "reminder", "noc@smartbiz.example"))
    assert _tick(desk_app, NOW + timedelta(days=5)).no_response == 1
    letter = notice(engine, "non_responsive", "noc@smartbiz.example")
    assert "non-responsive to this Trace Forward" in text_of(letter) and "originator" not in text_of(letter)
    with session_scope(engine) as s:
        shown = views.timeline(s, tb)
    assert (shown["status"], shown["result"], shown["direction"]) == ("closed", "no_response", "forward")
    # Not a Call Path: no label, so a silent Trace Forward hop gives no YELLOW status.
    assert shown["hops"][0]["label"] is None and _status(engine, "Smartbiz Telecom") == "GREEN"


def test_an_unknown_ported_carrier_goes_to_a_human_and_staff_name_it(desk_app: App, engine: Engine) -> None:
    tb = _open_forward(desk_app)
    deliver(
        desk_app, reply_to(notice(engine, "request", "noc@smartbiz.example"), "That number was ported out last year.")
    )
    assert [(h.outcome, h.upstream_name) for h in hops(engine, tb)] == [("not_ours", None)]
    assert [k for k, detail in reviews(engine) if "ported away" in detail] == ["unknown_upstream"]
    with session_scope(engine) as s:
        workflow.forward(desk_app, s, tb, "Lingo Telecom", NOW)
    assert "Smartbiz Telecom told us" in text_of(notice(engine, "request", "tb@lingo.example"))
    deliver(
        desk_app,
        reply_to(
            notice(engine, "request", "tb@lingo.example"),
            "The number is assigned to our subscriber Acme Callbacks LLC.",
            sender="tb@lingo.example",
        ),
    )
    with session_scope(engine) as s:
        row = s.get(Traceback, tb)
        assert row is not None and (row.result, row.origin_customer) == ("customer", "Acme Callbacks LLC")


def _yellow_traceback(app: App, engine: Engine) -> int:
    tb = open_tb(app)
    deliver(
        app,
        reply_to(
            notice(engine, "first_contact", "noc@smartbiz.example"),
            "This call was originated by our customer Acme Leads LLC.",
        ),
    )
    _tick(app, NOW + timedelta(hours=1))
    assert _status(engine, "Smartbiz Telecom") == "YELLOW"
    return tb


def test_a_rejected_dispute_changes_nothing_and_the_provider_is_told(desk_app: App, engine: Engine) -> None:
    tb = _yellow_traceback(desk_app, engine)
    ack = notice(engine, "acknowledgement", "noc@smartbiz.example")
    deliver(desk_app, reply_to(ack, "We dispute this traceback: the called party gave written consent."))
    with session_scope(engine) as s:
        listed = disputes.listing(s)
    assert [(d["traceback_id"], d["status"]) for d in listed] == [(tb, "open")]
    with session_scope(engine) as s:
        assert disputes.decide(desk_app, s, listed[0]["id"], False, "two carriers confirm the path", NOW) == []
    assert "rejected it: two carriers confirm the path" in text_of(
        notice(engine, "dispute_decision", "noc@smartbiz.example")
    )
    with session_scope(engine) as s, pytest.raises(disputes.DisputeError, match="already rejected"):
        disputes.decide(desk_app, s, listed[0]["id"], True, "again", NOW)
    assert _status(engine, "Smartbiz Telecom") == "YELLOW"


def test_strike_exempt_counts_toward_no_status_or_metrics_and_a_drop_is_told(desk_app: App, engine: Engine) -> None:
    tb = _yellow_traceback(desk_app, engine)
    with session_scope(engine) as s, pytest.raises(disputes.DisputeError, match="one of accepted_dispute"):
        disputes.exempt(s, tb, "because", NOW)
    with session_scope(engine) as s:
        assert [p for p, _ in reports(s, date(2026, 11, 1), date(2026, 12, 1), desk_app.rules.calendar.zone)]
        affected = disputes.exempt(s, tb, "testing", NOW, note="a test call")
    summary = jobs.reassess(desk_app, affected, NOW + timedelta(hours=2))
    assert summary.status_changes == 1 and _status(engine, "Smartbiz Telecom") == "GREEN"
    assert "GREEN" in text_of(notice(engine, "status_green", "noc@smartbiz.example"))
    # Kept in the record and flagged; the window's own decay later still sends no GREEN letter.
    with session_scope(engine) as s:
        row = views.listing(s)[0]
        assert (row["strike_exempt"], row["exempt_reason"], row["exempt_note"]) == (True, "testing", "a test call")
        assert reports(s, date(2026, 11, 1), date(2026, 12, 1), desk_app.rules.calendar.zone) == []
    _tick(desk_app, NOW + timedelta(hours=3))
    assert _status(engine, "Smartbiz Telecom") == "GREEN"
    assert len([m for m in outbox(engine) if m.kind == "status_green"]) == 1
    with session_scope(engine) as s:
        assert s.exec(select(Dispute)).all() == []  # an exemption for another reason needs no dispute
