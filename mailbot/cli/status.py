"""`mailbot status`: is this installation healthy? For people and for scripts (exit 0 or 1)."""

from __future__ import annotations

import json
from typing import Any

import click

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.errors import explain, safe_url
from mailbot.cli.options import format_option
from mailbot.domain.vocabulary import OutboxStatus
from mailbot.store.db import session_scope
from mailbot.store.figures import read_figures


def gather(app: App) -> dict[str, Any]:
    """The figures, read in one transaction; raises when the database cannot be used."""
    with session_scope(app.engine) as session:
        figures = read_figures(session)
    return {
        "unprocessed_oldest_seconds": round(figures.lag_seconds(app.now()), 1),
        "outbox_queued": figures.outbox[OutboxStatus.QUEUED],
        "outbox_failed": figures.outbox[OutboxStatus.FAILED],
        "open_reviews": figures.open_reviews,
    }


@click.command()
@click.option(
    "--max-lag",
    default=300.0,
    show_default=True,
    help="Seconds a stored message may wait for processing before it counts as a problem.",
)
@format_option("text", "json")
@pass_app
def status(app: App, max_lag: float, fmt: str) -> None:
    """Database reachable and at the current schema, processing lag, outbox, open reviews.

    Exits 0 when healthy; 1 when the database cannot be used, a stored message has waited
    longer than --max-lag, or the outbox holds failed notices.
    """
    report: dict[str, Any] = {"database": safe_url(app.settings.database_url)}
    try:
        report.update(gather(app))
        problems = (
            [f"a message has waited {report['unprocessed_oldest_seconds']:.0f}s for processing (is serve running?)"]
            if report["unprocessed_oldest_seconds"] > max_lag
            else []
        )
        problems += (
            [f"{report['outbox_failed']} outbox message(s) failed: mailbot outbox list --status failed"]
            if report["outbox_failed"]
            else []
        )
    except Exception as exc:
        problems = [explain(exc, report["database"]).message]
    report["healthy"], report["problems"] = not problems, problems
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if key != "problems":
                click.echo(f"{key}: {value}")
        for problem in problems:
            click.echo(f"problem: {problem}")
    raise click.exceptions.Exit(0 if not problems else 1)


COMMANDS = (status,)
