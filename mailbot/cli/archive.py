"""Commands over the archive: import, reparse, export, incidents, demo."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlmodel import col

from mailbot.app import App
from mailbot.archive import export as exports
from mailbot.archive.importer import ImportInterrupted, import_paths
from mailbot.archive.reparse import reparse as run_reparse
from mailbot.cli._common import pass_app
from mailbot.cli.exits import Exit
from mailbot.cli.options import creates_database, format_option
from mailbot.mailboxes import imap as imap_source
from mailbot.mailboxes import sources
from mailbot.parsers.phones import to_e164
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally
from mailbot.store.tables.messages import Message

# Quarantined messages the import summary lists one by one; `mailbot quarantine` lists them all.
QUARANTINE_LISTED = 20


def print_summary(tally: Tally) -> None:
    click.echo(f"messages read: {tally.stored + tally.skipped} (stored {tally.stored}, already stored {tally.skipped})")
    if tally.not_mail:
        files = "1 file that is" if tally.not_mail == 1 else f"{tally.not_mail} files that are"
        click.echo(f"skipped {files} not mail")
    click.echo("by status: " + (", ".join(f"{k} {v}" for k, v in sorted(tally.by_status.items())) or "-"))
    click.echo("by kind:   " + (", ".join(f"{k} {v}" for k, v in sorted(tally.by_kind.items())) or "-"))
    click.echo(f"incidents: {len(tally.new_incidents)} new, {len(tally.updated_incidents)} updated")
    if tally.requeued:
        click.echo(f"queued again for processing: {tally.requeued} (their processing had failed)")
    if tally.quarantined:
        click.echo("quarantined:")
        for reason, n in sorted(tally.quarantined.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>6}  {reason}")
    if tally.quarantine_places:
        click.echo("quarantined messages, where each came from (`mailbot diagnose ID` explains one):")
        for pk, source, source_key, reason in tally.quarantine_places[:QUARANTINE_LISTED]:
            click.echo(f"  {pk:>8}  {sources.describe_place(source, source_key)}: {reason}")
        if len(tally.quarantine_places) > QUARANTINE_LISTED:
            more = len(tally.quarantine_places) - QUARANTINE_LISTED
            click.echo(f"  ... and {more} more: mailbot quarantine")


def print_incidents(rows: list[dict]) -> None:
    columns = (
        ("incident_id", 8),
        ("call_time", 20),
        ("called", 12),
        ("caller", 12),
        ("campaign_canonical", 40),
        ("sightings", 9),
        ("last_seen", 20),
    )
    click.echo("  ".join(name.upper()[:width].ljust(width) for name, width in columns))
    for row in rows:
        click.echo(
            "  ".join(str(row[name] if row[name] is not None else "-")[:width].ljust(width) for name, width in columns)
        )
    click.echo(f"{len(rows)} incidents")


class MailboxParam(click.Path):
    """An existing file or directory, or an imap:// or imaps:// URL (password from `[imap]`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not imap_source.is_url(value):
            return super().convert(value, param, ctx)
        try:
            # On a command line click gives the context, which holds the App (mypy cannot tell).
            return imap_source.Mailbox.from_url(value, ctx.find_object(App).settings)  # type: ignore[union-attr]
        except (ValueError, OSError) as exc:
            self.fail(str(exc), param, ctx)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=MailboxParam(exists=True, path_type=Path))
@click.option("--jobs", default=1, show_default=True, help="Processes parsing in parallel.")
@click.option("--batch-size", type=int, help="Messages per transaction (default from config).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@creates_database
@pass_app
def import_command(app: App, paths: tuple[Path, ...], jobs: int, batch_size: int | None, progress: bool | None) -> None:
    """Import mailboxes (.eml files, directories, mbox, Maildir, .gz/.bz2/.xz/.zip/.tar(.gz) of them,
    imap[s]://user@host/Folder) as archive."""
    size = batch_size or app.settings.import_.batch_size
    try:
        tally = import_paths(app.engine, list(paths), batch_size=size, jobs=max(1, jobs), progress=progress)
    except imap_source.NETWORK_ERRORS as exc:  # an IMAP server unreachable or refusing the login
        raise click.ClickException(f"cannot read the mailbox: {exc}") from exc
    except sources.UnreadableMailbox as exc:  # a PST file, a damaged archive
        raise click.ClickException(str(exc)) from exc
    except ImportInterrupted as stop:
        click.echo(
            f"mailbot import: interrupted; {stop.tally.stored} message(s) stored by this run are kept.\n"
            "Run the same command again to resume: what is stored is skipped.",
            err=True,
        )
        raise click.exceptions.Exit(Exit.INTERRUPTED) from None
    print_summary(tally)


@click.command()
@click.option("--quarantined", is_flag=True, help="Only messages now in quarantine.")
@pass_app
def reparse(app: App, quarantined: bool) -> None:
    """Run the parsers again over stored messages (after a parser fix)."""
    print_summary(run_reparse(app.engine, only_quarantined=quarantined))


@click.command()
@click.argument("what", type=click.Choice(sorted(exports.EXPORTS)))
@format_option("json", "csv")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout).")
@pass_app
def export(app: App, what: str, fmt: str, output: Path | None) -> None:
    """Export incidents, messages, replies or the non-cooperative record as JSON (an array) or CSV."""
    with session_scope(app.engine) as session:
        text = exports.render(exports.EXPORTS[what](session), fmt)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _phone_option(value: str | None) -> str | None:
    """A number as staff type it ("(407) 261-3544", "4072613544"), in the E.164 form incidents hold."""
    return None if value is None else (to_e164(value) or value.strip())


@click.command()
@click.option("--campaign", help="Only this campaign (its name as written or its canonical name; any case).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Calls at or after (UTC).")
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Calls before (UTC); a date alone is that whole day.",
)
@click.option("--caller", help="Only calls from this number.")
@click.option("--called", help="Only calls to this number.")
@format_option("table", "json", "csv", help="json and csv rows are the `export incidents` rows.")
@pass_app
def incidents(
    app: App,
    campaign: str | None,
    since: datetime | None,
    until: datetime | None,
    caller: str | None,
    called: str | None,
    fmt: str,
) -> None:
    """Print the incidents, all or those the filters select (e.g. every call from a number since March)."""
    if until is not None and until.time() == time(0):
        until += timedelta(days=1)  # --until 2020-06-30 takes in the calls of the 30th
    chosen = exports.IncidentFilter(
        campaign=campaign, since=since, until=until, caller=_phone_option(caller), called=_phone_option(called)
    )
    with session_scope(app.engine) as session:
        rows = [row for row in exports.incidents(session) if chosen.admits(row)]
    if fmt == "table":
        print_incidents(rows)
    else:
        click.echo(exports.render(rows, fmt), nl=False)


@click.command()
@format_option("table", "json")
@pass_app
def quarantine(app: App, fmt: str) -> None:
    """List quarantined messages with their reasons and where each came from."""
    with session_scope(app.engine) as session:
        rows = session.execute(
            select(
                col(Message.id),
                col(Message.message_key),
                col(Message.reason),
                col(Message.source),
                col(Message.source_key),
                col(Message.failures),
            )
            .where(col(Message.status) == "quarantined")
            .order_by(col(Message.id))
        ).all()
    if fmt == "json":
        click.echo(
            exports.render(
                [
                    {
                        "id": pk,
                        "message_id": key,
                        "reason": reason,
                        "source": source,
                        "source_key": source_key,
                        "place": sources.describe_place(source, source_key),
                        "failures": failures,  # tries at processing it that raised (0: the parser refused it)
                    }
                    for pk, key, reason, source, source_key, failures in rows
                ],
                "json",
            ),
            nl=False,
        )
        return
    for pk, key, reason, source, source_key, _ in rows:
        click.echo(f"{pk:>8}  {key}  {reason}\n{'':>8}  from {sources.describe_place(source, source_key)}")
    click.echo(f"{len(rows)} quarantined")


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="The demo's own folder: its database, config, digest and notices (emptied first).",
)
@pass_app
def demo(app: App, folder: Path) -> None:
    """The whole product in under a minute, on its own database in --dir (yours is not touched):
    import the sample, trace a call three hops upstream by email through a real `mailbot serve`,
    let the scheduler escalate a silent provider in simulated time, write the digest and notices."""
    from mailbot.testing import demo as story_module

    root = click.get_current_context().find_root()
    if root.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        # The story's own lines say what happens (serve.log keeps serve's); --log-level INFO shows each decision.
        logging.getLogger().setLevel(logging.WARNING)
    try:
        story = story_module.run(folder, app.settings.paths.sample, say=lambda line: click.echo(line, err=True))
    except RuntimeError as exc:  # a step that never came (a broken install): say which
        raise click.ClickException(str(exc)) from exc
    click.echo(story_module.summary(story))


COMMANDS = (import_command, reparse, export, incidents, quarantine, demo)
