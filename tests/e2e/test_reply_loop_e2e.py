"""End to end over real SMTP against `mailbot serve`: confirmation of an unsure reading, learning from a review.

1. A reply mailbot is not sure of is proposed: the hop shows `proposed`, the carrier gets "We
   read your answer as ... Reply YES (SÍ)", answers YES over SMTP, and the next hop is opened.
2. A reply the rules cannot read goes to a person, who resolves the review with the answer
   (`review resolve --outcome upstream --upstream --email`: the next hop is opened); after
   `replies learn`, the same carrier's next reply in close words is read the same way.
"""

from __future__ import annotations

from pathlib import Path

from helpers.desk_e2e import SETTINGS, answer, cli, notice_to, plain, received
from helpers.mailbot_proc import Server, mailbot_env, wait_for
from mailbot.store.db import make_engine, session_scope

from mailbot.desk import views

CARRIER = "noc@smartbiz.example"
CALL = (
    "--campaign",
    "SSA-Suspended-SSN",
    "--call-time",
    "2026-10-30T14:05:00Z",
    "--called",
    "+12025550143",
    "--caller",
    "+16465550178",
)
HABIT = "{} again, same as last month."  # no phrase, no cue: only a person can read it


def test_confirmation_and_learning_over_smtp(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", CARRIER)
    cli(env, tmp_path, "providers", "add", "Lingo Telecom", "--email", "tb@lingo.example")
    server = Server(db_url, tmp_path, **settings)

    engine = make_engine(db_url)

    def show(number: int) -> dict:
        # What `traceback show --format json` prints (views.timeline), read in this process: one less CLI start.
        with session_scope(engine) as s:
            return views.timeline(s, number)

    def open_tb() -> int:
        return int(cli(env, tmp_path, "traceback", "open", "--provider", "Smartbiz Telecom", *CALL).strip())

    try:
        # 1. Proposed, confirmed by the carrier, next hop opened.
        one = open_tb()
        first = notice_to(outbox, CARRIER, "first_contact")
        answer(server.port, first, CARRIER, "Hi,\n\nwe got this call from zeta voice, noc@zeta.example\n\nBob", "gmail")
        asked = notice_to(outbox, CARRIER, "confirmation")
        assert "We read your answer as:" in plain(asked) and "zeta voice <noc@zeta.example>" in plain(asked)
        shown = show(one)["hops"]
        assert (shown[0]["proposed"]["outcome"], shown[0]["proposed"]["upstream_email"]) == (
            "upstream",
            "noc@zeta.example",
        )
        assert shown[0]["outcome"] is None and len(shown) == 1  # nothing applied yet
        answer(server.port, asked, CARRIER, "YES\n\nBob", "outlook")
        # The notice is queued in the transaction that applies the answer: once it is out, the hop shows it.
        assert notice_to(outbox, "noc@zeta.example", "first_contact")
        shown = show(one)["hops"]
        assert (shown[0]["outcome"], shown[0]["upstream_email"], shown[0]["proposed"]) == (
            "upstream",
            "noc@zeta.example",
            None,
        )
        assert [h["provider"] for h in shown] == ["Smartbiz Telecom", "zeta voice"]

        # 2. Read by a person, learned, then read the same way.
        two = open_tb()
        request = wait_for(
            lambda: next((m for m in _notices(outbox, CARRIER, "request") if f"#{two}]" in str(m["Subject"])), None),
            "the second request",
        )
        answer(server.port, request, CARRIER, HABIT.format("Kestrel Voice"), "gmail")
        notice_to(outbox, CARRIER, "clarification")
        with session_scope(engine) as s:
            (review,) = views.reviews(s)
        cli(
            env,
            tmp_path,
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
        assert notice_to(outbox, "noc@kestrel.example", "first_contact")
        assert "1 labelled example(s)" in cli(env, tmp_path, "replies", "learn")
        three = open_tb()
        request = wait_for(
            lambda: next((m for m in _notices(outbox, CARRIER, "request") if f"#{three}]" in str(m["Subject"])), None),
            "the third request",
        )
        answer(server.port, request, CARRIER, HABIT.format("Lingo Telecom"), "outlook")
        assert notice_to(outbox, "tb@lingo.example", "first_contact")
        assert [(h["provider"], h["outcome"]) for h in show(three)["hops"]] == [
            ("Smartbiz Telecom", "upstream"),
            ("Lingo Telecom", None),
        ]
        assert server.terminate() == 0
    finally:
        server.close()
        engine.dispose()


def _notices(outbox: Path, to: str, kind: str) -> list:
    return [m for m in received(outbox, to) if m["X-Mailbot-Notice"] == kind]
