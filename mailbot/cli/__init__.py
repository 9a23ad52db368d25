"""The `mailbot` command: a click group; each command family lives in its own module."""

from __future__ import annotations

import os
import traceback
from importlib.metadata import version
from typing import Any

import click

from mailbot import config as config_module
from mailbot.app import App, build_app, parse_now
from mailbot.cli import logs
from mailbot.cli.errors import Failure, explain, safe_url
from mailbot.cli.exits import Exit

# Run by an MTA, not a person: its config is found as a daemon's is (no ./config.toml), and
# every failure but bad input is temporary, so the MTA keeps the message (README "Running in production").
MTA_COMMANDS = {"receive"}
# The exit codes an MTA command keeps: any other failure (a wrong config included: Postfix
# bounces EX_CONFIG) becomes EX_TEMPFAIL, so the MTA keeps the message until it is fixed.
MTA_KEEPS = {Exit.DATAERR, Exit.TEMPFAIL}


class MailbotGroup(click.Group):
    """Turns any failure into one or two readable lines and a sysexits code (--debug: and the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if ctx.invoked_subcommand not in MTA_COMMANDS:
                raise
            self._fail(ctx, exc, exc.format_message(), Exit.TEMPFAIL)  # e.g. a wrong argv in master.cf
        except (Exception, KeyboardInterrupt) as exc:
            app = ctx.find_object(App)
            problem = explain(exc, safe_url(app.settings.database_url) if app else "")
            self._fail(ctx, exc, problem.message, problem.code)

    def _fail(self, ctx: click.Context, exc: BaseException, message: str, code: Exit) -> None:
        if ctx.params.get("debug"):
            traceback.print_exception(exc)
        if ctx.invoked_subcommand in MTA_COMMANDS and code not in MTA_KEEPS:
            code = Exit.TEMPFAIL
        click.echo(f"mailbot: {message}", err=True)
        ctx.exit(code)


def _load(ctx: click.Context, config_file: str | None, database_url: str | None) -> config_module.Settings:
    daemon = ctx.invoked_subcommand in MTA_COMMANDS
    try:
        settings = config_module.load(config_file, database_url, checkout=not daemon)
    except FileNotFoundError as exc:
        raise Failure(str(exc), Exit.TEMPFAIL if daemon else Exit.CONFIG) from exc
    except PermissionError as exc:  # e.g. /etc/mailbot/config.toml not readable by the MTA's user
        raise Failure(f"cannot read config file {exc.filename}: {exc.strerror}", Exit.TEMPFAIL) from exc
    except ValueError as exc:  # TOML syntax (tomllib.TOMLDecodeError), or an environment value of the wrong type
        raise Failure(f"config: {exc}", Exit.CONFIG) from exc
    if daemon and settings.file is None and not database_url and "MAILBOT_DATABASE_URL" not in os.environ:
        places = ", ".join(str(p) for p in config_module.config_places(None, {}, checkout=False))
        raise Failure(
            f"no configuration: looked for --config, MAILBOT_CONFIG and {places}, and "
            "MAILBOT_DATABASE_URL is not set; nothing was stored, the MTA will retry",
            Exit.TEMPFAIL,
        )
    return settings


@click.group(cls=MailbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("mailbot"), "--version", prog_name="mailbot")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file (default: MAILBOT_CONFIG, else ./config.toml, else /etc/mailbot/config.toml; "
    "`receive` skips ./config.toml).",
)
@click.option("--db", "database_url", help="Database URL; overrides config and MAILBOT_DATABASE_URL.")
@click.option("--now", "now", help="Pretend it is this ISO time (also MAILBOT_NOW).")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Logging to stderr.",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="Log lines as text or as JSON objects.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
@click.pass_context
def main(
    ctx: click.Context,
    config_file: str | None,
    database_url: str | None,
    now: str | None,
    log_level: str,
    log_format: str,
    debug: bool,
) -> None:
    """mailbot: robocall traceback notices and replies, over email."""
    logs.setup(log_level, log_format)
    settings = _load(ctx, config_file, database_url)
    # A command that writes turns creation on (cli/options.py `creates_database`).
    ctx.obj = build_app(settings, now=parse_now(now), create_missing=False)


def _register() -> None:
    from mailbot.cli import (
        archive as cmd_import,
    )
    from mailbot.cli import (
        db as cmd_db,
    )
    from mailbot.cli import (
        desk as cmd_desk,
    )
    from mailbot.cli import (
        diagnose as cmd_diagnose,
    )
    from mailbot.cli import (
        outbox as cmd_outbox,
    )
    from mailbot.cli import (
        record as cmd_record,
    )
    from mailbot.cli import (
        schedule as cmd_schedule,
    )
    from mailbot.cli import (
        serve as cmd_serve,
    )
    from mailbot.cli import (
        settings as cmd_settings,
    )
    from mailbot.cli import (
        status as cmd_status,
    )

    for module in (
        cmd_import,
        cmd_db,
        cmd_serve,
        cmd_schedule,
        cmd_desk,
        cmd_outbox,
        cmd_diagnose,
        cmd_record,
        cmd_status,
        cmd_settings,
    ):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
