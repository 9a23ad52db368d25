"""Watching IMAP folders: store each new message, then mark it, then advance the checkpoint.

That order is what makes a cut connection harmless: a message stored but not
yet marked is fetched again and found already stored (its source key is
"UIDVALIDITY:UID"), so it is neither lost nor stored twice. New mail is noticed
with IDLE where the server has it, else by polling. After any network or store
error the watcher reconnects with exponential backoff.

When UIDVALIDITY changes the old UIDs mean nothing: the folder is read again
from the start, and a message whose exact bytes this folder already delivered
is not stored again (duplicates by Message-ID are caught later, at processing).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from mailbot.app import App
from mailbot.domain.records import Arrival
from mailbot.intake.pipeline import StoreUnavailable, receive
from mailbot.mailboxes.imap import NETWORK_ERRORS, Account
from mailbot.store.db import session_scope
from mailbot.store.tables.intake import ImapCheckpoint
from mailbot.store.tables.messages import Message
from mailbot.store.upsert import upsert

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$MailbotProcessed"
MAX_BACKOFF = 300.0
RETRIED: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, StoreUnavailable, SQLAlchemyError)


@dataclass(frozen=True)
class After:
    """What to do with a message once stored: add a keyword, or move it to a folder."""

    move_to: str | None = None
    keyword: str = PROCESSED_KEYWORD

    @classmethod
    def parse(cls, value: str) -> After:
        action, _, arg = str(value).partition(":")
        if action == "move" and arg:
            return cls(move_to=arg)
        if action == "flag":
            return cls(keyword=arg or PROCESSED_KEYWORD)
        raise ValueError(f'[imap] after must be "flag", "flag:KEYWORD" or "move:FOLDER", got {value!r}')

    def apply(self, client: IMAPClient, uids: Sequence[int]) -> None:
        if self.move_to is None:
            client.add_flags(uids, [self.keyword.encode()], silent=True)
            return
        if not client.folder_exists(self.move_to):
            client.create_folder(self.move_to)
        if client.has_capability("MOVE"):
            client.move(uids, self.move_to)
        else:
            client.copy(uids, self.move_to)
            client.delete_messages(uids, silent=True)
            client.uid_expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()

    def search(self, after_uid: int) -> list[Any]:
        criteria: list[Any] = ["UID", f"{after_uid + 1}:*"]
        return criteria if self.move_to else [*criteria, "UNKEYWORD", self.keyword]


class FolderWatcher:
    """One folder of one account, watched until `stop` is set."""

    def __init__(
        self,
        engine: Engine,
        account: Account,
        folder: str,
        after: After,
        *,
        batch_size: int = 100,
        poll_interval: float = 60.0,
        now: Callable[[], datetime],
        stop: threading.Event,
        on_stored: Callable[[], None] = lambda: None,
        idle: bool | None = None,
    ) -> None:
        self.engine, self.account, self.folder, self.after = engine, account, folder, after
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.now, self.stop, self.on_stored = now, stop, on_stored
        self.source = account.source(folder)
        self.idle = idle  # None: IDLE when the server offers it, else poll

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                with self.account.connect() as client:
                    log.info("imap: watching %s", self.source)
                    backoff = 1.0
                    self._watch(client)
            except RETRIED as exc:
                log.warning("imap: %s: %s; reconnecting in %.0fs", self.source, exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _watch(self, client: IMAPClient) -> None:
        idle = client.has_capability("IDLE") if self.idle is None else self.idle
        while not self.stop.is_set():
            info = client.select_folder(self.folder)
            self.catch_up(client, int(info[b"UIDVALIDITY"]))
            if not self.stop.is_set():
                self._wait(client, idle)

    def _wait(self, client: IMAPClient, idle: bool) -> None:
        """Until the server reports a change, `poll_interval` passes, or we are stopped."""
        if not idle:
            self.stop.wait(self.poll_interval)
            return
        deadline = time.monotonic() + self.poll_interval
        client.idle()
        try:
            # Short checks, so a stop request is seen within a second.
            while not self.stop.is_set() and time.monotonic() < deadline:
                if client.idle_check(timeout=1):
                    break
        finally:
            client.idle_done()

    def catch_up(self, client: IMAPClient, uidvalidity: int) -> int:
        """Store every message after the checkpoint; how many were newly stored."""
        checkpoint = self._checkpoint()
        resync = checkpoint is not None and checkpoint[0] != uidvalidity
        if resync and checkpoint is not None:
            log.warning(
                "imap: %s: UIDVALIDITY changed (%s -> %s); reading the folder again",
                self.source,
                checkpoint[0],
                uidvalidity,
            )
        last = checkpoint[1] if checkpoint and not resync else 0
        uids = sorted(u for u in client.search(self.after.search(last)) if u > last)
        stored = 0
        for start in range(0, len(uids), self.batch_size):
            if self.stop.is_set():
                break  # the checkpoint holds: the rest is read at next start
            batch = uids[start : start + self.batch_size]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            arrivals = {
                uid: Arrival(self.source, f"{uidvalidity}:{uid}", fetched[uid][b"BODY[]"], origin="imap")
                for uid in batch
                if uid in fetched
            }
            known = self._delivered_before(arrivals.values()) if resync or checkpoint is None else set()
            for arrival in arrivals.values():
                if hashlib.sha256(arrival.raw).hexdigest() not in known:
                    stored += receive(self.engine, arrival, self.now()) is not None
            if arrivals:
                self.after.apply(client, list(arrivals))
            self._save_checkpoint(uidvalidity, batch[-1])
            self.on_stored()
        if not uids and checkpoint != (uidvalidity, last):
            self._save_checkpoint(uidvalidity, last)  # an empty or renumbered folder: remember its identity
        if stored:
            log.info("imap: %s: stored %d message(s)", self.source, stored)
        return stored

    def _checkpoint(self) -> tuple[int, int] | None:
        with session_scope(self.engine) as session:
            row = session.get(ImapCheckpoint, self.source)
            return (row.uidvalidity, row.last_uid) if row else None

    def _save_checkpoint(self, uidvalidity: int, last_uid: int) -> None:
        with session_scope(self.engine) as session:
            upsert(
                session,
                ImapCheckpoint,
                [{"mailbox": self.source, "uidvalidity": uidvalidity, "last_uid": last_uid, "updated_at": self.now()}],
                ["mailbox"],
            )

    def _delivered_before(self, arrivals: Any) -> set[str]:
        """Hashes of these raw messages that this folder already delivered (under any UIDVALIDITY)."""
        hashes = [hashlib.sha256(a.raw).hexdigest() for a in arrivals]
        with session_scope(self.engine) as session:
            return set(
                session.execute(
                    select(col(Message.raw_sha256)).where(
                        col(Message.source) == self.source, col(Message.raw_sha256).in_(hashes)
                    )
                ).scalars()
            )


def watchers(app: App, stop: threading.Event, on_stored: Callable[[], None]) -> list[FolderWatcher]:
    imap = app.settings.imap
    account = Account.from_settings(app.settings)
    after = After.parse(imap.after)
    return [
        FolderWatcher(
            app.engine,
            account,
            folder,
            after,
            batch_size=imap.batch_size,
            poll_interval=imap.poll_interval,
            now=app.now,
            stop=stop,
            on_stored=on_stored,
        )
        for folder in imap.folders
    ]


def watch_all(app: App, stop: threading.Event, on_stored: Callable[[], None]) -> None:
    """Watch every configured folder, one thread each, until `stop` is set."""
    threads = [
        threading.Thread(target=w.run, name=f"imap {w.folder}", daemon=True) for w in watchers(app, stop, on_stored)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
