"""`mailbot serve` (the service) and `mailbot receive` (one message from an MTA pipe)."""

from __future__ import annotations

import logging
import sys
import uuid

import click
from sqlalchemy.exc import SQLAlchemyError

from mailbot.service import serve as service
from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.intake.pipeline import StoreUnavailable, process_pending, receive
from mailbot.intake.smtp import stamp
from mailbot.domain.records import Arrival


# sysexits.h: what an MTA's pipe transport understands.
EX_DATAERR = 65
EX_TEMPFAIL = 75


@click.command()
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@pass_app
def serve(app: App, log_level: str) -> None:
    """Run the service: SMTP intake, IMAP watching, processing, outbox. Stops cleanly on SIGTERM."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        service.run(app)
    except RuntimeError as exc:  # a service failed; the log above says why
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:  # the store is unreachable at start: accept nothing rather than 451 all
        raise click.ClickException(f"cannot open the database: {exc}") from exc


@click.command("receive")
@click.option("--sender", help="Envelope sender, recorded as Return-Path (Postfix: ${sender}).")
@click.option("--recipient", "recipients", multiple=True,
              help="Envelope recipient, recorded as Delivered-To; repeatable (Postfix: ${recipient}).")
@pass_app
def receive_command(app: App, sender: str | None, recipients: tuple[str, ...]) -> None:
    """Store and process one message read from standard input, as an MTA pipe delivers it.

    Exits 0 once the message is stored, 75 (EX_TEMPFAIL) when it cannot be stored so
    the MTA keeps it and retries, 65 (EX_DATAERR) when standard input is empty.
    """
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        click.echo("mailbot receive: no message on standard input", err=True)
        sys.exit(EX_DATAERR)
    if sender is not None or recipients:
        raw = stamp(raw, sender, recipients)
    arrival = Arrival(source="pipe", source_key=uuid.uuid4().hex, raw=raw, origin="pipe")
    try:
        receive(app.engine, arrival, app.now())
    except Exception as exc:  # noqa: BLE001 - StoreUnavailable, or the database was unreachable at connect
        reason = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
        click.echo(f"mailbot receive: message not stored, the MTA should retry: {reason}", err=True)
        sys.exit(EX_TEMPFAIL)
    try:
        process_pending(app, app.now())
    except Exception as exc:  # noqa: BLE001 - stored is what the MTA needs; `mailbot serve` processes it later
        click.echo(f"mailbot receive: stored; processing deferred: {exc}", err=True)

COMMANDS = (serve, receive_command)
