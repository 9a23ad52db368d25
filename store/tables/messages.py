"""Tables. Rows hold what the parsers read; nothing here knows about email."""

from __future__ import annotations

from datetime import datetime

from mailbot.store.columns import utc_column
from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailbot.domain.vocabulary import MessageStatus


class Message(SQLModel, table=True):
    """Every message that ever arrived, raw, with the one status it ended with."""

    __table_args__ = (UniqueConstraint("source", "source_key", name="uq_message_source"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=1024)  # where it came from: "mbox:/path", "smtp", "imap://..."
    source_key: str = Field(max_length=512)  # its place there: offset, file name, UID
    message_key: str = Field(index=True, max_length=998)  # Message-ID, or "sha256:<hex>" without one
    raw_sha256: str = Field(max_length=64)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    origin: str = Field(default="import", max_length=16)  # import | smtp | imap | pipe
    received_at: datetime = Field(sa_column=utc_column())
    status: str = Field(default=MessageStatus.NEW, index=True, max_length=16)
    reason: str | None = None
    kind: str | None = Field(default=None, index=True, max_length=32)
    date: datetime | None = Field(default=None, sa_column=utc_column())
    subject: str = ""
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    incident_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parsed_at: datetime | None = Field(default=None, sa_column=utc_column())
    disposition: str | None = Field(default=None, max_length=32)  # the desk rule that fired on live mail
    # Processing raised this many times; it is tried again at `retry_at`, then quarantined.
    failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    retry_at: datetime | None = Field(default=None, sa_column=utc_column())


class MessageKey(SQLModel, table=True):
    """Which stored message first claimed a Message-ID; later copies are duplicates.

    A primary key rather than a check-then-insert, so concurrent importers on
    one database cannot both take the same message as new.
    """

    message_key: str = Field(primary_key=True, max_length=998)
    message_pk: int = Field(foreign_key="message.id")


class Incident(SQLModel, table=True):
    """One robocall incident, deduplicated by its number across every sighting."""

    incident_id: str = Field(primary_key=True, max_length=32)
    campaign: str | None = None
    call_time: datetime | None = Field(default=None, sa_column=utc_column())
    called: str | None = Field(default=None, max_length=32)
    caller: str | None = Field(default=None, max_length=32)
    description: str | None = None
    first_seen: datetime | None = Field(default=None, sa_column=utc_column())
    last_seen: datetime | None = Field(default=None, sa_column=utc_column())
    sightings: int = 0


class Sighting(SQLModel, table=True):
    """A call-details block for an incident, as one message carried it."""

    __table_args__ = (UniqueConstraint("incident_id", "message_pk", name="uq_sighting"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(index=True, max_length=32)
    message_pk: int = Field(foreign_key="message.id", index=True)
    seen_at: datetime | None = Field(default=None, sa_column=utc_column())
    kind: str = Field(max_length=32)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    campaign: str | None = None
    call_time: datetime | None = Field(default=None, sa_column=utc_column())
    called: str | None = Field(default=None, max_length=32)
    caller: str | None = Field(default=None, max_length=32)
    description: str | None = None


class CampaignName(SQLModel, table=True):
    """A campaign as written, and the cluster it belongs to."""

    name: str = Field(primary_key=True, max_length=512)
    canonical: str = Field(index=True, max_length=512)


class MetricsReport(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", unique=True)
    organization: str
    addressee: str | None = None
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())


class MetricsRow(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="metricsreport.id", index=True)
    table: str = Field(max_length=16)  # "your" | "upstream"
    provider: str | None = None
    values: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class UpstreamNotice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", unique=True)
    provider: str
    traceback_id: str = Field(index=True, max_length=32)
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())


class StaffComment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", unique=True)
    author: str
    organization: str | None = None
    text: str
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())


class Reply(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", unique=True)
    incident_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    outcome: str = Field(max_length=16)
    upstream_name: str | None = None
    upstream_email: str | None = None
    customer_name: str | None = None
    evidence: str | None = None
    text: str = ""
    confidence: float = Field(default=1.0, sa_column_kwargs={"server_default": "1"})  # of the reading, 0..1
    # The reading the desk proposed to the carrier for confirmation instead of applying it (README
    # "Confirming unsure readings"); None when it was applied, asked about, or never came to the desk.
    proposed: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
