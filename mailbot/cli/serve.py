"""`mailbot serve` (the service) and `mailbot receive` (one message from an MTA pipe)."""

from __future__ import annotations

import sys
import uuid

import click
from sqlalchemy.exc import SQLAlchemyError

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.errors import explain, safe_url
from mailbot.cli.exits import Exit
from mailbot.cli.options import creates_database
from mailbot.domain.records import Arrival
from mailbot.intake.pipeline import process_pending, receive
from mailbot.intake.smtp import stamp
from mailbot.service import serve as service


@click.command()
@creates_database
@pass_app
def serve(app: App) -> None:
    """Run the service: SMTP intake, IMAP watching, processing, outbox. Stops cleanly on SIGTERM.

    The database and the listening ports are checked first; a failure there exits non-zero
    before any work (processing, outbox, scheduler) has started.
    """
    try:
        service.run(app)
    except RuntimeError as exc:  # a service failed; the log above says why
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:  # the store is unreachable at start: accept nothing rather than 451 all
        raise click.ClickException(
            f"cannot open the database: {explain(exc, safe_url(app.settings.database_url)).message}"
        ) from exc


@click.command("receive")
@click.option("--sender", help="Envelope sender, recorded as Return-Path (Postfix: ${sender}).")
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="Envelope recipient, recorded as Delivered-To; repeatable (Postfix: ${recipient}).",
)
@creates_database
@pass_app
def receive_command(app: App, sender: str | None, recipients: tuple[str, ...]) -> None:
    """Store and process one message read from standard input, as an MTA pipe delivers it.

    Exits 0 once the message is stored; 65 (EX_DATAERR) when standard input is empty; 75
    (EX_TEMPFAIL) for every other failure, a wrong configuration too (Postfix bounces 78),
    so the MTA keeps the message and retries.
    """
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        click.echo("mailbot receive: no message on standard input", err=True)
        sys.exit(Exit.DATAERR)
    if sender is not None or recipients:
        raw = stamp(raw, sender, recipients)
    arrival = Arrival(source="pipe", source_key=uuid.uuid4().hex, raw=raw, origin="pipe")
    try:
        receive(app.engine, arrival, app.now())
    except Exception as exc:
        problem = explain(exc, safe_url(app.settings.database_url))
        click.echo(f"mailbot receive: message not stored, the MTA should retry: {problem.message}", err=True)
        sys.exit(Exit.TEMPFAIL)
    try:
        process_pending(app, app.now())
    except Exception as exc:
        click.echo(f"mailbot receive: stored; processing deferred: {explain(exc).message}", err=True)


COMMANDS = (serve, receive_command)
