"""Logging for every command: stderr, text or JSON lines, one level; library chatter kept below INFO."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log routine events at INFO: shown only at DEBUG.
CHATTY = ("mail.log", "alembic")  # aiosmtpd: a line per connection and QUIT; alembic: its start-up lines


def setup(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={
        "asctime": "time", "levelname": "level", "name": "logger"}) if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
