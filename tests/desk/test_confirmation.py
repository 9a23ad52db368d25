"""The confirmation loop (issue 13, item 5): an unsure reading is proposed, not applied, until the carrier confirms.

A reading between the `[desk]` bars is kept on the hop as `proposed`; the carrier gets "We read
your answer as: ... Reply YES (SÍ) to confirm, or correct it"; a YES applies it, a corrected answer
replaces it; `traceback show --format json` and `export replies` show the proposal.
"""

from __future__ import annotations

import json

from helpers.desk_mail import deliver, hops, notice, open_tb, outbox, reply_to, reviews, text_of
from mailbot.store.db import session_scope
from sqlalchemy.engine import Engine

from mailbot.app import App
from mailbot.archive import export
from mailbot.desk import views

SMARTBIZ = "noc@smartbiz.example"


def _first_answered(app: App, engine: Engine, words: str) -> int:

    tb = open_tb(app)
    deliver(app, reply_to(notice(engine, "first_contact", SMARTBIZ), words))
    return tb


def _show(engine: Engine, tb: int) -> dict:
    with session_scope(engine) as s:
        return views.timeline(s, tb)


def test_an_unsure_reading_is_proposed_then_confirmed_and_the_next_hop_opens(desk_app: App, engine: Engine) -> None:

    # A lower-case name of a provider mailbot does not know: below the new-provider bar.
    tb = _first_answered(desk_app, engine, "we got this call from zeta voice, noc@zeta.example")
    (hop,) = hops(engine, tb)
    assert hop.answered_at is None and hop.outcome is None  # nothing applied
    shown = _show(engine, tb)["hops"][0]["proposed"]
    assert shown["outcome"] == "upstream" and shown["upstream_name"] == "zeta voice"
    assert shown["upstream_email"] == "noc@zeta.example" and 0.5 <= shown["confidence"] < 0.9
    assert set(shown) == {"outcome", "upstream_name", "upstream_email", "customer_name", "confidence"}
    asked = notice(engine, "confirmation", SMARTBIZ)
    words = text_of(asked)
    assert "We read your answer as:" in words and "zeta voice <noc@zeta.example>" in words
    assert "Reply YES to confirm" in words and "Responda SÍ" in words
    assert not any(m.kind == "acknowledgement" for m in outbox(engine))
    with session_scope(engine) as s:
        (row,) = [r for r in export.replies(s) if r["proposed"]]
    assert row["proposed"] == {k: shown[k] for k in row["proposed"]} and row["confidence"] == shown["confidence"]

    deliver(desk_app, reply_to(asked, "YES"))
    path = hops(engine, tb)
    assert [(h.outcome, h.upstream_email, h.proposed) for h in path[:1]] == [("upstream", "noc@zeta.example", None)]
    assert len(path) == 2 and notice(engine, "first_contact", "noc@zeta.example")  # the new provider is asked
    assert _show(engine, tb)["hops"][0]["proposed"] is None


def test_a_correction_replaces_the_proposal(desk_app: App, engine: Engine) -> None:

    tb = _first_answered(desk_app, engine, "nos llegó de zeta voz, noc@zetavoz.example")
    asked = notice(engine, "confirmation", SMARTBIZ)
    deliver(desk_app, reply_to(asked, "No, perdón: la llamada nos llegó de Lingo Telecom."))
    path = hops(engine, tb)
    assert [(h.outcome, h.upstream_name) for h in path[:1]] == [("upstream", "Lingo Telecom")]
    assert notice(engine, "first_contact", "tb@lingo.example") and path[0].proposed is None


def test_a_yes_without_a_proposal_is_no_answer(desk_app: App, engine: Engine) -> None:
    tb = _first_answered(desk_app, engine, "Sí")
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert reviews(engine)[0][0] == "low_confidence" and notice(engine, "clarification", SMARTBIZ)


def test_the_bars_are_settings(db_url: str) -> None:
    from mailbot import config as config_module

    settings = config_module.load(environ={"MAILBOT_DESK_CLOSE_AT": "0.95", "MAILBOT_DESK_PROPOSE_AT": "0.6"})
    assert (settings.desk.bars.close_at, settings.desk.bars.propose_at, settings.desk.bars.apply_at) == (0.95, 0.6, 0.8)
    try:
        config_module.load(environ={"MAILBOT_DESK_APPLY_AT": "0.4"})
    except config_module.ConfigError as exc:
        assert "[desk] apply_at must be at least propose_at" in str(exc)
    else:
        raise AssertionError("a bar under propose_at loaded")
    assert json.dumps(settings.values["desk"]["apply_at"]) == "0.8"
