"""`mailbot tick` (the scheduler's due work, once) and `mailbot digest` (the ops digest)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailbot.app import App, parse_now
from mailbot.desk import notices
from mailbot.store.db import session_scope


@click.command()
@click.option("--until", help="Re-run every step from --now up to this ISO time (replay a missed stretch).")
@click.option("--step", default=15, show_default=True, help="Minutes between replayed ticks.")
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Also send what the outbox holds now (as `serve` would).",
)
@click.pass_obj
def tick(app: App, until: str | None, step: int, deliver: bool) -> None:
    """Run the scheduler's due work once: reminders, no_response, escalations, status, metrics, digest."""
    from datetime import timedelta

    from mailbot.scheduler import jobs

    if until:
        end = parse_now(until)
        assert end is not None
        summary = jobs.replay(app, end, timedelta(minutes=step), send=deliver)
    else:
        summary = jobs.run_due(app)
        if deliver:
            jobs.deliver(app)
    click.echo(json.dumps(summary.as_dict()))


@click.command()
@click.option("--print", "show", is_flag=True, help="Show the plain-text digest in the terminal.")
@click.option("--send", is_flag=True, help="Queue the digest for the ops addresses and deliver it.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML digest (chart embedded) to this file, for a browser.",
)
@click.pass_obj
def digest(app: App, show: bool, send: bool, html_file: Path | None) -> None:
    """The daily digest for ops, as of --now."""
    from mailbot.scheduler import digest as digest_module
    from mailbot.scheduler import jobs

    if not (show or send or html_file):
        raise click.UsageError("say --print, --send or --html FILE")
    now = app.now()
    with session_scope(app.engine) as session:
        data = digest_module.for_app(app, session, now)
    if show:
        click.echo(digest_module.render_text(data), nl=False)
    if html_file:
        html_file.write_text(digest_module.preview_html(data), encoding="utf-8")
        click.echo(f"wrote {html_file}", err=True)
    if send:
        # A manual send is its own message (ops asked for it), so it is keyed by the moment.
        with session_scope(app.engine) as session:
            msg = digest_module.send(app, session, now, key=notices.manual_digest_key(now))
        jobs.deliver(app)
        click.echo(f"queued {msg['Message-ID']} to {msg['To']}", err=True)


COMMANDS = (tick, digest)
