"""The desk learns from the people who fix it (issue 13, item 6).

When ops resolve a review with the answer they read in the carrier's reply (`mailbot review
resolve ID --outcome ...`, `ops.resolve`, which applies it), `remember` keeps the carrier's own
words with that answer as a labelled `ReplyExample`. `learn` puts
every example into the model (`parsers.reply_learn`, nearest neighbours); `model` is what the
desk reads later replies with; `labelled` is the set `mailbot replies export` writes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from mailbot.desk.workflow import DeskError
from mailbot.domain.timeutil import iso_z
from mailbot.domain.vocabulary import HopOutcome
from mailbot.parsers import reply as reply_parser
from mailbot.parsers.live import notice_text
from mailbot.parsers.reply_learn import Example
from mailbot.store.tables.desk import Hop, ReplyExample, Review
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage

# What a person may say the answer was.
STATED_OUTCOMES = (HopOutcome.UPSTREAM, HopOutcome.ORIGIN, HopOutcome.NOT_FOUND, HopOutcome.DISPUTE)
_SPANISH = re.compile(r"[ñ¿¡]|\b(la|el|los|nos|llamada|nuestro|proveedor|cliente|desde|que)\b", re.IGNORECASE)


def sent_texts(session: Session, hops: list[Hop]) -> list[str]:
    """The text of every notice sent on these hops, as the outbox stored it."""
    rows = session.exec(select(col(OutboxMessage.raw)).where(col(OutboxMessage.hop_id).in_([h.id for h in hops]))).all()
    return [notice_text(raw) for raw in rows]


def own_words(session: Session, message_pk: int, hop: Hop) -> str:
    """The carrier's own words in a stored reply, read the way the desk read them."""
    message = session.get(Message, message_pk)
    if message is None:
        raise DeskError(f"no stored message {message_pk}")
    return reply_parser.strip_quoted(notice_text(message.raw), sent_texts(session, [hop]))


def model(session: Session) -> list[Example]:
    """The examples `mailbot replies learn` put into the model."""
    rows = session.exec(
        select(ReplyExample).where(col(ReplyExample.in_model).is_(True)).order_by(col(ReplyExample.id))
    ).all()
    return [_example(r) for r in rows]


def _example(row: ReplyExample) -> Example:
    return Example(
        text=row.text,
        outcome=row.outcome,
        upstream_name=row.upstream_name,
        upstream_email=row.upstream_email,
        customer_name=row.customer_name,
    )


def remember(
    session: Session,
    review: Review,
    hop: Hop,
    outcome: str,
    now: datetime,
    *,
    upstream_name: str | None = None,
    upstream_email: str | None = None,
    customer_name: str | None = None,
) -> ReplyExample | None:
    """Keep the carrier's words in the review's message with the answer a person read in them.

    Called by `ops.resolve` (`review resolve ID ANSWER` / `--outcome`, or the same line in a reply
    to the digest) once it applied the answer; None when the review is about no carrier's reply."""
    if review.message_pk is None or outcome not in STATED_OUTCOMES:
        return None
    words = own_words(session, review.message_pk, hop)
    if not words.strip():
        return None
    example = ReplyExample(
        text=words,
        outcome=outcome,
        upstream_name=upstream_name if outcome == HopOutcome.UPSTREAM else None,
        upstream_email=upstream_email.lower() if upstream_email and outcome == HopOutcome.UPSTREAM else None,
        customer_name=customer_name if outcome == HopOutcome.ORIGIN else None,
        review_id=review.id,
        message_pk=review.message_pk,
        created_at=now,
    )
    session.add(example)
    session.flush()
    return example


def learn(session: Session) -> tuple[int, int, int]:
    """Every labelled example into the model: (examples, read right leaving each one out, new ones)."""
    rows = list(session.exec(select(ReplyExample).order_by(col(ReplyExample.id))).all())
    new = sum(1 for r in rows if not r.in_model)
    for row in rows:
        row.in_model = True
    examples = [_example(r) for r in rows]
    right = 0
    for i, example in enumerate(examples):
        got = reply_parser.answers(example.text, (), learned=examples[:i] + examples[i + 1 :])[0]
        right += (got.outcome, got.upstream_name, got.customer_name) == (
            example.outcome,
            example.upstream_name,
            example.customer_name,
        )
    return len(rows), right, new


def labelled(session: Session) -> list[dict[str, Any]]:
    """The labelled set, one object per example, in the shape of the reply benchmark's batches."""
    rows = session.exec(select(ReplyExample).order_by(col(ReplyExample.id))).all()
    return [
        {
            "id": f"learned-{r.id}",
            "lang": "es" if _SPANISH.search(r.text) else "en",
            "body": r.text,
            "expected": {
                "outcome": r.outcome,
                "upstream_name": r.upstream_name,
                "upstream_email": r.upstream_email,
                "customer_name": r.customer_name,
            },
            "review_id": r.review_id,
            "message_pk": r.message_pk,
            "created_at": iso_z(r.created_at),
            "in_model": r.in_model,
        }
        for r in rows
    ]
