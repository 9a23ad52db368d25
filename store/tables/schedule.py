"""The scheduler's own rows: claims of scheduled work, and provider status history.

What is due lives in the database (hop deadlines on `Hop`, these claims), never in
APScheduler's memory, so any number of processes can share one database.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.store.columns import utc_column
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class ScheduleClaim(SQLModel, table=True):
    """One piece of scheduled work, done once: the primary key is the claim.

    Keys read like `hop:12:reminder:2`, `metrics:7:2026-03`, `digest:2026-03-16`;
    whoever inserts the key first does the work, in the same transaction.
    """

    key: str = Field(primary_key=True, max_length=255)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column())
    detail: str = ""


class StatusChange(SQLModel, table=True):
    """A provider's status moved (GREEN/YELLOW/RED); the digest lists these."""

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    old_status: str = Field(max_length=8)
    new_status: str = Field(max_length=8)
    at: datetime | None = Field(default=None, sa_column=utc_column())
    reason: str = ""


class NonCooperativeChange(SQLModel, table=True):
    """A provider designated Non-Cooperative, or its designation removed, with why.

    The newest row of a provider is its standing; the rows are the published record.
    `findings` holds each rule that held (`rule`, `detail`, `traceback_ids`);
    `traceback_ids` all the tracebacks that caused the designation.
    """

    __tablename__ = "noncooperative_change"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    action: str = Field(max_length=16)  # designated | removed
    at: datetime | None = Field(default=None, sa_column=utc_column())
    findings: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    traceback_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
