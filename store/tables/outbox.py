"""The outbox: every message mailbot means to send, recorded before it is sent.

A row is written in the same transaction as the decision to send it, so a notice
exists exactly when the state change that caused it does; delivery happens later
from these rows. `dedupe_key` is unique, which is what makes a notice
exactly-once per (hop, kind, sequence).
"""

from __future__ import annotations

from datetime import datetime

from mailbot.store.columns import utc_column
from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from mailbot.domain.vocabulary import OutboxStatus


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=255)  # e.g. "hop:12:reminder:1"
    kind: str = Field(index=True, max_length=32)
    traceback_id: int | None = Field(default=None, index=True)
    hop_id: int | None = Field(default=None, index=True)
    message_id: str = Field(unique=True, max_length=255)
    sender: str = Field(max_length=512)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = ""
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=OutboxStatus.QUEUED, max_length=16)
    attempts: int = 0
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    next_attempt_at: datetime = Field(sa_column=utc_column(nullable=False))
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = None


class OutboxRecipient(SQLModel, table=True):
    """One row per (message, address): what the per-recipient rate limit counts."""

    __tablename__ = "outbox_recipient"
    __table_args__ = (Index("ix_outbox_recipient_address_sent", "address", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox_message.id", index=True)
    address: str = Field(max_length=320)  # lower-cased
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    # A delivery report for this message and this address, come back to the message's own
    # return path (VERP): what a contact's bounce count counts (mailbot/desk/bounces.py).
    bounced_at: datetime | None = Field(default=None, sa_column=utc_column())
    bounce_status: str | None = Field(default=None, max_length=16)  # the DSN's Status, e.g. 5.1.1
