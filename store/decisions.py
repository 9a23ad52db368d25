"""Log lines for decisions taken inside a transaction, written only once it commits.

A notice queued or a review opened is one INFO line with its ids (README "Logging"); it
is noted where the decision is made, in the middle of a transaction that may still roll
back (a conflict, a crash, a failed later step), so the line waits for the commit and is
dropped with a rollback: the log never tells of a decision the database does not hold.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "mailbot.decisions"  # key in Session.info


def note(session: Session, logger: logging.Logger, message: str, *args: Any) -> None:
    """Log `message % args` at INFO on `logger` when `session` commits; nothing if it rolls back."""
    session.info.setdefault(_PENDING, []).append((logger, message, args))


@event.listens_for(Session, "after_commit")
def _write(session: Session) -> None:
    for logger, message, args in session.info.pop(_PENDING, ()):
        logger.info(message, *args)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
