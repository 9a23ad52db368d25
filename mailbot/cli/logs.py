"""Logging for every command: stderr, text or JSON lines, one level; library chatter kept below INFO."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log routine events at INFO: shown only at DEBUG.
CHATTY = ("mail.log", "alembic")  # aiosmtpd: a line per connection and QUIT; alembic: its start-up lines


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is logged (a test's runner swaps it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup(level: str, fmt: str) -> None:
    handler = _Stderr()
    handler.set_name("mailbot")
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
        if fmt == "json"
        else logging.Formatter(TEXT)
    )
    root = logging.getLogger()
    # Replace only mailbot's own handler (a command run twice in one process), keep any other.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "mailbot"] + [handler]
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
