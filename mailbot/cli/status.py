"""`mailbot status`: is this installation healthy? For people and for scripts (exit 0 or 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func, select
from sqlmodel import col

from mailbot.app import App
from mailbot.cli._common import pass_app
from mailbot.cli.errors import explain, safe_url
from mailbot.cli.options import format_option
from mailbot.domain.vocabulary import MessageStatus, OutboxStatus
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Review
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite hands back naive UTC


def gather(app: App) -> dict[str, Any]:
    """The figures, read in one transaction; raises when the database cannot be used."""
    with session_scope(app.engine) as session:
        oldest = session.execute(
            select(func.min(col(Message.received_at))).where(col(Message.status) == MessageStatus.NEW)
        ).scalar()
        outbox = dict(
            session.execute(select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))).all()
        )
        reviews = session.execute(
            select(func.count()).select_from(Review).where(col(Review.resolved).is_(False))
        ).scalar()
    lag = (app.now() - _utc(oldest)).total_seconds() if oldest else 0.0
    return {
        "unprocessed_oldest_seconds": round(max(lag, 0.0), 1),
        "outbox_queued": outbox.get(OutboxStatus.QUEUED, 0),
        "outbox_failed": outbox.get(OutboxStatus.FAILED, 0),
        "open_reviews": reviews or 0,
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
