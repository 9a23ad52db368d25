"""End to end over real SMTP against `mailbot serve`: a Trace Forward of three hops, and a
dispute accepted with the provider's status re-evaluated at once.

Carriers answer the notices they find in the Maildir outbox over SMTP (free text, in English
and Spanish, and the answer form); the scheduler runs as `mailbot --now T tick`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from helpers.desk_e2e import SETTINGS, answer, cli, notice_to, plain, received
from helpers.mailbot_proc import Server, mailbot_env, wait_for
from mailbot.store.db import make_engine, session_scope
from mailbot.store.tables.desk import Dispute, Traceback
from sqlalchemy import select


def _show(env: dict[str, str], cwd: Path, command: str, number: int) -> dict:
    return json.loads(cli(env, cwd, command, "show", str(number), "--format", "json"))


def _wait_closed(db_url: str, number: int) -> None:
    """Until the traceback is closed (read from the store: a CLI process per poll is slow on a busy machine)."""
    engine = make_engine(db_url)
    try:

        def closed() -> bool:
            with session_scope(engine) as session:
                return session.scalar(select(Traceback.status).where(Traceback.id == number)) == "closed"

        wait_for(closed, f"#{number} to close")
    finally:
        engine.dispose()


def _wait_dispute(db_url: str) -> None:
    engine = make_engine(db_url)
    try:

        def recorded() -> bool:
            with session_scope(engine) as session:
                return session.scalar(select(Dispute.id)) is not None

        wait_for(recorded, "the dispute recorded")
    finally:
        engine.dispose()


def test_a_trace_forward_of_three_hops_over_smtp(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Alpha Mobile", "--email", "noc@alpha.example")
    cli(env, tmp_path, "providers", "add", "Beta Voz", "--email", "noc@beta.example", "--language", "es")
    server = Server(db_url, tmp_path, **settings)
    try:
        number = int(
            cli(
                env,
                tmp_path,
                "traceforward",
                "open",
                "--number",
                "+1 (202) 555-0199",
                "--provider",
                "Alpha Mobile",
                "--campaign",
                "USPS-Smishing",
                "--description",
                "Text message: your parcel is held, call to reschedule.",
            ).strip()
        )
        first = notice_to(outbox, "noc@alpha.example", "request")
        assert "Trace Forward request" in str(first["Subject"]) and "+12025550199" in plain(first)
        assert "Downstream provider / Proveedor siguiente:" in plain(first)
        answer(
            server.port,
            first,
            "noc@alpha.example",
            "We route calls to this number to Beta Voz (noc@beta.example).",
            "gmail",
        )
        # The second provider's language is Spanish: its request is.
        second = notice_to(outbox, "noc@beta.example", "request")
        assert "Solicitud de Trace Forward" in str(second["Subject"])
        assert "Alpha Mobile nos indicó" in plain(second)
        answer(
            server.port,
            second,
            "noc@beta.example",
            "Buen día. El número fue portado a Gamma Telecom (noc@gamma.example) el mes pasado.",
            "outlook",
        )
        # Gamma Telecom was new: created from the answer, and asked in English.
        third = notice_to(outbox, "noc@gamma.example", "request")
        assert "Beta Voz told us that calls to this number go to your network" in plain(third)
        filled = plain(third).replace("Subscriber / Abonado:", "Subscriber / Abonado: Quick Refunds LLC")
        answer(server.port, third, "noc@gamma.example", "See the form below.\n\n" + filled, "gmail")

        _wait_closed(db_url, number)
        shown = _show(env, tmp_path, "traceforward", number)
        assert (shown["direction"], shown["kind"], shown["result"], shown["called"]) == (
            "forward",
            "trace forward",
            "customer",
            "+12025550199",
        )
        assert shown["origin_customer"] == "Quick Refunds LLC"
        hops = [(h["provider"], h["outcome"], h["upstream_name"], h["customer_name"]) for h in shown["hops"]]
        assert hops == [
            ("Alpha Mobile", "downstream", "Beta Voz", None),
            ("Beta Voz", "not_ours", "Gamma Telecom", None),
            ("Gamma Telecom", "customer", None, "Quick Refunds LLC"),
        ]
        # The hop contract of `traceback show`: each hop with its label key and its mail in and out.
        assert all(
            h["label"] is None and {"in", "out"} <= {m["direction"] for m in h["messages"]} for h in shown["hops"]
        )
        acks = [m for m in received(outbox, "noc@beta.example") if m["X-Mailbot-Notice"] == "acknowledgement"]
        assert acks and "Respuesta registrada" in str(acks[0]["Subject"])
        listed = json.loads(cli(env, tmp_path, "traceback", "list", "--format", "json"))
        assert [(r["traceback_id"], r["kind"]) for r in listed] == [(number, "trace forward")]
        assert "trace forward" in cli(env, tmp_path, "traceback", "list")
        assert server.terminate() == 0
    finally:
        server.close()


def test_a_dispute_accepted_over_smtp_and_the_status_re_evaluated(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    cli(env, tmp_path, "providers", "add", "Lata Telecom", "--email", "noc@lata.example", "--language", "es")
    server = Server(db_url, tmp_path, **settings)
    try:
        number = int(
            cli(
                env,
                tmp_path,
                "traceback",
                "open",
                "--provider",
                "Smartbiz Telecom",
                "--campaign",
                "SSA-Suspended-SSN",
                "--call-time",
                "2026-10-30T14:05:00Z",
                "--called",
                "+12025550143",
                "--caller",
                "+16465550178",
            ).strip()
        )
        first = notice_to(outbox, "noc@smartbiz.example", "first_contact")
        answer(server.port, first, "noc@smartbiz.example", "We received this call from Lata Telecom.", "gmail")
        second = notice_to(outbox, "noc@lata.example", "first_contact")
        answer(
            server.port,
            second,
            "noc@lata.example",
            "This call was originated by our customer Sunrise Solar Marketing LLC.",
            "outlook",
        )
        _wait_closed(db_url, number)
        now = datetime.now(UTC)
        cli(env, tmp_path, "--now", now.isoformat(), "tick")
        assert _status(env, tmp_path, "Lata Telecom") == "YELLOW"
        notice_to(outbox, "noc@lata.example", "status_yellow")

        # Lata disputes the traceback's basis after its answer, with its evidence attached.
        ack = notice_to(outbox, "noc@lata.example", "acknowledgement")
        answer(
            server.port,
            ack,
            "noc@lata.example",
            "We dispute this traceback: Sunrise Solar had the called party's written consent. "
            "The opt-in record is attached.",
            "gmail",
            attachments={"optin-record.pdf": b"%PDF-1.4 opt-in"},
        )
        _wait_dispute(db_url)
        found = json.loads(cli(env, tmp_path, "dispute", "list", "--format", "json"))
        assert len(found) == 1
        dispute = found[0]
        assert (dispute["traceback_id"], dispute["provider"], dispute["status"]) == (number, "Lata Telecom", "open")
        assert "written consent" in dispute["reason"] and dispute["attachments"] == ["optin-record.pdf"]

        done = cli(env, tmp_path, "dispute", "accept", str(dispute["id"]), "--reason", "consent records verified")
        assert "accepted" in done and "status re-evaluated" in done
        assert _status(env, tmp_path, "Lata Telecom") == "GREEN"
        decision = notice_to(outbox, "noc@lata.example", "dispute_decision")
        assert "la aceptamos: consent records verified" in plain(decision)  # Lata's language is Spanish
        assert "GREEN" in plain(notice_to(outbox, "noc@lata.example", "status_green"))

        shown = _show(env, tmp_path, "traceback", number)
        assert (shown["strike_exempt"], shown["exempt_reason"], shown["exempt_note"]) == (
            True,
            "accepted_dispute",
            "consent records verified",
        )
        assert [(d["status"], d["decision_reason"]) for d in shown["disputes"]] == [
            ("accepted", "consent records verified")
        ]
        # Still in the record and the export, flagged; a later tick does not count it again.
        exported = json.loads(cli(env, tmp_path, "export", "tracebacks"))
        assert [(r["traceback_id"], r["strike_exempt"], r["exempt_reason"]) for r in exported] == [
            (number, True, "accepted_dispute")
        ]
        cli(env, tmp_path, "--now", now.isoformat(), "tick")
        assert _status(env, tmp_path, "Lata Telecom") == "GREEN"
        # The record for enforcement shows the dispute, its decision and the mark.
        html_file = tmp_path / "record.html"
        cli(env, tmp_path, "traceback", "report", str(number), "--html", str(html_file))
        html = html_file.read_text()
        assert "Strike exempt: accepted_dispute, consent records verified" in html
        assert "optin-record.pdf" in html and "accepted: consent records verified" in html
        assert server.terminate() == 0
    finally:
        server.close()


def _status(env: dict[str, str], cwd: Path, name: str) -> str:
    rows = json.loads(cli(env, cwd, "providers", "list", "--format", "json"))
    return next(r["status"] for r in rows if r["name"] == name)
