"""How far live intake has read each IMAP folder.

A folder's messages are identified by (UIDVALIDITY, UID): every UID up to
`last_uid` under `uidvalidity` is stored. A different UIDVALIDITY on the server
means the UIDs were renumbered, and the folder is read again (a resync).
"""

from __future__ import annotations

from datetime import datetime

from mailbot.store.columns import utc_column
from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class ImapCheckpoint(SQLModel, table=True):
    __tablename__ = "imap_checkpoint"

    mailbox: str = Field(primary_key=True, max_length=1024)  # imap://user@host/Folder, as Message.source
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))  # 32-bit unsigned: beyond INTEGER
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))
