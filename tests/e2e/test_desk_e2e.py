"""End to end over real sockets: `mailbot serve` as a process, carriers answering by SMTP.

A traceback is opened with the CLI; each notice is read from the Maildir outbox
as the carrier would receive it, answered top-posted and quoting the notice (Gmail
style, then Outlook style) over SMTP to its Reply-To; the next notice goes to the
upstream each answer names, three hops down to an `origin` answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.desk_e2e import SETTINGS, answer, cli, notice_to, plain
from helpers.mailbot_proc import Server, mailbot_env, wait_for


def test_three_hops_by_email_down_to_the_origin(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    settings = {**SETTINGS, "outbound_maildir": str(outbox)}
    env = mailbot_env(db_url, **settings)
    cli(env, tmp_path, "providers", "add", "Smartbiz Telecom", "--email", "noc@smartbiz.example")
    cli(env, tmp_path, "providers", "add", "Lingo Telecom", "--email", "tb@lingo.example")
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
                "--description",
                "Caller claims your SSN is suspended.",
            ).strip()
        )

        first = notice_to(outbox, "noc@smartbiz.example", "first_contact")
        assert f"[Traceback #{number}]" in str(first["Subject"])
        assert f"Call Details for Traceback #{number}" in plain(first)
        answer(
            server.port,
            first,
            "noc@smartbiz.example",
            "Hi team,\n\nWe received this call from Lingo Telecom.\n\nThanks,\nJohn Carter\nNOC",
            "gmail",
        )

        second = notice_to(outbox, "tb@lingo.example", "first_contact")
        assert "Smartbiz Telecom" in plain(second)  # its direct downstream, and nothing more
        assert notice_to(outbox, "noc@smartbiz.example", "acknowledgement")
        answer(
            server.port,
            second,
            "tb@lingo.example",
            "Hello,\n\nThe call came to us from Beta Voice Networks (noc@betavoice.example).\n\n"
            "Regards,\n\nMaria Lopez\nCompliance",
            "outlook",
        )

        third = notice_to(outbox, "noc@betavoice.example", "first_contact")
        assert "Lingo Telecom" in plain(third) and "Smartbiz" not in plain(third)
        answer(
            server.port,
            third,
            "noc@betavoice.example",
            "This call was originated by our customer Sunrise Solar Marketing LLC. Account suspended.",
            "gmail",
        )

        def closed() -> dict | None:
            shown = json.loads(cli(env, tmp_path, "traceback", "show", str(number), "--format", "json"))
            return shown if shown["status"] == "closed" else None

        shown = wait_for(closed, "the traceback to close")
        assert shown["result"] == "origin"
        assert [(h["provider"], h["outcome"]) for h in shown["hops"]] == [
            ("Smartbiz Telecom", "upstream"),
            ("Lingo Telecom", "upstream"),
            ("Beta Voice Networks", "origin"),
        ]
        assert all(h["requested_at"] and h["answered_at"] for h in shown["hops"])
        assert notice_to(outbox, "noc@betavoice.example", "acknowledgement")
        assert server.terminate() == 0
    finally:
        server.close()
