"""Exit codes from sysexits.h: what an MTA's pipe transport (Postfix, Exim) understands.

Postfix defers a message on EX_TEMPFAIL and bounces it on the other codes, EX_CONFIG
included (dsn 5.3.5; tests/deploy/test_postfix_pipe.py shows both). So `mailbot receive`
exits EX_TEMPFAIL for every failure an administrator can fix, a wrong config too, and
EX_DATAERR only for input that is not a message; the other commands use the codes below.
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
