"""The traceback desk's tables: providers, tracebacks, hops, and work for humans.

A traceback follows one call upstream, one hop per provider; `Traceback.id` is the
traceback number (#N) printed in every notice. The scheduler reads `Hop` deadlines
(`due_at`, `next_reminder_at`, `reminders_sent`) and open `Review` rows for the digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.store.columns import utc_column
from sqlalchemy import JSON, Column, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from mailbot.domain.vocabulary import ContactRole, DisputeStatus, ProviderStatus, TracebackDirection, TracebackStatus


class Provider(SQLModel, table=True):
    """A voice service provider; `known` once it has been contacted (short requests, not first-contact letters)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=256)
    status: str = Field(default=ProviderStatus.GREEN, max_length=8)
    known: bool = False
    created_at: datetime | None = Field(default=None, sa_column=utc_column())
    # Not a U.S. provider (the ITG reads it from the FCC's Robocall Mitigation Database):
    # decides the U.S. Point of Entry and Foreign Point of Departure hop labels.
    foreign: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    country: str | None = Field(default=None, max_length=64)  # ISO code or name, as given
    # Its answers count only with a passing DKIM signature aligned with the From domain
    # (issue 12 §3): set for carriers whose mail is always signed, so an unsigned forgery is refused.
    require_dkim: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The language of its notices where a template has it (`es`); None: English.
    language: str | None = Field(default=None, max_length=8)


class ProviderAlias(SQLModel, table=True):
    """Another name the provider goes by (as carriers write it)."""

    __table_args__ = (UniqueConstraint("provider_id", "alias", name="uq_provider_alias"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    alias: str = Field(max_length=256)


class ProviderContact(SQLModel, table=True):
    """An address that receives the provider's notices and may answer its hops."""

    __table_args__ = (UniqueConstraint("provider_id", "address", name="uq_provider_contact"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    address: str = Field(index=True, max_length=320)  # lower-cased
    role: str = Field(default=ContactRole.PRIMARY, max_length=8)
    undeliverable: bool = False  # a notice to it bounced
    undeliverable_at: datetime | None = Field(default=None, sa_column=utc_column())


class ProviderDomain(SQLModel, table=True):
    """A mail domain whose every address may answer for the provider."""

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    domain: str = Field(unique=True, max_length=255)  # lower-cased


class Traceback(SQLModel, table=True):
    """One call followed upstream; `id` is its number. `result` is the label that ended it."""

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=TracebackStatus.OPEN, index=True, max_length=8)
    result: str | None = Field(default=None, max_length=16)  # origin | not_found | no_response | ...
    campaign: str = ""
    call_time: datetime | None = Field(default=None, sa_column=utc_column())
    called: str | None = Field(default=None, max_length=32)  # E.164
    caller: str | None = Field(default=None, max_length=32)  # E.164
    description: str | None = None
    incident_id: str | None = Field(default=None, max_length=32)  # the stored incident it started from
    origin_customer: str | None = None  # who originated the call, when a hop said so
    opened_at: datetime | None = Field(default=None, sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column())
    # `forward`: a Trace Forward of the call-back number in `called`, hop by hop downstream.
    direction: str = Field(
        default=TracebackDirection.BACK,
        max_length=8,
        sa_column_kwargs={"server_default": TracebackDirection.BACK.value},
    )
    # Strike Exempt: kept in the record and exports, counted toward no status, designation or metrics.
    strike_exempt: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    exempt_reason: str | None = Field(default=None, max_length=32)  # an ExemptReason
    exempt_note: str | None = None
    exempt_at: datetime | None = Field(default=None, sa_column=utc_column())


class Hop(SQLModel, table=True):
    """One provider asked about the call; position 0 is the terminating provider.

    Open while `answered_at` is None. The scheduler owns the deadline fields.
    """

    __table_args__ = (UniqueConstraint("traceback_id", "position", name="uq_hop_position"),)

    id: int | None = Field(default=None, primary_key=True)
    traceback_id: int = Field(foreign_key="traceback.id", index=True)
    position: int = 0
    provider_id: int = Field(foreign_key="provider.id", index=True)
    downstream_hop_id: int | None = Field(default=None, foreign_key="hop.id")
    requested_at: datetime | None = Field(default=None, sa_column=utc_column())
    answered_at: datetime | None = Field(default=None, sa_column=utc_column())
    outcome: str | None = Field(default=None, max_length=16)
    evidence: str | None = None  # the sentence of the reply that decided the outcome
    upstream_name: str | None = None  # as the carrier wrote it
    upstream_email: str | None = None
    customer_name: str | None = None  # for `origin`
    reply_message_pk: int | None = Field(default=None, foreign_key="message.id")
    due_at: datetime | None = Field(default=None, sa_column=utc_column())
    next_reminder_at: datetime | None = Field(default=None, sa_column=utc_column())
    reminders_sent: int = 0
    clarifications_sent: int = 0
    # A reading mailbot was not sure enough to act on, waiting for the carrier's YES (SÍ) or
    # correction: outcome, upstream_name, upstream_email, customer_name, confidence, message_pk.
    proposed: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class HopMessage(SQLModel, table=True):
    """A message in or out on a hop: the timeline, and In-Reply-To matching of replies."""

    id: int | None = Field(default=None, primary_key=True)
    hop_id: int = Field(foreign_key="hop.id", index=True)
    direction: str = Field(max_length=3)  # in | out
    kind: str = Field(max_length=32)  # notice kind out; reply/status/... in
    message_id: str | None = Field(default=None, index=True, max_length=998)
    message_pk: int | None = Field(default=None, foreign_key="message.id")
    address: str | None = Field(default=None, max_length=320)
    at: datetime | None = Field(default=None, sa_column=utc_column())


class Review(SQLModel, table=True):
    """An item waiting for a human; the digest lists those not yet resolved."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=32)
    traceback_id: int | None = Field(default=None, foreign_key="traceback.id", index=True)
    hop_id: int | None = Field(default=None, foreign_key="hop.id")
    provider_id: int | None = Field(default=None, foreign_key="provider.id")
    message_pk: int | None = Field(default=None, foreign_key="message.id")
    detail: str = ""
    created_at: datetime | None = Field(default=None, sa_column=utc_column())
    resolved: bool = Field(default=False, index=True)
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column())
    # A change that applies only when a person accepts the review (`review resolve ID --accept`).
    proposal: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Reviews about one outside sender, of one kind, on one day, are this one row, seen `count` times.
    sender: str | None = Field(default=None, index=True, max_length=320)
    count: int = Field(default=1, sa_column_kwargs={"server_default": "1"})

    @property
    def summary(self) -> str:
        """The detail as people read it (review list, digest): a grouped review says how many it stands for."""
        if self.count <= 1:
            return self.detail
        return self.detail + (
            f" ({self.count} times from {self.sender} that day)" if self.sender else f" ({self.count} times)"
        )


class ReplyExample(SQLModel, table=True):
    """A carrier's own words and the answer a person said they meant: the labelled set mailbot learns from.

    Kept when ops resolve a review by stating the answer (`mailbot review resolve --outcome`);
    `mailbot replies learn` puts every example into the nearest-neighbour model (`in_model`).
    """

    __tablename__ = "reply_example"

    id: int | None = Field(default=None, primary_key=True)
    text: str  # the reply's own words: notices, quotes and signature removed
    outcome: str = Field(max_length=16)
    upstream_name: str | None = None
    upstream_email: str | None = None
    customer_name: str | None = None
    review_id: int | None = Field(default=None, foreign_key="review.id")
    message_pk: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime | None = Field(default=None, sa_column=utc_column())
    in_model: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class Dispute(SQLModel, table=True):
    """A provider's formal challenge to the basis of a traceback, and what ops decided about it."""

    id: int | None = Field(default=None, primary_key=True)
    traceback_id: int = Field(foreign_key="traceback.id", index=True)
    hop_id: int = Field(foreign_key="hop.id")
    provider_id: int = Field(foreign_key="provider.id", index=True)
    message_pk: int | None = Field(default=None, foreign_key="message.id")
    reason: str = ""  # the sentence (or form line) that disputes
    text: str = ""  # the reply's own words, kept as the evidence
    attachments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # file names
    status: str = Field(default=DisputeStatus.OPEN, index=True, max_length=8)
    created_at: datetime | None = Field(default=None, sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column())
    decision_reason: str | None = None
