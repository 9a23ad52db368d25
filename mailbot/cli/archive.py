"""Commands over the archive: import, reparse, export, incidents, demo."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import func, select

from mailbot.archive import export as exports
from mailbot.mailboxes import imap as imap_source
from mailbot.app import App
from mailbot.archive.importer import import_paths
from mailbot.archive.reparse import reparse as run_reparse
from mailbot.store.db import session_scope
from mailbot.store.ingest import Tally
from mailbot.store.tables.messages import Message

pass_app = click.make_pass_decorator(App)


def print_summary(tally: Tally) -> None:
    click.echo(f"messages read: {tally.stored + tally.skipped} (stored {tally.stored}, "
               f"already stored {tally.skipped})")
    click.echo("by status: " + (", ".join(f"{k} {v}" for k, v in sorted(tally.by_status.items())) or "-"))
    click.echo("by kind:   " + (", ".join(f"{k} {v}" for k, v in sorted(tally.by_kind.items())) or "-"))
    click.echo(f"incidents: {len(tally.new_incidents)} new, {len(tally.updated_incidents)} updated")
    if tally.quarantined:
        click.echo("quarantined:")
        for reason, n in sorted(tally.quarantined.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>6}  {reason}")


def print_incidents(app: App) -> None:
    with session_scope(app.engine) as session:
        rows = exports.incidents(session)
    columns = (("incident_id", 8), ("call_time", 20), ("called", 12), ("caller", 12),
               ("campaign_canonical", 40), ("sightings", 9), ("last_seen", 20))
    click.echo("  ".join(name.upper()[:width].ljust(width) for name, width in columns))
    for row in rows:
        click.echo("  ".join(str(row[name] if row[name] is not None else "-")[:width].ljust(width)
                             for name, width in columns))
    click.echo(f"{len(rows)} incidents")


class MailboxParam(click.Path):
    """An existing file or directory, or an imap:// or imaps:// URL (password from `[imap]`)."""

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if not imap_source.is_url(value):
            return super().convert(value, param, ctx)
        try:
            return imap_source.Mailbox.from_url(value, ctx.find_object(App).config)
        except (ValueError, OSError) as exc:
            self.fail(str(exc), param, ctx)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=MailboxParam(exists=True, path_type=Path))
@click.option("--jobs", default=1, show_default=True, help="Processes parsing in parallel.")
@click.option("--batch-size", type=int, help="Messages per transaction (default from config).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@pass_app
def import_command(app: App, paths: tuple[Path, ...], jobs: int, batch_size: int | None,
                   progress: bool | None) -> None:
    """Import mailboxes (.eml files, directories, mbox, Maildir, imap[s]://user@host/Folder) as archive."""
    size = batch_size or int(app.config.get("import", "batch_size"))
    try:
        tally = import_paths(app.engine, list(paths), batch_size=size, jobs=max(1, jobs), progress=progress)
    except imap_source.NETWORK_ERRORS as exc:  # an IMAP server unreachable or refusing the login
        raise click.ClickException(f"cannot read the mailbox: {exc}") from exc
    print_summary(tally)


@click.command()
@click.option("--quarantined", is_flag=True, help="Only messages now in quarantine.")
@pass_app
def reparse(app: App, quarantined: bool) -> None:
    """Run the parsers again over stored messages (after a parser fix)."""
    print_summary(run_reparse(app.engine, only_quarantined=quarantined))


@click.command()
@click.argument("what", type=click.Choice(sorted(exports.EXPORTS)))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
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


@click.command()
@pass_app
def incidents(app: App) -> None:
    """Print the incidents table."""
    print_incidents(app)


@click.command()
@pass_app
def quarantine(app: App) -> None:
    """List quarantined messages with their reasons."""
    with session_scope(app.engine) as session:
        rows = session.execute(
            select(Message.id, Message.message_key, Message.reason).where(Message.status == "quarantined")
            .order_by(Message.id)
        ).all()
    for pk, key, reason in rows:
        click.echo(f"{pk:>8}  {key}  {reason}")
    click.echo(f"{len(rows)} quarantined")


@click.command()
@pass_app
def demo(app: App) -> None:
    """Import the bundled sample mailbox, then print the incidents table and a summary."""
    sample = app.config.get("paths", "sample")
    tally = import_paths(app.engine, [sample], batch_size=int(app.config.get("import", "batch_size")))
    print_incidents(app)
    click.echo()
    with session_scope(app.engine) as session:
        total = session.execute(select(func.count()).select_from(Message)).scalar_one()
    click.echo(f"database: {app.config.database_url} ({total} messages stored)")
    print_summary(tally)


COMMANDS = (import_command, reparse, export, incidents, quarantine, demo)
