"""Exit codes from sysexits.h: what an MTA's pipe transport (Postfix, Exim) understands.

Postfix defers a message on EX_TEMPFAIL (and on EX_CONFIG) and bounces it on the
other codes, so only a failure that waiting cannot fix may use them.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    USAGE = 64  # the command line is wrong
    DATAERR = 65  # the input is not a message
    NOINPUT = 66  # a database to read does not exist
    UNAVAILABLE = 69  # a service cannot start: its port is taken
    SOFTWARE = 70  # a bug: nothing else fits
    CANTCREAT = 73  # a file or directory cannot be created
    TEMPFAIL = 75  # try again later: the database is unreachable, locked, the config unreadable
    CONFIG = 78  # the configuration is wrong
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it
