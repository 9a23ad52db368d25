"""End to end over real SMTP against `mailbot serve`: a provider designated Non-Cooperative by
the rules and removed after the clean period in simulated time, and the record of one of its
tracebacks, whose hashes are checked against the stored messages.

Carriers answer the notices they find in the Maildir outbox over SMTP; the scheduler runs as
`mailbot --now T tick` (serve's own scheduler is off), so the clean period passes in seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.desk_e2e import SETTINGS, answer, cli, notice_to, received
from helpers.mailbot_proc import Server, mailbot_env, stored, wait_for
from mailbot.store.db import make_engine, session_scope
from mailbot.store.tables.outbox import OutboxMessage
from sqlalchemy import select


def _tick(env: dict[str, str], cwd: Path, at: datetime) -> None:
    cli(env, cwd, "--now", at.isoformat(), "tick")


def _noncooperative(env: dict[str, str], cwd: Path, at: datetime) -> list[dict]:
    return json.loads(
        cli(env, cwd, "--now", at.isoformat(), "providers", "list", "--non-cooperative", "--format", "json")
    )


def test_designated_over_smtp_removed_after_the_clean_period_and_the_record_verifies(
    db_url: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    cli(env, tmp_path, "providers", "add", "Lata Telecom", "--email", "noc@lata.example")
    server = Server(db_url, tmp_path, **settings)
    try:
        numbers = []
        for campaign in ("SSA-Suspended-SSN", "Apple-iCloud-AccountBreached"):
            number = int(
                cli(
                    env,
                    tmp_path,
                    "traceback",
                    "open",
                    "--provider",
                    "Smartbiz Telecom",
                    "--campaign",
                    campaign,
                    "--call-time",
                    "2026-10-30T14:05:00Z",
                    "--called",
                    "+12025550143",
                    "--caller",
                    "+16465550178",
                ).strip()
            )
            numbers.append(number)
            first = wait_for(
                lambda number=number: next(
                    (
                        m
                        for m in _all(outbox, "noc@smartbiz.example", "first_contact", "request")
                        if f"#{number}]" in str(m["Subject"])
                    ),
                    None,
                ),
                f"the request of #{number}",
            )
            answer(server.port, first, "noc@smartbiz.example", "We received this call from Lata Telecom.", "gmail")
            second = wait_for(
                lambda number=number: next(
                    (
                        m
                        for m in _all(outbox, "noc@lata.example", "first_contact", "request")
                        if f"#{number}]" in str(m["Subject"])
                    ),
                    None,
                ),
                f"Lata's request of #{number}",
            )
            answer(
                server.port,
                second,
                "noc@lata.example",
                "This call was originated by our customer Sunrise Solar Marketing LLC.",
                "outlook",
            )

            def closed(number: int = number) -> bool:
                shown = json.loads(cli(env, tmp_path, "traceback", "show", str(number), "--format", "json"))
                return shown["status"] == "closed"

            wait_for(closed, f"#{number} to close")

        now = datetime.now(UTC)
        _tick(env, tmp_path, now)
        listed = _noncooperative(env, tmp_path, now)
        assert [(r["provider"], r["rules"], r["traceback_ids"]) for r in listed] == [
            ("Lata Telecom", ["multiple_campaigns"], numbers)
        ]
        letter = notice_to(outbox, "noc@lata.example", "noncooperative_designated")
        assert "designated a Non-Cooperative Voice Service Provider" in letter.get_body(("plain",)).get_content()

        # Thirty quiet days later (simulated), the designation is removed.
        _tick(env, tmp_path, now + timedelta(days=29))
        assert _noncooperative(env, tmp_path, now + timedelta(days=29)) != []
        _tick(env, tmp_path, now + timedelta(days=31))
        assert _noncooperative(env, tmp_path, now + timedelta(days=31)) == []
        record = json.loads(cli(env, tmp_path, "export", "noncooperative"))
        assert [(r["provider"], r["action"]) for r in record] == [
            ("Lata Telecom", "designated"),
            ("Lata Telecom", "removed"),
        ]

        # The record of the first traceback: every message's hash is that of the stored bytes.
        html_file = tmp_path / "record.html"
        cli(env, tmp_path, "traceback", "report", str(numbers[0]), "--html", str(html_file))
        html = html_file.read_text()
        engine = make_engine(db_url)
        try:
            with session_scope(engine) as session:
                sent = [
                    bytes(raw)
                    for raw in session.scalars(
                        select(OutboxMessage.raw).where(OutboxMessage.traceback_id == numbers[0])
                    )
                ]
        finally:
            engine.dispose()
        incoming = [
            raw for origin, raw, _status in stored(db_url) if origin == "smtp" and f"#{numbers[0]}]".encode() in raw
        ]
        assert len(incoming) == 2 and len(sent) >= 4
        hashes = set(re.findall(r'<div class="hash">([0-9a-f]{64})', html))
        for raw in [*incoming, *sent]:
            assert hashlib.sha256(raw).hexdigest() in hashes
        assert "Every stored message matches its hash." in html
        assert server.terminate() == 0
    finally:
        server.close()


def _all(outbox: Path, to: str, *kinds: str) -> list:

    return [m for m in received(outbox, to) if m["X-Mailbot-Notice"] in kinds]
