"""`mailbot outbox list|send`: what mailbot has queued, sent or failed to send; send what is due."""

from __future__ import annotations

import json
from typing import Any

import click

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.options import format_option
from mailbot.domain.timeutil import iso_z
from mailbot.domain.vocabulary import OutboxStatus
from mailbot.outbound import outbox
from mailbot.outbound.transport import transport_from_config
from mailbot.store.db import session_scope

# The stored words: click would offer an Enum's member names instead.
STATUSES = tuple(status.value for status in OutboxStatus)


@click.group("outbox")
def outbox_group() -> None:
    """The durable outbox of notices."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only rows in this status.")
@click.option("--traceback", "traceback_id", type=int, help="Only notices of this traceback.")
@click.option("--limit", default=50, show_default=True, help="Newest rows shown.")
@format_option("table", "json")
@pass_app
def list_command(app: App, status: str | None, traceback_id: int | None, limit: int, fmt: str) -> None:
    """Notices, newest first: kind, recipients, status, attempts, last error."""
    with session_scope(app.engine) as session:
        rows = outbox.outbox_rows(session, status=status, traceback_id=traceback_id, limit=limit)
        counts = outbox.status_counts(session)
    records: list[dict[str, Any]] = [
        {
            "id": r.id,
            "dedupe_key": r.dedupe_key,
            "kind": r.kind,
            "traceback_id": r.traceback_id,
            "hop_id": r.hop_id,
            "message_id": r.message_id,
            "to": list(r.recipients),
            "subject": r.subject,
            "status": r.status,
            "attempts": r.attempts,
            "created_at": iso_z(r.created_at),
            "next_attempt_at": iso_z(r.next_attempt_at),
            "sent_at": iso_z(r.sent_at),
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if fmt == "json":
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        when = r["sent_at"] or r["next_attempt_at"]
        click.echo(f"{r['id']:>6}  {r['status']:<8} {when}  {r['kind']:<22} {', '.join(r['to'])}")
        if r["last_error"] and r["status"] != OutboxStatus.SENT:
            click.echo(f"        {r['last_error']}")
    click.echo(", ".join(f"{s} {counts.get(s, 0)}" for s in STATUSES))


@outbox_group.command("send")
@click.option("--limit", default=1000, show_default=True, help="At most this many notices.")
@pass_app
def send_command(app: App, limit: int) -> None:
    """Send the notices that are due, once (what `serve` does continuously)."""
    sent = outbox.deliver_pending(
        app.engine, transport_from_config(app.settings), app.now(), limit=limit, mail=app.mail
    )
    with session_scope(app.engine) as session:
        counts = outbox.status_counts(session)
    click.echo(f"sent {sent}; " + ", ".join(f"{s} {counts.get(s, 0)}" for s in STATUSES))


COMMANDS = (outbox_group,)
