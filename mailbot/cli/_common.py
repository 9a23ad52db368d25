"""What every command module of the CLI shares."""

from __future__ import annotations

import click

from mailbot.app import App

# A command taking `app: App` first: the application object the `mailbot` group built.
pass_app = click.make_pass_decorator(App)
