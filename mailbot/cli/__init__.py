"""The `mailbot` command: a click group; each command family lives in its own module."""

from __future__ import annotations

import click

from mailbot import config as config_module
from mailbot.app import App, parse_now


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (default ./config.toml).")
@click.option("--db", "database_url", help="Database URL; overrides config and MAILBOT_DATABASE_URL.")
@click.option("--now", "now", help="Pretend it is this ISO time (also MAILBOT_NOW).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, database_url: str | None, now: str | None) -> None:
    """mailbot: robocall traceback notices and replies, over email."""
    try:
        settings = config_module.load(config_file, database_url)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    app = App(config=settings)
    if now:
        app.fixed_now = parse_now(now)
    ctx.obj = app
    from mailbot.desk import inbound, workflow  # noqa: F401 - inbound registers the desk handler (until App does)

    workflow.configure(settings)  # live mail (serve, receive) is answered with this config's domain and secret


def _register() -> None:
    from mailbot.cli import db as cmd_db, desk as cmd_desk, diagnose as cmd_diagnose, archive as cmd_import, outbox as cmd_outbox, record as cmd_record, schedule as cmd_schedule, serve as cmd_serve

    for module in (cmd_import, cmd_db, cmd_serve, cmd_schedule, cmd_desk, cmd_outbox, cmd_diagnose, cmd_record):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
