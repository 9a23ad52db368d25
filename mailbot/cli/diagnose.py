"""`mailbot diagnose`: why a stored message parsed as it did, for a person reading one case.

mail-parser's eager parse (its JSON view, Received-hop parsing, defect lists)
costs 7-15x the stdlib parse the importer uses, so it never runs on import:
the one parsing path is parsers/mime.py. It runs here, on one message at a
time, where its defect categories and delivery hops explain a quarantine.
"""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlmodel import col

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.mailboxes import sources
from mailbot.store.db import session_scope
from mailbot.store.tables.messages import Message


def describe(raw: bytes) -> dict[str, list[str]]:
    """mail-parser's view of a raw message: MIME defects and the delivery hops."""
    import mailparser  # only when asked: importing and running it is the slow part

    parsed = mailparser.parse_from_bytes(raw)
    return {
        "defects": sorted(parsed.defects_categories),
        "hops": [f"{h.get('from', '?')} -> {h.get('by', '?')} at {h.get('date_utc', '?')}" for h in parsed.received],
        "attachments": [a.get("filename") or a.get("mail_content_type") for a in parsed.attachments],
    }


@click.command()
@click.argument("pk", type=int)
@pass_app
def diagnose(app: App, pk: int) -> None:
    """Explain one stored message (its id from `mailbot quarantine`): status, MIME defects, hops."""
    with session_scope(app.engine) as session:
        row = session.execute(
            select(
                col(Message.raw),
                col(Message.status),
                col(Message.kind),
                col(Message.reason),
                col(Message.source),
                col(Message.source_key),
                col(Message.failures),
                col(Message.retry_at),
            ).where(col(Message.id) == pk)
        ).first()
    if row is None:
        raise click.ClickException(f"no stored message {pk}")
    raw, status, kind, reason, source, source_key, failures, retry_at = row
    click.echo(f"status:  {status}  kind: {kind or '-'}" + (f"\nreason:  {reason}" if reason else ""))
    if failures:
        retry = f", next try {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at and status == "new" else ""
        click.echo(f"processing failed {failures} time(s){retry}; `mailbot reparse --quarantined` queues it again")
    click.echo(f"from:    {sources.describe_place(source, source_key)}")
    try:
        facts = describe(raw)
    except Exception as exc:
        click.echo(f"mail-parser could not read it: {exc!r}")
        return
    click.echo("defects: " + (", ".join(facts["defects"]) or "none"))
    for hop in facts["hops"]:
        click.echo(f"hop:     {hop}")
    for name in facts["attachments"]:
        click.echo(f"attachment: {name}")


COMMANDS = (diagnose,)
