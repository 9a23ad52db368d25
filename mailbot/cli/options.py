"""What commands declare about themselves to the `mailbot` group."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from mailbot.app import App

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str, help: str | None = None) -> Callable[[F], F]:
    """`--format` (into `fmt`): one of `choices`, the first by default."""
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True, help=help
    )


def creates_database(command: F) -> F:
    """Mark a command that writes: it may create a missing database (and says so on stderr).

    Every other command refuses a database that does not exist, creating nothing.
    Put it under the @click.command decorator, above @pass_app.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Under a command the context holds the App, which the group built (mypy cannot tell).
        click.get_current_context().find_object(App).create_missing = True  # type: ignore[union-attr]
        return command(*args, **kwargs)

    return cast(F, wrapper)  # functools.wraps keeps the signature
