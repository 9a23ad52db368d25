"""`mailbot traceback report`: the record of a traceback (or a campaign's) for enforcement."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select
from sqlmodel import col

from mailbot.app import App
from mailbot.archive import report
from mailbot.cli.desk import traceback_group
from mailbot.desk import workflow
from mailbot.store.db import session_scope
from mailbot.store.tables.desk import Traceback

pass_app = click.make_pass_decorator(App)


@traceback_group.command("report")
@click.argument("number", type=int, required=False)
@click.option("--campaign", help="Every traceback of this campaign, in one document.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML here.")
@click.option(
    "--pdf",
    "pdf_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PDF here (printed by headless Chromium).",
)
@pass_app
def traceback_report(
    app: App, number: int | None, campaign: str | None, html_file: Path | None, pdf_file: Path | None
) -> None:
    """The record of traceback NUMBER (or of --campaign's): call, path, answers, every message with its
    Message-ID and SHA-256, disputes, notices. HTML to stdout unless --html/--pdf."""
    if (number is None) == (campaign is None):
        raise click.UsageError("give a traceback NUMBER or --campaign, not both")
    with session_scope(app.engine) as session:
        ids = (
            [number]
            if number is not None
            else [
                tb_id
                for tb_id in session.scalars(
                    select(col(Traceback.id)).where(col(Traceback.campaign) == campaign).order_by(col(Traceback.id))
                )
                if tb_id is not None  # a primary key: never
            ]
        )
        if not ids:
            raise click.ClickException(f"no traceback of campaign {campaign!r}")
        try:
            records = [report.collect(session, tb_id, app.now()) for tb_id in ids]
        except workflow.DeskError as exc:
            raise click.ClickException(str(exc)) from exc
    html = report.render_html(records)
    if html_file:
        html_file.write_text(html, encoding="utf-8")
    if pdf_file:
        try:
            report.to_pdf(html, pdf_file)
        except (RuntimeError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
    if not html_file and not pdf_file:
        click.echo(html, nl=False)
    for record in records:
        if not record["all_verified"]:
            click.echo(f"traceback #{record['traceback_id']}: a stored message does not match its hash", err=True)


COMMANDS = ()  # `report` joins the `traceback` group
