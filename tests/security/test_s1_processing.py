"""Issue 12 §1: no message can stop processing.

Each test sends the bad message first and an honest answer after it: the answer must still
move its traceback, and the bad message must end somewhere a person sees it.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from sqlalchemy import create_engine

from .security_desk import CARRIER, DOMAIN, Desk, answer, reply_to

HONEST = "Hi team,\n\nWe received this call from Lingo Telecom.\n\nThanks,\nJohn"


def _honest_answer_goes_through(desk: Desk, number: int, notice: email.message.Message) -> None:
    desk.send(answer(notice, HONEST), CARRIER[1], [reply_to(notice)])
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


def _poison_trigger(db_url: str) -> None:
    """A fault the database itself raises while one message's processing is recorded.

    The desk's own triggers (below) get fixed; this one stands for the next bug nobody
    has found yet: any exception while processing one message.
    """
    engine = create_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'poisoned message'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE UPDATE ON message FOR EACH ROW "
                "WHEN (strpos(NEW.subject, 'POISON') > 0 AND NEW.status IN ('parsed', 'duplicate')) "
                "EXECUTE FUNCTION poison()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE UPDATE ON message FOR EACH ROW "
                "WHEN NEW.subject LIKE '%POISON%' AND NEW.status IN ('parsed', 'duplicate') "
                "BEGIN SELECT RAISE(ABORT, 'poisoned message'); END"
            )
    engine.dispose()


def _drop_poison(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER poison" + (" ON message" if engine.dialect.name == "postgresql" else ""))
    engine.dispose()


def test_a_message_that_always_fails_is_quarantined_and_the_next_goes_on(make_desk: Any) -> None:
    desk: Desk = make_desk(serve_retry_after="0.1", serve_attempts="3")  # a short backoff, so the test is quick
    _poison_trigger(desk.db_url)
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    desk.send(answer(notice, "Looking into it.", subject="POISON"), CARRIER[1], [reply_to(notice)])
    _honest_answer_goes_through(desk, number, notice)
    desk.settled(2)
    listed = json.loads(desk.cli("quarantine", "--format", "json"))
    assert [(q["failures"], "poisoned message" in q["reason"]) for q in listed] == [(3, True)]
    assert "processing failed 3 time(s)" in desk.cli("diagnose", str(listed[0]["id"]))
    # After the fix, `reparse` queues it again and the desk reads it as if it had just arrived.
    _drop_poison(desk.db_url)
    assert "queued again for processing: 1" in desk.cli("reparse", "--quarantined")
    assert [m["status"] for m in desk.settled(2)] == ["parsed", "parsed"]
    assert not json.loads(desk.cli("quarantine", "--format", "json"))


def test_an_upstream_with_an_internationalised_address_is_no_crash(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    words = "Hello,\n\nThe call came to us from Telefónica Ñandú (noc@ñandú.example).\n\nRegards,\nMaria"
    desk.send(answer(notice, words), CARRIER[1], [reply_to(notice)])
    desk.settled(1)
    shown = desk.show(number)
    assert shown["hops"][0]["outcome"] == "upstream"
    # Either the upstream is asked (IDNA/SMTPUTF8) or a person is told; never silence.
    asked = [
        m
        for m in desk.all_sent()
        if (m["X-Mailbot-Notice"] == "first_contact" and "ñandú" in str(m["To"])) or "xn--" in str(m["To"])
    ]
    told = [r for r in desk.reviews() if "ñandú" in r["detail"].lower() or "xn--" in r["detail"]]
    assert asked or told or len(shown["hops"]) == 2


def test_a_sender_longer_than_any_column_with_a_forged_token(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    sender = "n" * 400 + "@" + "d" * 60 + ".example"
    forged = f"traceback+{'A' * 30}@{DOMAIN}"
    raw = answer(
        notice,
        "We received this call from Lingo Telecom.",
        sender=sender,
        extra={"To": forged, "In-Reply-To": "<nothing@nowhere.example>"},
    )
    desk.send(raw, "bounce@relay.example", [forged])
    _honest_answer_goes_through(desk, number, notice)
    assert all(r["status"] != "new" for r in desk.settled(2))


def _ids(n: int) -> str:
    return " ".join(f"<ref-{i}@carrier.example>" for i in range(n))


def test_references_with_seventy_thousand_message_ids(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    # The notice's own id last, as a real thread's References ends with the message answered.
    references = "\r\n ".join([_ids(70_000), str(notice["Message-ID"])])
    raw = answer(notice, HONEST, extra={"References": references, "In-Reply-To": "<gone@carrier.example>"})
    desk.pipe(raw, sender=CARRIER[1], recipient=reply_to(notice))
    desk.notice("tb@lingo.example", "first_contact")
    assert desk.show(number)["hops"][0]["outcome"] == "upstream"


def test_a_bounce_quoting_seventy_thousand_message_ids(desk: Desk) -> None:
    number = desk.open_traceback()
    notice = desk.notice(CARRIER[1], "first_contact")
    bounce = (
        f"From: MAILER-DAEMON@relay.example\r\nTo: traceback@{DOMAIN}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b-{number}@relay.example>\r\n"
        "Auto-Submitted: auto-replied\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host relay.example.\r\n\r\nI'm sorry to have to inform you that your "
        "message could not be delivered.\r\n\r\n" + _ids(70_000) + "\r\n"
    ).encode()
    desk.pipe(bounce, sender="", recipient=f"traceback@{DOMAIN}")
    _honest_answer_goes_through(desk, number, notice)
    assert all(r["status"] != "new" for r in desk.settled(2))
