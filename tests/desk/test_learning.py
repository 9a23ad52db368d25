"""Learning from the people who fix it (issue 13, item 6): a review resolved with the answer teaches the desk.

`mailbot review resolve ID --outcome upstream --upstream NAME --email ADDR` applies the answer to
the hop and keeps the carrier's words as a labelled example; after `mailbot replies learn`, a
later reply in close words is read the same way (with its own names); `mailbot replies export`
writes the labelled set.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from helpers.desk_mail import deliver, hops, notice, open_tb, reply_to
from mailbot.parsers.reply_learn import Example, nearest
from mailbot.store.db import session_scope
from sqlalchemy.engine import Engine

from mailbot.app import App
from mailbot.cli import main
from mailbot.desk import views

SMARTBIZ = "noc@smartbiz.example"
WORDS = "{} again, same as last month."  # no phrase, no cue: only a person can read it


def _cli(db_url: str, *args: str) -> str:
    env = {"MAILBOT_MAIL_SECRET": "test-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}
    done = CliRunner().invoke(main, ["--db", db_url, "--now", "2026-11-02T18:00:00Z", *args], env=env)
    assert done.exit_code == 0, done.output
    return done.output


def test_a_resolved_review_teaches_the_desk_to_read_close_words(desk_app: App, engine: Engine, db_url: str) -> None:
    tb = open_tb(desk_app)
    deliver(desk_app, reply_to(notice(engine, "first_contact", SMARTBIZ), WORDS.format("Kestrel Voice")))
    assert [h.outcome for h in hops(engine, tb)] == [None]  # the rules cannot read it: a person is asked
    (review,) = json.loads(_cli(db_url, "review", "list", "--format", "json"))
    assert review["kind"] == "low_confidence"

    said = _cli(
        db_url,
        "review",
        "resolve",
        str(review["id"]),
        "--outcome",
        "upstream",
        "--upstream",
        "Kestrel Voice",
        "--email",
        "noc@kestrel.example",
    )
    assert "hop 1 requested" in said
    path = hops(engine, tb)
    assert [(h.outcome, h.upstream_name) for h in path[:1]] == [("upstream", "Kestrel Voice")]
    assert len(path) == 2 and notice(engine, "first_contact", "noc@kestrel.example")  # applied: next hop asked
    assert _cli(db_url, "review", "list").strip() == ""
    (example,) = [json.loads(line) for line in _cli(db_url, "replies", "export").splitlines()]
    assert example["body"] == WORDS.format("Kestrel Voice") and example["in_model"] is False
    assert example["expected"] == {
        "outcome": "upstream",
        "upstream_name": "Kestrel Voice",
        "upstream_email": "noc@kestrel.example",
        "customer_name": None,
    }

    assert "1 labelled example(s) in the model (1 new)" in _cli(db_url, "replies", "learn")
    # Another traceback, the same carrier's habit, another upstream (one mailbot knows): read the same way.
    second = open_tb(desk_app)
    deliver(desk_app, reply_to(notice(engine, "request", SMARTBIZ), WORDS.format("Lingo Telecom")))
    assert [(h.outcome, h.upstream_name) for h in hops(engine, second)[:1]] == [("upstream", "Lingo Telecom")]
    assert notice(engine, "first_contact", "tb@lingo.example")
    with session_scope(engine) as s:
        assert views.timeline(s, second)["hops"][0]["proposed"] is None  # near enough to apply


def test_resolve_refuses_what_it_cannot_apply(desk_app: App, engine: Engine, db_url: str) -> None:
    open_tb(desk_app)
    deliver(desk_app, reply_to(notice(engine, "first_contact", SMARTBIZ), "Hmm."))
    (review,) = json.loads(_cli(db_url, "review", "list", "--format", "json"))
    env = {"MAILBOT_MAIL_SECRET": "test-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}
    bare = CliRunner().invoke(
        main, ["--db", db_url, "review", "resolve", str(review["id"]), "--outcome", "upstream"], env=env
    )
    assert bare.exit_code != 0 and "needs --upstream NAME or --email ADDR" in bare.output
    stray = CliRunner().invoke(
        main, ["--db", db_url, "review", "resolve", str(review["id"]), "--upstream", "X"], env=env
    )
    assert stray.exit_code != 0 and "go with --outcome" in stray.output


def test_nearest_neighbours_read_names_where_the_example_had_them() -> None:
    examples = [
        Example(WORDS.format("Lingo Telecom"), "upstream", "Lingo Telecom"),
        Example("Nada en nuestros equipos sobre ese número, no está dado de alta.", "not_found"),
        Example(
            "Es un cliente minorista nuestro, Sol Naciente SRL; cuenta suspendida.",
            "origin",
            customer_name="Sol Naciente SRL",
        ),
    ]
    upstream = nearest(WORDS.format("Ostara Networks GmbH"), examples)
    assert upstream is not None and (upstream.outcome, upstream.upstream_name) == ("upstream", "Ostara Networks GmbH")
    origin = nearest("Es un cliente minorista nuestro, Luna Azul S.A.S.; cuenta suspendida.", examples)
    assert origin is not None and (origin.outcome, origin.customer_name) == ("origin", "Luna Azul S.A.S")
    found = nearest("Nada en nuestros equipos sobre ese numero, no esta dado de alta", examples)
    assert found is not None and found.outcome == "not_found" and found.confidence >= 0.9
    assert nearest("We received this call from Lingo Telecom.", examples) is None  # not close: the rules read it
