"""IMAP mailboxes: the account settings, mailbox URLs, and the bulk reader for `mailbot import`.

A message in a folder is keyed by "UIDVALIDITY:UID" under the source
"imap://user@host/Folder" (port only when not the default), the same for the
bulk import and the live watcher, so neither stores what the other already has.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.config import Settings
from mailbot.domain.records import Arrival

log = logging.getLogger(__name__)

DEFAULT_PORTS = {True: 993, False: 143}
# What a dropped or refused connection raises; the readers reconnect after these.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError)


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.lower().startswith(("imap://", "imaps://"))


def password(settings: Settings) -> str:
    """`[imap] password`, else the first line of `password_file`, else the variable named by `password_env`."""
    imap = settings.imap
    if imap.password:
        return imap.password
    if imap.password_file is not None:
        return imap.password_file.read_text().splitlines()[0].strip()
    if imap.password_env:
        name = imap.password_env
        if name not in os.environ:
            raise ValueError(f"[imap] password_env names {name}, which is not set")
        return os.environ[name]
    return ""


def cafile(settings: Settings) -> str:
    return str(settings.imap.cafile) if settings.imap.cafile else ""


@dataclass(frozen=True)
class Account:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    cafile: str = ""  # CA bundle the server's certificate must chain to; empty: the system's

    @classmethod
    def from_settings(cls, settings: Settings) -> Account:
        imap = settings.imap
        return cls(
            host=imap.host,
            port=imap.port or DEFAULT_PORTS[imap.tls],
            tls=imap.tls,
            user=imap.user,
            password=password(settings),
            cafile=cafile(settings),
        )

    def source(self, folder: str) -> str:
        """The folder's name as Message.source and checkpoint key."""
        scheme = "imaps" if self.tls else "imap"
        port = "" if self.port == DEFAULT_PORTS[self.tls] else f":{self.port}"
        return f"{scheme}://{quote(self.user, safe='')}@{self.host}{port}/{quote(folder, safe='/')}"

    def connect(self, timeout: float = 60.0) -> IMAPClient:
        context = ssl.create_default_context(cafile=self.cafile or None) if self.tls else None
        client = IMAPClient(self.host, port=self.port, ssl=self.tls, ssl_context=context, timeout=timeout)
        try:
            client.login(self.user, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client


@dataclass(frozen=True)
class Mailbox:
    """One folder of one account, as named by an imap:// or imaps:// URL."""

    account: Account
    folder: str
    batch_size: int = 100  # messages per FETCH

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Mailbox:
        """imap[s]://user@host[:port]/Folder; the password comes from `[imap]` settings, never the URL."""
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "imaps"
        if not parts.hostname or not parts.username:
            raise ValueError(f"IMAP URL needs a user and a host: imap://user@host/Folder, got {url!r}")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        account = Account(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[tls],
            tls=tls,
            user=unquote(parts.username),
            password=password(settings),
            cafile=cafile(settings),
        )
        return cls(account, folder, settings.imap.batch_size)

    @property
    def source(self) -> str:
        return self.account.source(self.folder)

    def __str__(self) -> str:
        return self.source


def count(mailbox: Mailbox) -> int:
    """How many messages the folder holds (for the progress bar)."""
    with mailbox.account.connect() as client:
        return int(client.select_folder(mailbox.folder, readonly=True)[b"EXISTS"])


def read(mailbox: Mailbox, retries: int = 5) -> Iterator[Arrival]:
    """Every message of the folder in UID order, fetched a batch at a time, read-only.

    A dropped connection is reopened (up to `retries` times in a row) and reading
    resumes after the last UID yielded; if UIDVALIDITY changed meanwhile the UIDs
    no longer mean the same messages, so the import stops with an error.
    """
    last_uid, uidvalidity, failures = 0, None, 0
    while True:
        try:
            with mailbox.account.connect() as client:
                info = client.select_folder(mailbox.folder, readonly=True)
                if uidvalidity is not None and info[b"UIDVALIDITY"] != uidvalidity:
                    raise ValueError(f"{mailbox}: UIDVALIDITY changed during the import; run it again")
                uidvalidity = info[b"UIDVALIDITY"]
                uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
                for start in range(0, len(uids), mailbox.batch_size):
                    batch = uids[start : start + mailbox.batch_size]
                    fetched = client.fetch(batch, ["BODY.PEEK[]"])
                    for uid in batch:
                        if uid in fetched:  # gone (expunged) since the search: nothing to read
                            yield Arrival(
                                source=mailbox.source, source_key=f"{uidvalidity}:{uid}", raw=fetched[uid][b"BODY[]"]
                            )
                        last_uid = uid
                    failures = 0
                return
        except NETWORK_ERRORS as exc:
            failures += 1
            if failures > retries:
                raise
            log.warning("%s: connection lost (%s); reconnecting", mailbox, exc)
            time.sleep(min(2**failures, 30))
