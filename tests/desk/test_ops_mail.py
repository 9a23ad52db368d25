"""Ops settle reviews by replying to the digest, and with the same commands in a shell.

In process first (each command's effect and who may command), then end to end: a real
`mailbot serve`, carriers and ops writing to it over SMTP, the notices read from its Maildir.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.desk_e2e import SETTINGS, answer, cli, notice_to, plain
from helpers.desk_mail import NOW, deliver, hops, notice, open_tb, outbox, reply_to, text_of
from helpers.mailbot_proc import Server, mailbot_env, wait_for
from mailbot.scheduler import digest
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.desk import Review
from mailbot.store.tables.messages import Message
from sqlmodel import select

from mailbot import config as config_module
from mailbot.app import App, build_app
from mailbot.cli import main
from mailbot.desk import providers
from mailbot.domain.records import Arrival
from mailbot.intake.pipeline import process_pending, receive

OPS = "ops@desk.example"  # at the desk's own domain, which the desk otherwise never answers
ENV = {
    "MAILBOT_MAIL_SECRET": "test-secret",
    "MAILBOT_MAIL_DOMAIN": "desk.example",
    "MAILBOT_MAIL_FROM": "Traceback Desk <traceback@desk.example>",
    "MAILBOT_OPS_EMAIL": OPS,
}


@pytest.fixture
def ops_app(db_url: str) -> App:
    engine = make_engine(db_url)
    create_schema(engine)
    with session_scope(engine) as s:
        providers.add(s, "Smartbiz Telecom", emails=["noc@smartbiz.example"], now=NOW)
        providers.add(s, "Lingo Telecom", emails=["tb@lingo.example"], now=NOW)
    return build_app(config_module.load(environ=ENV), engine=engine)


def _digest(app: App) -> email.message.Message:
    with session_scope(app.engine) as s:
        msg = digest.send(app, s, NOW, key="digest:test")
    return email.message_from_bytes(bytes(msg), policy=email.policy.default)


def _review_ids(app: App) -> dict[str, int]:
    with session_scope(app.engine) as s:
        return {r.kind: r.id for r in s.exec(select(Review).where(Review.resolved.is_(False))).all()}  # type: ignore[attr-defined]


def _ops_reply(app: App) -> str:
    return text_of(notice(app.engine, "ops_reply", OPS))


def test_ops_reply_to_the_digest_applies_each_line_and_answers_what_it_did(ops_app: App) -> None:
    app = ops_app
    disputed, stray = open_tb(app), open_tb(app)
    deliver(app, reply_to(notice(app.engine, "first_contact", "noc@smartbiz.example"), "We dispute this traceback."))
    request = notice(app.engine, "request", "noc@smartbiz.example")
    assert f"#{stray}" in str(request["Subject"])
    deliver(app, reply_to(request, "We received this call from Lingo Telecom.", sender="night@smartbiz-noc.example"))
    ids = _review_ids(app)
    the_digest = _digest(app)
    assert f"reply: accept-contact {ids['unauthorized_sender']}" in text_of(the_digest)

    commands = (
        f'resolve {ids["dispute"]} upstream "Beta Voice" noc@betavoice.example\n'
        f"accept-contact {ids['unauthorized_sender']}\n"
        "close 999 not_found\n"
        "and please hurry\n"
    )
    assert receive(
        app.engine, Arrival("smtp", uuid.uuid4().hex, reply_to(the_digest, commands, sender=OPS), origin="smtp"), NOW
    )
    # The reply, then the unregistered sender's message, read again: its answer now moves the traceback.
    assert process_pending(app, NOW) == 2
    said = _ops_reply(app)
    assert said.count("  done: ") == 2 and said.count("NOT DONE: ") == 2, said
    assert "no traceback #999" in said and "not a command" in said
    assert [h.provider_id for h in hops(app.engine, disputed)][1:] == [3]  # Beta Voice, created from the line
    assert notice(app.engine, "first_contact", "noc@betavoice.example")
    assert [h.outcome for h in hops(app.engine, stray)] == ["upstream", None]
    assert _review_ids(app) == {}
    assert "Your commands: 2 done, 2 not done" in str(notice(app.engine, "ops_reply", OPS)["Subject"])


def _dispositions(app: App) -> list[str | None]:
    with session_scope(app.engine) as s:
        return list(s.exec(select(Message.disposition).order_by(Message.id)).all())


def test_only_an_ops_address_replying_to_its_digest_commands(ops_app: App) -> None:
    app = ops_app
    tb = open_tb(app)
    the_digest = _digest(app)
    line = f"close {tb} not_found"
    deliver(app, reply_to(the_digest, line, sender="intruder@elsewhere.example"))  # not ops
    fresh = EmailMessage()  # ops, but replying to nothing mailbot sent them
    fresh["From"], fresh["To"], fresh["Subject"] = OPS, "traceback@desk.example", "commands"
    fresh["Message-ID"] = f"<{uuid.uuid4().hex}@desk.example>"
    fresh.set_content(line)
    deliver(app, bytes(fresh))
    deliver(app, reply_to(the_digest, line, sender=OPS, extra={"Auto-Submitted": "auto-replied"}))  # a robot
    assert "ops-command" not in _dispositions(app)
    assert [h.outcome for h in hops(app.engine, tb)] == [None]
    assert not [m for m in outbox(app.engine) if m.kind == "ops_reply"]
    deliver(app, reply_to(the_digest, "help", sender=OPS))
    assert _dispositions(app)[-1] == "ops-command" and "accept-contact REVIEW" in _ops_reply(app)


def test_the_shell_runs_the_same_commands(ops_app: App, db_url: str) -> None:
    app = ops_app
    tb = open_tb(app)
    deliver(app, reply_to(notice(app.engine, "first_contact", "noc@smartbiz.example"), "We dispute this traceback."))
    review = _review_ids(app)["dispute"]
    run = CliRunner(env=ENV).invoke
    args = ["--db", db_url, "--now", NOW.isoformat(), "review", "resolve", str(review)]
    done = run(main, [*args, "upstream", "Lingo Telecom"], catch_exceptions=False)
    assert done.exit_code == 0 and f"traceback #{tb} hop 0 upstream Lingo Telecom; hop 1 requested" in done.output
    again = run(main, [*args, "not_found"])
    assert again.exit_code != 0 and "resolved already" in again.output
    wrong = run(main, ["--db", db_url, "review", "resolve", "1", "maybe"])
    assert wrong.exit_code == 2 and "not an answer" in wrong.output


def _send(port: int, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(sender, ["traceback@desk.example"], raw)


def test_ops_answer_the_digest_over_smtp_to_serve(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(out), "ops_email": OPS}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    server = Server(db_url, tmp_path, **settings)
    try:
        call = ["--campaign", "SSA", "--call-time", "2026-10-30T14:05:00Z", "--called", "+12025550143"]
        number = cli(
            env, tmp_path, "traceback", "open", "--provider", "Smartbiz Telecom", *call, "--caller", "+16465550178"
        ).strip()
        first = notice_to(out, "noc@smartbiz.example", "first_contact")
        answer(
            server.port, first, "noc@smartbiz.example", "We dispute this traceback; the campaign is lawful.", "gmail"
        )
        wait_for(lambda: "dispute" in cli(env, tmp_path, "review", "list"), "the dispute review")
        cli(env, tmp_path, "digest", "--send")
        the_digest = wait_for(
            lambda: next((m for m in _maildir(out) if str(m["Subject"]).startswith("mailbot daily digest")), None),
            "the digest to ops",
        )
        assert isinstance(the_digest, email.message.Message)
        line = re.search(r"reply: (resolve \d+ upstream \"NAME\" ADDRESS)", plain(the_digest))
        assert line, plain(the_digest)
        command = line.group(1).replace('"NAME" ADDRESS', '"Beta Voice" noc@betavoice.example')
        _send(server.port, reply_to(the_digest, command, sender=OPS, to="traceback@desk.example"), OPS)
        said = plain(notice_to(out, OPS, "ops_reply"))
        assert "done: review" in said and f"traceback #{number} hop 0 upstream Beta Voice" in said
        assert f"[Traceback #{number}]" in str(notice_to(out, "noc@betavoice.example", "first_contact")["Subject"])
    finally:
        server.close()


def _maildir(folder: Path) -> list[email.message.Message]:
    if not (folder / "new").exists():
        return []
    return [
        email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
        for m in mailbox.Maildir(folder, create=False)
    ]
