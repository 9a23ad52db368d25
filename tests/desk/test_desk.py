"""The traceback desk's workflow, driven by real mail through the live pipeline, on both backends.

Notices are read back from the outbox as the carrier would receive them; replies are
built as mail clients build them (top-posted, quoting the notice) and go through
`pipeline.receive` + `process_pending`, the path SMTP/IMAP intake uses.
"""

from __future__ import annotations

import email
import email.message
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from click.testing import CliRunner
from helpers.desk_mail import NOW, deliver, hops, notice, open_tb, outbox, reply_to, reviews, text_of
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Provider, ProviderContact, Review, Traceback
from mailbot.store.tables.messages import Incident, Message
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailbot.app import App
from mailbot.cli import main
from mailbot.desk import providers, views


def test_upstream_opens_next_hop_with_first_contact_then_origin_closes(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    assert f"[Traceback #{tb}]" in str(first["Subject"])
    assert parse_message(first.as_bytes()).incidents[0].incident_id == str(tb)  # the notice parses back
    due = hops(engine, tb)[0].due_at  # set by the scheduler's rules, and stated in the notice
    assert due is not None and due.replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in text_of(first)
    assert due.replace(tzinfo=UTC) == datetime(2026, 11, 5, 15, 0, tzinfo=UTC)  # 3 business days, 10:00 New York

    later = NOW + timedelta(hours=2)
    deliver(
        desk_app,
        reply_to(
            first, "Hi,\n\nWe received this call from Beta Voice Networks (noc@betavoice.example).\n\nThanks,\nJohn"
        ),
        later,
    )
    path = hops(engine, tb)
    assert [(h.position, h.outcome) for h in path] == [(0, "upstream"), (1, None)]
    assert path[0].answered_at is not None and path[0].upstream_name == "Beta Voice Networks"
    assert "received this call from Beta Voice Networks" in (path[0].evidence or "")
    ack = notice(engine, "acknowledgement", "noc@smartbiz.example")
    assert "Upstream provider: Beta Voice Networks" in text_of(ack)
    assert ack["In-Reply-To"] is not None
    # The new provider was created from the answer and got a first-contact letter naming only its downstream.
    letter = notice(engine, "first_contact", "noc@betavoice.example")
    body = text_of(letter)
    assert "Smartbiz Telecom" in body and "noc@smartbiz.example" not in body and "received this call" not in body
    with session_scope(engine) as s:
        beta = s.exec(select(Provider).where(Provider.name == "Beta Voice Networks")).one()
        assert beta.known

    deliver(
        desk_app,
        reply_to(
            letter,
            "This call was originated by our customer Sunrise Solar Marketing LLC. Account suspended.",
            sender="noc@betavoice.example",
        ),
        later,
    )
    with session_scope(engine) as s:
        shown = views.timeline(s, tb)
    assert shown["status"] == "closed" and shown["result"] == "origin"
    assert shown["origin_customer"] == "Sunrise Solar Marketing LLC"
    assert [(h["provider"], h["outcome"]) for h in shown["hops"]] == [
        ("Smartbiz Telecom", "upstream"),
        ("Beta Voice Networks", "origin"),
    ]
    assert shown["hops"][0]["requested_at"] == "2026-11-02T15:00:00Z"
    assert shown["hops"][0]["answered_at"] == "2026-11-02T17:00:00Z"
    assert [m["kind"] for m in shown["hops"][0]["messages"]] == ["first_contact", "reply", "acknowledgement"]
    # A provider already contacted gets the short request, not the introduction letter.
    second = open_tb(desk_app)
    assert [m.kind for m in outbox(engine) if m.traceback_id == second] == ["request"]


def test_named_upstream_without_address_is_flagged_not_guessed(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, "Our upstream for this call was Whisl Telecom. No contact address, sorry."))
    # A new provider without an address is below the bar: the carrier confirms it first.
    assert hops(engine, tb)[0].proposed["upstream_name"] == "Whisl Telecom"  # type: ignore[index]
    deliver(desk_app, reply_to(notice(engine, "confirmation", "noc@smartbiz.example"), "Yes"))
    assert [(h.outcome, h.upstream_name) for h in hops(engine, tb)] == [("upstream", "Whisl Telecom")]
    assert reviews(engine)[0][0] == "unknown_upstream" and "Whisl Telecom" in reviews(engine)[0][1]
    assert notice(engine, "acknowledgement", "noc@smartbiz.example")  # the answer itself was understood
    # A directory name written loosely is matched, and that provider gets the next request.
    tb2 = open_tb(desk_app)
    request = notice(engine, "request", "noc@smartbiz.example")
    deliver(desk_app, reply_to(request, "The call came to us from LINGO TELECOM, LLC."))
    assert [h.provider_id for h in hops(engine, tb2)][1:] and hops(engine, tb2)[1].position == 1
    assert notice(engine, "first_contact", "tb@lingo.example")["Subject"].endswith(f"[Traceback #{tb2}]")


def test_not_found_ends_the_traceback(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    deliver(
        desk_app,
        reply_to(
            notice(engine, "first_contact", "noc@smartbiz.example"),
            "No encontramos registros de esta llamada en nuestros CDR.\n\nSaludos,",
        ),
    )
    with session_scope(engine) as s:
        row = s.get(Traceback, tb)
        assert row is not None and (row.status, row.result) == ("closed", "not_found")


def test_dispute_and_unclear_answers_go_to_a_human_and_ask_for_clarification(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, "Thanks, we are looking into it and will get back to you."))
    assert hops(engine, tb)[0].outcome is None  # still waiting: reminders go on
    assert [k for k, _ in reviews(engine)] == ["low_confidence"]
    assert len([m for m in outbox(engine) if m.kind == "clarification"]) == 1
    deliver(
        desk_app, reply_to(first, "We dispute this traceback; the campaign is lawful and the called party consented.")
    )
    assert hops(engine, tb)[0].outcome == "dispute"
    assert [k for k, _ in reviews(engine)] == ["low_confidence", "dispute"]
    clarification = notice(engine, "clarification", "noc@smartbiz.example")
    assert "dispute" in text_of(clarification)
    assert not [m for m in outbox(engine) if m.kind == "acknowledgement"]


def test_one_reply_answers_two_tracebacks(desk_app: App, engine: Engine) -> None:
    tb1, tb2 = open_tb(desk_app), open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(
        desk_app,
        reply_to(
            first,
            f"Traceback #{tb1}: we received this call from Lingo Telecom.\n"
            f"Traceback #{tb2}: no record of this call in our CDRs.\n\nRegards,",
        ),
    )
    assert [h.outcome for h in hops(engine, tb1)] == ["upstream", None]
    assert [h.outcome for h in hops(engine, tb2)] == ["not_found"]
    assert len([m for m in outbox(engine) if m.kind == "acknowledgement"]) == 2


def test_status_command_lists_the_senders_open_requests(desk_app: App, engine: Engine) -> None:
    tb1, tb2 = open_tb(desk_app), open_tb(desk_app, "Lingo Telecom")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "noc@smartbiz.example", "traceback@desk.example", "status"
    msg["Message-ID"] = "<status-1@smartbiz.example>"
    msg.set_content("")
    deliver(desk_app, bytes(msg))
    listed = text_of(notice(engine, "status_list", "noc@smartbiz.example"))
    assert f"Call Details for Traceback #{tb1}" in listed and f"#{tb2}" not in listed


def test_wrong_sender_is_kept_refused_and_moves_nothing(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom.", sender="someone@smartbiz.example"))
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert [k for k, _ in reviews(engine)] == ["unauthorized_sender"]
    refusal = notice(engine, "refusal", "someone@smartbiz.example")
    assert "not registered" in text_of(refusal)
    # A second attempt the same day is not answered again (no mail loops with a robot).
    deliver(desk_app, reply_to(first, "Really, it was Lingo Telecom.", sender="someone@smartbiz.example"))
    assert len([m for m in outbox(engine) if m.kind == "refusal"]) == 1
    # A domain no provider has gets no refusal at all: its From may be forged (no backscatter).
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom.", sender="someone@gmail.example"))
    # The second attempt from someone@smartbiz.example counts in its first review (grouped per sender and day).
    assert [k for k, _ in reviews(engine)] == ["unauthorized_sender", "unauthorized_sender"]
    assert len([m for m in outbox(engine) if m.kind == "refusal"]) == 1
    # An address at a registered domain may answer for its provider.
    tb2 = open_tb(desk_app, "Lingo Telecom")
    deliver(
        desk_app,
        reply_to(
            notice(engine, "first_contact", "tb@lingo.example"), "No record of this call.", sender="ops@lingo.example"
        ),
    )
    assert [h.outcome for h in hops(engine, tb2)] == ["not_found"]


def test_forged_or_altered_token_is_refused(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    good = parseaddr(str(first["Reply-To"]))[1]
    local, domain = good.split("@")
    altered = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom.", to=altered))
    made_up = f"traceback+{hops(engine, tb)[0].id}-{'a' * 20}@desk.example"
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom.", to=made_up))
    assert [h.outcome for h in hops(engine, tb)] == [None]
    # One sender, one kind, one day: one review counting both (issue 12 §5).
    with session_scope(engine) as s:
        assert [(r.kind, r.count) for r in s.exec(select(Review)).all()] == [("forged_token", 2)]
    assert len([m for m in outbox(engine) if m.kind == "refusal"]) == 1  # once a day per sender


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"Subject": "Automatic reply: Out of office"},
    ],
)
def test_auto_replies_never_advance_and_are_never_answered(
    desk_app: App, engine: Engine, headers: dict[str, str]
) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    before = len(outbox(engine))
    raw = reply_to(
        first,
        "I am out of the office until Monday. We received this call from Lingo Telecom.",
        extra={k: v for k, v in headers.items() if k != "Subject"},
    )
    if "Subject" in headers:
        raw = raw.replace(b"Subject: Re: ", f"Subject: {headers['Subject']} Re: ".encode(), 1)
    deliver(desk_app, raw)
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert len(outbox(engine)) == before


def test_bounce_marks_contact_resends_to_backup_and_flags_ops(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    # The report comes back to that notice's own return path (VERP), as the carrier's MTA sends it.
    (sent,) = [m for m in outbox(engine) if m.message_id == first["Message-ID"].strip()]
    assert sent.id is not None
    dsn = (
        f"From: MAILER-DAEMON@mx.smartbiz.example\r\nTo: {desk_app.mail.return_path(sent.id)}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.smartbiz.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system: <noc@smartbiz.example>: user unknown\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.smartbiz.example\r\n\r\n"
        "Final-Recipient: rfc822; noc@smartbiz.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {first['Message-ID']}\r\nSubject: {first['Subject']}\r\n--B--\r\n"
    ).encode()
    deliver(desk_app, dsn)
    with session_scope(engine) as s:
        contact = s.exec(select(ProviderContact).where(ProviderContact.address == "noc@smartbiz.example")).one()
        assert contact.undeliverable
    resent = notice(engine, "first_contact", "backup@smartbiz.example")
    assert f"[Traceback #{tb}]" in str(resent["Subject"])
    assert [k for k, _ in reviews(engine)] == ["bounce"]
    assert [h.outcome for h in hops(engine, tb)] == [None]
    assert not [m for m in outbox(engine) if m.kind == "refusal"]  # a bounce is never answered


def test_names_with_line_breaks_cannot_inject_headers(desk_app: App, engine: Engine) -> None:
    with session_scope(engine) as s:
        providers.add(s, "Evil\r\nBcc: victim@example.com", emails=["noc@evil.example"], now=NOW)
    tb = open_tb(desk_app, "Evil Bcc: victim@example.com")
    first = notice(engine, "first_contact", "noc@evil.example")
    assert first["Bcc"] is None
    # A sender whose display name carries an encoded CR/LF gets a refusal addressed to its address only.
    # (At a provider's domain: a domain no provider has gets no refusal at all.)
    forged = reply_to(first, "We received this call from Lingo Telecom.", sender="x@evil.example")
    forged = forged.replace(
        b"From: NOC <x@evil.example>",
        b"From: =?utf-8?q?NOC=0D=0ABcc=3A_victim=40example=2Ecom?= <x@evil.example>",
    )
    deliver(desk_app, forged)
    refusal = [m for m in outbox(engine) if m.kind == "refusal"][-1]
    assert refusal.recipients == ["x@evil.example"]
    parsed = email.message_from_bytes(refusal.raw)
    assert parsed["Bcc"] is None and b"\nBcc:" not in refusal.raw
    assert [h.outcome for h in hops(engine, tb)] == [None]


def test_forwarded_notice_becomes_incidents_and_a_review(desk_app: App, engine: Engine) -> None:
    from helpers.paths import SAMPLE

    raw = (SAMPLE / "001.eml").read_bytes()
    deliver(desk_app, raw.replace(b"Subject: Traceback Request #2640", b"Subject: Fwd: Traceback Request #2640"))
    with session_scope(engine) as s:
        assert s.get(Incident, "2640") is not None
    assert [k for k, _ in reviews(engine)] == ["unmatched"]


def test_open_from_incident_via_cli(desk_app: App, engine: Engine, db_url: str) -> None:
    from helpers.paths import SAMPLE

    deliver(desk_app, (SAMPLE / "001.eml").read_bytes())
    runner = CliRunner()
    env = {"MAILBOT_MAIL_SECRET": "test-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}
    opened = runner.invoke(
        main,
        [
            "--db",
            db_url,
            "--now",
            "2026-11-02T16:00:00Z",
            "traceback",
            "open",
            "--from-incident",
            "2640",
            "--provider",
            "smartbiz telecom",
        ],
        env=env,
    )
    assert opened.exit_code == 0, opened.output
    number = int(opened.stdout.strip())
    shown = runner.invoke(main, ["--db", db_url, "traceback", "show", str(number), "--format", "json"], env=env)
    import json

    data = json.loads(shown.stdout)
    assert data["incident_id"] == "2640" and data["status"] == "open" and data["result"] is None
    assert data["call_time"] == "2020-06-26T15:34:00Z"
    assert data["hops"][0]["provider"] == "Smartbiz Telecom" and data["hops"][0]["outcome"] is None
    missing = runner.invoke(
        main,
        [
            "--db",
            db_url,
            "traceback",
            "open",
            "--provider",
            "Nobody At All",
            "--campaign",
            "X",
            "--call-time",
            "2026-10-30T14:05:00Z",
            "--called",
            "2025550143",
            "--caller",
            "6465550178",
        ],
        env=env,
    )
    assert missing.exit_code != 0 and "no provider named 'Nobody At All'" in missing.output
    listed = runner.invoke(main, ["--db", db_url, "traceback", "list", "--open", "--format", "json"], env=env)
    assert [(t["traceback_id"], t["status"], t["current"]) for t in json.loads(listed.stdout)] == [
        (number, "open", "Smartbiz Telecom")
    ]


def test_carrier_text_is_escaped_in_html_and_corrections_go_to_a_human(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom <script>alert(1)</script>."))
    ack = notice(engine, "acknowledgement", "noc@smartbiz.example")
    body = ack.get_body(preferencelist=("html",))
    assert body is not None
    html = body.get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    # Replying to the acknowledgement with a different answer does not silently rewrite the path.
    deliver(desk_app, reply_to(ack, "Sorry, correction: we received it from Peerless Network."))
    assert [h.outcome for h in hops(engine, tb)] == ["upstream", None]
    assert [k for k, _ in reviews(engine)] == ["correction"]


def test_a_human_resolves_reviews_by_forwarding_or_closing(desk_app: App, engine: Engine, db_url: str) -> None:
    tb = open_tb(desk_app)
    deliver(
        desk_app,
        reply_to(
            notice(engine, "first_contact", "noc@smartbiz.example"), "Our upstream for this call was Whisl Telecom."
        ),
    )
    deliver(desk_app, reply_to(notice(engine, "confirmation", "noc@smartbiz.example"), "YES, confirmed."))
    runner = CliRunner()
    env = {"MAILBOT_MAIL_SECRET": "test-secret", "MAILBOT_MAIL_DOMAIN": "desk.example"}

    def run(*args: str) -> str:
        done = runner.invoke(main, ["--db", db_url, "--now", "2026-11-02T18:00:00Z", *args], env=env)
        assert done.exit_code == 0, done.output
        return done.output

    assert "unknown_upstream" in run("review", "list")
    refused = runner.invoke(main, ["--db", db_url, "traceback", "forward", str(tb), "--provider", "Whisl"], env=env)
    assert refused.exit_code != 0 and "no provider named 'Whisl'" in refused.output
    run("providers", "add", "Whisl Telecom", "--email", "noc@whisl.example")
    run("traceback", "forward", str(tb), "--provider", "whisl telecom")
    assert [(h.position, h.outcome) for h in hops(engine, tb)] == [(0, "upstream"), (1, None)]
    assert notice(engine, "first_contact", "noc@whisl.example")
    assert run("review", "list").strip() == ""  # the traceback's reviews are resolved
    run("traceback", "close", str(tb), "--result", "no_response")
    with session_scope(engine) as s:
        shown = views.timeline(s, tb)
    assert (shown["status"], shown["result"], shown["hops"][1]["outcome"]) == ("closed", "no_response", "no_response")
    assert shown["closed_at"] == "2026-11-02T18:00:00Z"


def dispositions(engine: Engine) -> list[str | None]:
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(col(Message.disposition)).where(col(Message.origin) == "smtp").order_by(col(Message.id))
            ).all()
        )


@pytest.mark.parametrize("subject", ["[EXTERNAL] RE: status", "Antw: status", "Re: [Traceback #1] Status."])
def test_status_command_behind_gateway_tags_and_any_reply_prefix(desk_app: App, engine: Engine, subject: str) -> None:
    tb = open_tb(desk_app)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "noc@smartbiz.example", "traceback@desk.example", subject
    msg["Message-ID"] = "<status-2@smartbiz.example>"
    msg.set_content("Please send the list.\n\nRegards,\nNOC team at Smartbiz, 24x7")
    deliver(desk_app, bytes(msg))
    assert f"Call Details for Traceback #{tb}" in text_of(notice(engine, "status_list", "noc@smartbiz.example"))
    assert dispositions(engine) == ["status-command"]


def test_the_rule_that_fired_is_kept_on_the_message(desk_app: App, engine: Engine) -> None:
    tb = open_tb(desk_app)
    first = notice(engine, "first_contact", "noc@smartbiz.example")
    deliver(desk_app, reply_to(first, "Out of office.", extra={"Auto-Submitted": "auto-replied"}))
    deliver(desk_app, reply_to(first, "It was Lingo Telecom.", sender="someone@gmail.example"))
    deliver(desk_app, reply_to(first, "It was Lingo Telecom.", to=f"traceback+{tb}-{'b' * 20}@desk.example"))
    deliver(desk_app, b"From: someone@elsewhere.example\nSubject: hello\nMessage-ID: <x1@elsewhere.example>\n\nhi\n")
    deliver(desk_app, reply_to(first, "We received this call from Lingo Telecom."))
    assert dispositions(engine) == ["automatic", "unauthorized-sender", "forged-token", "unmatched", "answer"]
    with session_scope(engine) as s:  # imported mail is never handled, and keeps no disposition
        assert all(d is None for d in s.exec(select(Message.disposition).where(Message.origin == "import")).all())


def test_dispositions_are_one_named_table() -> None:
    from mailbot.desk.inbound import DISPOSITIONS

    assert [d.name for d in DISPOSITIONS] == [
        "not-parsed",
        "bounce",
        "ops-command",
        "automatic",
        "unauthenticated",
        "status-command",
        "forged-token",
        "unmatched",
        "unauthorized-sender",
        "answer",
    ]
