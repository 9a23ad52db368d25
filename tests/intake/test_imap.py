"""IMAP intake and bulk import against a real Dovecot on loopback."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers.dovecot import PASSWORD, Dovecot
from helpers.mailbot_proc import MAILBOT, Server, crlf, mailbot_env, stored, wait_for
from helpers.paths import SAMPLE
from imapclient import IMAPClient
from mailbot.parsers.message import parse_message
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.intake import ImapCheckpoint
from mailbot.store.tables.messages import Message
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from mailbot.archive import export
from mailbot.cli import main
from mailbot.intake.imap_watch import PROCESSED_KEYWORD, After, FolderWatcher
from mailbot.mailboxes.imap import Account

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
FIXTURES = sorted(SAMPLE.glob("*.eml"))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    # Not under pytest's tmp_path: Dovecot's unprivileged mail user must reach the directory.
    root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user() -> str:
    """A mailbox of this test's own (any user name logs in to the throwaway Dovecot)."""
    return "u" + uuid.uuid4().hex[:10]


def connect(dovecot: Dovecot, user: str) -> IMAPClient:
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    client.login(user, PASSWORD)
    return client


def append(dovecot: Dovecot, user: str, folder: str, raws: list[bytes]) -> None:
    with connect(dovecot, user) as client:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in raws:
            client.append(folder, crlf(raw))


def fixture_bytes(names: slice) -> list[bytes]:
    return [p.read_bytes() for p in FIXTURES[names]]


def keyworded(dovecot: Dovecot, user: str, folder: str) -> tuple[int, int]:
    """(messages in the folder, of which carry the processed keyword)."""
    with connect(dovecot, user) as client:
        client.select_folder(folder, readonly=True)
        return len(client.search(["ALL"])), len(client.search(["KEYWORD", PROCESSED_KEYWORD]))


def account(dovecot: Dovecot, user: str) -> Account:
    return Account(host=dovecot.host, port=dovecot.port, tls=False, user=user, password=PASSWORD)


def folder_watcher(
    engine: Engine,
    dovecot: Dovecot,
    user: str,
    folder: str = "INBOX",
    after: After | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> FolderWatcher:
    """A watcher of the user's folder at the test's clock (flag what it stored, unless `after`)."""
    return FolderWatcher(
        engine,
        account(dovecot, user),
        folder,
        after or After(),
        now=lambda: NOW,
        stop=stop or threading.Event(),
        **options,
    )


@contextlib.contextmanager
def watching(engine: Engine, dovecot: Dovecot, user: str, **options: Any) -> Iterator[threading.Thread]:
    """`folder_watcher(...)` running in a thread until the block ends; the thread, to see it stopped."""
    stop = threading.Event()
    watcher = folder_watcher(engine, dovecot, user, stop=stop, **options)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)


def source_keys(db_url: str) -> list[tuple[str, str]]:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.execute(select(Message.source, Message.source_key).order_by(Message.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_serve_processes_appended_messages_once(
    db_url: str, tmp_path: Path, dovecot: Dovecot, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dict(
        imap_host=dovecot.host,
        imap_port=str(dovecot.port),
        imap_tls="false",
        imap_user=user,
        imap_password_env="TEST_IMAP_SECRET",
        imap_folders="INBOX",
        imap_after="flag",
        imap_poll_interval="5",
    )
    monkeypatch.setenv("TEST_IMAP_SECRET", PASSWORD)  # inherited by the server: the password is in a variable
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 5)))
    server = Server(db_url, tmp_path, **settings)
    try:
        wait_for(lambda: len(stored(db_url)) == 5 and all(s != "new" for _, _, s in stored(db_url)), "5 processed")
        append(dovecot, user, "INBOX", fixture_bytes(slice(5, 8)))  # noticed by IDLE
        wait_for(lambda: len(stored(db_url)) == 8 and all(s != "new" for _, _, s in stored(db_url)), "8 processed")
        wait_for(lambda: keyworded(dovecot, user, "INBOX") == (8, 8), "all 8 marked processed")
        assert server.terminate() == 0
        # A restart reads nothing again: the checkpoint and the keyword both say it is done.
        server = Server(db_url, tmp_path, **settings)
        append(dovecot, user, "INBOX", fixture_bytes(slice(8, 9)))
        wait_for(lambda: len(stored(db_url)) == 9 and all(s != "new" for _, _, s in stored(db_url)), "9 processed")
        assert server.terminate() == 0
    finally:
        server.close()
    keys = source_keys(db_url)
    assert len(set(keys)) == 9
    assert {origin for origin, _, _ in stored(db_url)} == {"imap"}
    assert all(source == f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX" for source, _ in keys)


def test_dovecot_restart_mid_fetch_loses_and_duplicates_nothing(
    sqlite_url: str, sqlite_engine: Engine, dovecot: Dovecot, user: str
) -> None:
    raws = fixture_bytes(slice(0, 60))
    append(dovecot, user, "INBOX", raws)
    cut = threading.Event()
    restarted: list[threading.Thread] = []

    def after_first_batch() -> None:
        # The first batch is stored, moved and checkpointed; 55 messages are still to fetch.
        # Stop Dovecot (cutting the connection) and bring it back a little later, so the
        # watcher also meets refused connections while it backs off.
        if not restarted:
            dovecot.stop()
            restarted.append(threading.Thread(target=lambda: (time.sleep(1.5), dovecot.start())))
            restarted[0].start()
            cut.set()

    with watching(
        sqlite_engine,
        dovecot,
        user,
        after=After(move_to="Processed"),
        batch_size=5,
        poll_interval=1,
        on_stored=after_first_batch,
    ):
        wait_for(cut.is_set, "the first batch stored")
        restarted[0].join()
        wait_for(
            lambda: len(stored(sqlite_url)) >= 60 and keyworded(dovecot, user, "INBOX")[0] == 0,
            "every message stored and moved",
        )
    keys = source_keys(sqlite_url)
    assert len(keys) == len(set(keys)) == 60
    assert sorted(raw for _, raw, _ in stored(sqlite_url)) == sorted(crlf(r) for r in raws)
    assert keyworded(dovecot, user, "Processed")[0] == 60


def test_message_stored_before_a_cut_but_not_marked_is_not_stored_again(
    sqlite_url: str, sqlite_engine: Engine, dovecot: Dovecot, user: str
) -> None:
    engine = sqlite_engine
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 4)))
    watcher = folder_watcher(engine, dovecot, user)
    with connect(dovecot, user) as client:
        uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        # As if a connection died after the store committed the first two, before marking them.
        from mailbot.store.ingest import Arrival

        from mailbot.intake.pipeline import receive

        for uid, data in client.fetch([1, 2], ["BODY.PEEK[]"]).items():
            receive(engine, Arrival(watcher.source, f"{uidvalidity}:{uid}", data[b"BODY[]"], origin="imap"), NOW)
        assert watcher.catch_up(client, uidvalidity) == 2  # only 3 and 4 are new
        assert watcher.catch_up(client, uidvalidity) == 0
    assert len(source_keys(sqlite_url)) == 4
    assert keyworded(dovecot, user, "INBOX") == (4, 4)


def test_changed_uidvalidity_triggers_a_safe_resync(
    sqlite_url: str, sqlite_engine: Engine, dovecot: Dovecot, user: str
) -> None:
    engine = sqlite_engine
    raws = fixture_bytes(slice(0, 3))
    append(dovecot, user, "Replies", raws)
    watcher = folder_watcher(engine, dovecot, user, "Replies")
    with connect(dovecot, user) as client:
        first = client.select_folder("Replies")[b"UIDVALIDITY"]
        assert watcher.catch_up(client, first) == 3
        # The folder is deleted and recreated (a restore from backup): the same mail, renumbered, plus one new.
        client.unselect_folder()
        client.delete_folder("Replies")
    append(dovecot, user, "Replies", [*raws, *fixture_bytes(slice(3, 4))])
    with connect(dovecot, user) as client:
        second = client.select_folder("Replies")[b"UIDVALIDITY"]
        assert second != first
        assert watcher.catch_up(client, second) == 1  # the folder is read again; only the new one is stored
        assert watcher.catch_up(client, second) == 0
    assert keyworded(dovecot, user, "Replies") == (4, 4)
    assert len(source_keys(sqlite_url)) == 4
    with session_scope(engine) as session:
        checkpoint = session.get(ImapCheckpoint, watcher.source)
        assert (checkpoint.uidvalidity, checkpoint.last_uid) == (second, 4)


def test_bulk_import_of_an_imap_folder_equals_the_file_import(
    db_url: str, sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    files = FIXTURES[:40]
    append(dovecot, user, "Archive", [p.read_bytes() for p in files])
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    env = {"MAILBOT_IMAP_PASSWORD": PASSWORD, "MAILBOT_IMAP_BATCH_SIZE": "7"}
    url = f"imap://{user}@127.0.0.1:{dovecot.port}/Archive"
    runner = CliRunner()
    for _ in range(2):  # the second run finds everything stored
        result = runner.invoke(
            main,
            ["--config", str(empty), "--db", db_url, "import", "--batch-size", "15", url],
            env=env,
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
    assert "stored 0, already stored 40" in result.output
    copies = tmp_path / "files"
    copies.mkdir()
    for p in files:  # the same bytes the IMAP server hands out (CRLF lines)
        (copies / p.name).write_bytes(crlf(p.read_bytes()))
    result = runner.invoke(
        main, ["--config", str(empty), "--db", sqlite_url, "import", str(copies)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    by_imap, by_file = make_engine(db_url), make_engine(sqlite_url)
    for what in ("incidents", "messages", "replies"):
        with session_scope(by_imap) as a, session_scope(by_file) as b:
            assert export.EXPORTS[what](a) == export.EXPORTS[what](b), what
    assert {s for s, _ in source_keys(db_url)} == {url}


def test_import_refuses_a_bad_imap_url(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(
        main, ["--config", str(empty), "--db", f"sqlite:///{tmp_path}/x.db", "import", "imap:///INBOX"]
    )
    assert result.exit_code == 2
    assert "needs a user and a host" in result.output


def test_import_with_a_wrong_password_fails_clearly(tmp_path: Path, dovecot: Dovecot, user: str) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(empty),
            "--db",
            f"sqlite:///{tmp_path}/x.db",
            "import",
            f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX",
        ],
        env={"MAILBOT_IMAP_PASSWORD": "wrong"},
    )
    assert result.exit_code == 1
    assert "cannot read the mailbox" in result.output


def test_password_from_setting_file_or_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailbot.config import load
    from mailbot.mailboxes.imap import password

    empty = tmp_path / "empty.toml"
    empty.write_text("")
    secret = tmp_path / "imap.secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PW", "from-variable")

    def with_env(**env: str) -> str:
        return password(load(empty, environ=env))

    assert with_env(MAILBOT_IMAP_PASSWORD="direct", MAILBOT_IMAP_PASSWORD_FILE=str(secret)) == "direct"
    assert with_env(MAILBOT_IMAP_PASSWORD_FILE=str(secret)) == "from-file"
    assert with_env(MAILBOT_IMAP_PASSWORD_ENV="MAILBOT_TEST_IMAP_PW") == "from-variable"
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        with_env(MAILBOT_IMAP_PASSWORD_ENV="NOT_SET_ANYWHERE")


def test_without_idle_the_watcher_polls(sqlite_url: str, sqlite_engine: Engine, dovecot: Dovecot, user: str) -> None:
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 2)))
    with watching(sqlite_engine, dovecot, user, poll_interval=0.2, idle=False) as thread:
        wait_for(lambda: len(stored(sqlite_url)) == 2, "the first two stored")
        append(dovecot, user, "INBOX", fixture_bytes(slice(2, 5)))
        wait_for(lambda: len(stored(sqlite_url)) == 5, "the next three found by polling")
    assert not thread.is_alive()
    assert keyworded(dovecot, user, "INBOX") == (5, 5)
    assert len(set(source_keys(sqlite_url))) == 5


def test_imaps_import_verifies_the_server_certificate(
    sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 3)))
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    url = f"imaps://{user}@127.0.0.1:{dovecot.tls_port}/INBOX"
    command = ["--config", str(empty), "--db", sqlite_url, "import", url]
    untrusted = CliRunner().invoke(main, command, env={"MAILBOT_IMAP_PASSWORD": PASSWORD})
    assert untrusted.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.output
    trusted = CliRunner().invoke(
        main, command, env={"MAILBOT_IMAP_PASSWORD": PASSWORD, "MAILBOT_IMAP_CAFILE": str(dovecot.cafile)}
    )
    assert trusted.exit_code == 0, trusted.output
    assert "stored 3" in trusted.output
    assert {s for s, _ in source_keys(sqlite_url)} == {url}


# --- Cutting the connection while FETCH responses are streaming (issue 5) ---------------------------------------

BIG_COUNT, BIG_SIZE, BATCH = 36, 1_200_000, 4  # ~1.6 MB each once base64'd: FETCH responses of ~6.5 MB


def with_attachment(raw: bytes, n: int, size: int = BIG_SIZE) -> bytes:
    """The notice as the first part of a multipart/mixed, then a `size`-byte attachment of noise.

    Real notices arrive with call-log PDFs; the attachment makes each FETCH response
    long enough that a cut lands inside one, and leaves the notice's incidents as they were.
    """
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line  # a folded header line
        else:
            fields.append(line)
    outer = [f for f in fields if not f.lower().startswith((b"content-", b"mime-version:"))]
    inner = [f for f in fields if f.lower().startswith(b"content-")] or [b"Content-Type: text/plain"]
    noise = base64.encodebytes(random.Random(n).randbytes(size)).rstrip(b"\n")
    boundary = f"--call-log-{n}".encode()
    return b"\n".join(
        [
            *outer,
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="' + boundary[2:] + b'"',
            b"",
            boundary,
            *inner,
            b"",
            body.rstrip(b"\n"),
            boundary,
            b'Content-Type: application/pdf; name="call-log.pdf"',
            b"Content-Transfer-Encoding: base64",
            b'Content-Disposition: attachment; filename="call-log.pdf"',
            b"",
            noise,
            boundary + b"--",
            b"",
        ]
    )


def distinct_notices(count: int) -> list[bytes]:
    """The first `count` fixtures with distinct Message-IDs, so any duplicate would be ours."""
    chosen: dict[str, bytes] = {}
    for path in FIXTURES:
        raw = path.read_bytes()
        chosen.setdefault(parse_message(raw).envelope.message_id or path.name, raw)
        if len(chosen) == count:
            break
    return list(chosen.values())


def big_notices() -> list[bytes]:
    return [with_attachment(raw, n) for n, raw in enumerate(distinct_notices(BIG_COUNT))]


def kill_dovecot(dovecot: Dovecot) -> None:
    """SIGKILL Dovecot's master and every process under it at once: open connections are reset mid-stream,
    with no BYE, as a crash or a network cut leaves them (`Dovecot.stop` is a clean shutdown)."""
    assert dovecot.proc is not None
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [dovecot.proc.pid], [dovecot.proc.pid]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    dovecot.proc.wait(30)
    dovecot.proc = None
    wait_for(lambda: not listening(dovecot), "Dovecot's port to close after the kill", timeout=30)


class Wire:
    """The network between mailbot and Dovecot: a loopback relay that, once armed, holds the Nth FETCH
    response after its first CUT_AFTER bytes, so the test can kill Dovecot while that response is
    half-delivered; then the client's connection is closed, the rest never arriving (as when a link dies
    with its server). Otherwise it passes everything through; with Dovecot down it refuses connections."""

    CUT_AFTER = 256 * 1024

    def __init__(self, dovecot: Dovecot, cut_at_fetch: int) -> None:
        self.upstream = (dovecot.host, dovecot.port)
        self.cut_at_fetch = cut_at_fetch
        self.fetches = 0
        self.holding, self.release = threading.Event(), threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, user: str, folder: str) -> str:
        return f"imap://{user}@127.0.0.1:{self.port}/{folder}"

    def close(self) -> None:
        self.release.set()
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()  # Dovecot is down: the connection is refused
                continue
            response = [0]  # bytes of the current FETCH response relayed so far; -1: not in a FETCH
            threading.Thread(target=self._commands, args=(client, server, response), daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client, response), daemon=True).start()

    def _commands(self, client: socket.socket, server: socket.socket, response: list[int]) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if b" FETCH " in data.upper():
                    self.fetches += 1
                    response[0] = 0 if self.fetches == self.cut_at_fetch else -1
                server.sendall(data)
        self._hang_up(client, server)

    def _responses(self, server: socket.socket, client: socket.socket, response: list[int]) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                client.sendall(data)
                if response[0] >= 0:
                    response[0] += len(data)
                    if response[0] >= self.CUT_AFTER:
                        self.holding.set()
                        self.release.wait(60)
                        break  # what Dovecot sent after this point never arrives
        self._hang_up(client, server)

    @staticmethod
    def _hang_up(*sockets: socket.socket) -> None:
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # also wakes the other direction's thread, blocked reading
            s.close()


def listening(dovecot: Dovecot) -> bool:
    try:
        socket.create_connection((dovecot.host, dovecot.port), timeout=1).close()
        return True
    except OSError:
        return False


def message_rows(db_url: str) -> list[tuple[str, str, str, str]]:
    """(message_key, source, source_key, status) of every stored message, without the raw bytes."""
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            return [
                tuple(r)
                for r in session.execute(
                    select(Message.message_key, Message.source, Message.source_key, Message.status).order_by(Message.id)
                )
            ]
    finally:
        engine.dispose()


def rows_if_any(db_url: str) -> list[tuple[str, str, str, str]]:
    """message_rows, or none while the importer has not yet made the tables."""
    try:
        return message_rows(db_url)
    except SQLAlchemyError:
        return []


def test_serve_loses_and_duplicates_nothing_when_dovecot_dies_mid_fetch(
    db_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    raws = big_notices()
    append(dovecot, user, "INBOX", raws)
    wire = Wire(dovecot, cut_at_fetch=2)  # the first batch stored and moved, the second streaming
    settings = dict(
        imap_host="127.0.0.1",
        imap_port=str(wire.port),
        imap_tls="false",
        imap_user=user,
        imap_password=PASSWORD,
        imap_folders="INBOX",
        imap_after="move:Processed",
        imap_batch_size=str(BATCH),
        imap_poll_interval="5",
    )
    server = Server(db_url, tmp_path, **settings)
    try:
        wait_for(wire.holding.is_set, "the second FETCH response streaming")
        kill_dovecot(dovecot)
        wire.release.set()
        at_cut = len(message_rows(db_url))
        time.sleep(1.5)  # the watcher meets refused connections while it backs off
        dovecot.start()
        wait_for(
            lambda: (
                len(message_rows(db_url)) == BIG_COUNT and all(status != "new" for *_, status in message_rows(db_url))
            ),
            f"all {BIG_COUNT} messages stored and processed after the restart",
            timeout=120,
        )
        wait_for(lambda: keyworded(dovecot, user, "INBOX")[0] == 0, "every message moved out of INBOX", timeout=60)
        assert server.terminate() == 0
    finally:
        server.close()
        wire.close()
        if dovecot.proc is None:
            dovecot.start()  # the module's other tests share this server
    cut = [line for line in server.output().splitlines() if "reconnecting" in line]
    print(f"cut after {at_cut} of {BIG_COUNT} messages stored;", *cut[:1])
    assert cut and "FETCH" in cut[0], "the watcher did not lose its connection during the FETCH"
    rows = message_rows(db_url)
    wanted = {parse_message(raw).envelope.message_id for raw in raws}
    assert sorted(key for key, *_ in rows) == sorted(wanted)  # each Message-ID once, none missing
    assert len({(source, key) for _, source, key, _ in rows}) == BIG_COUNT
    assert {status for *_, status in rows} == {"parsed"}  # none quarantined (cut bytes), none a duplicate
    assert sorted(raw for _, raw, _ in stored(db_url)) == sorted(crlf(r) for r in raws)  # whole, byte for byte
    assert keyworded(dovecot, user, "Processed")[0] == BIG_COUNT


def test_bulk_import_killed_mid_fetch_then_rerun_equals_the_file_import(
    db_url: str, sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    raws = big_notices()[:24]
    append(dovecot, user, "Archive", raws)
    wire = Wire(dovecot, cut_at_fetch=2)
    try:
        at_cut, first = cut_an_import(db_url, tmp_path, dovecot, wire, user)
        empty = tmp_path / "empty.toml"
        empty.write_text("")
        # Run again (through the same wire, so the folder keeps its name): what the first run stored is
        # skipped, the rest stored now; the source keys make either outcome of the first run whole.
        rerun = CliRunner().invoke(
            main,
            ["--config", str(empty), "--db", db_url, "import", wire.url(user, "Archive")],
            env={"MAILBOT_IMAP_PASSWORD": PASSWORD},
            catch_exceptions=False,
        )
    finally:
        wire.close()
    print(
        f"import cut after {at_cut} of {len(raws)} messages stored; first run exited {first.returncode};",
        *[
            line
            for line in (tmp_path / "import.log").read_text(errors="replace").splitlines()
            if "connection lost" in line
        ][:1],
    )
    assert rerun.exit_code == 0, rerun.output
    counts = re.search(r"stored (\d+), already stored (\d+)", rerun.output)
    assert counts and int(counts[1]) + int(counts[2]) == len(raws) and int(counts[2]) >= at_cut, rerun.output
    copies = tmp_path / "files"
    copies.mkdir()
    for n, raw in enumerate(raws):  # the same bytes the IMAP server hands out (CRLF lines)
        (copies / f"{n:03}.eml").write_bytes(crlf(raw))
    result = CliRunner().invoke(
        main, ["--config", str(empty), "--db", sqlite_url, "import", str(copies)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    by_imap, by_file = make_engine(db_url), make_engine(sqlite_url)
    for what in ("incidents", "messages", "replies"):
        with session_scope(by_imap) as a, session_scope(by_file) as b:
            assert export.EXPORTS[what](a) == export.EXPORTS[what](b), what
    rows = message_rows(db_url)
    assert len(rows) == len({(source, key) for _, source, key, _ in rows}) == len(raws)
    assert {status for *_, status in rows} == {"parsed"}


def cut_an_import(
    db_url: str, tmp_path: Path, dovecot: Dovecot, wire: Wire, user: str
) -> tuple[int, subprocess.Popen[bytes]]:
    """`mailbot import` of the Archive folder, with Dovecot killed during its second FETCH response and
    restarted 1.5 s later; (messages stored at the cut, the finished import process)."""
    env = mailbot_env(db_url, imap_password=PASSWORD, imap_batch_size=str(BATCH))
    with (tmp_path / "import.log").open("wb") as out:
        first = subprocess.Popen(
            [*MAILBOT, "import", "--batch-size", "2", wire.url(user, "Archive")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(wire.holding.is_set, "the import's second FETCH response streaming")
        kill_dovecot(dovecot)
        wire.release.set()
        at_cut = len(rows_if_any(db_url))
        time.sleep(1.5)
        dovecot.start()
        first.wait(120)  # it reconnects and finishes, or gives up with an error
    finally:
        if first.poll() is None:
            first.kill()
        if dovecot.proc is None:
            dovecot.start()
    return at_cut, first


def test_serve_leaves_mail_in_the_mailbox_while_the_store_is_down(
    pg_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    from helpers.paths import PG_ADMIN_URL
    from helpers.pg_proxy import Proxy
    from sqlalchemy.engine import make_url

    create_schema(make_engine(pg_url))
    upstream = make_url(PG_ADMIN_URL)
    database = Proxy((upstream.host or "127.0.0.1", upstream.port or 5432))  # stopped: PostgreSQL is unreachable
    database.start()
    proxied = make_url(pg_url).set(port=database.port).render_as_string(hide_password=False)
    raws = distinct_notices(8)
    append(dovecot, user, "INBOX", raws[:3])
    settings = dict(
        imap_host=dovecot.host,
        imap_port=str(dovecot.port),
        imap_tls="false",
        imap_user=user,
        imap_password=PASSWORD,
        imap_folders="INBOX",
        imap_after="flag",
        imap_poll_interval="5",
    )
    server = Server(proxied, tmp_path, **settings)
    try:
        wait_for(lambda: keyworded(dovecot, user, "INBOX") == (3, 3), "the first 3 stored and marked")
        database.stop()
        append(dovecot, user, "INBOX", raws[3:])
        wait_for(lambda: "reconnecting" in server.output(), "the watcher to meet the store outage")
        # Not stored, so not marked: the five wait in the mailbox.
        assert keyworded(dovecot, user, "INBOX") == (8, 3)
        database.start()
        wait_for(
            lambda: keyworded(dovecot, user, "INBOX") == (8, 8), "all 8 marked after the store is back", timeout=90
        )
        wait_for(lambda: all(status != "new" for *_, status in message_rows(pg_url)), "all 8 processed")
        assert server.terminate() == 0
    finally:
        server.close()
        if database.listener is not None:
            database.stop()
    print(*[line for line in server.output().splitlines() if "reconnecting" in line][:1])
    rows = message_rows(pg_url)
    assert len(rows) == len({key for key, *_ in rows}) == len({(s, k) for _, s, k, _ in rows}) == 8
    assert {status for *_, status in rows} == {"parsed"}


def mailbox_state(dovecot: Dovecot, user: str) -> dict[str, object]:
    """Every folder, its STATUS counters and each message's flags, read without changing any."""
    with connect(dovecot, user) as client:
        state: dict[str, object] = {}
        for _, _, name in client.list_folders():
            status = client.folder_status(name, [b"MESSAGES", b"UIDNEXT", b"UNSEEN", b"UIDVALIDITY"])
            client.select_folder(name, readonly=True)
            uids = client.search(["ALL"])
            flags = {uid: sorted(data[b"FLAGS"]) for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}
            state[name] = (status, flags)
        return state


def test_bulk_import_is_read_only(sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str) -> None:
    append(dovecot, user, "Archive", fixture_bytes(slice(0, 6)))
    with connect(dovecot, user) as client:  # some read, one flagged: the import must leave each as it is
        client.select_folder("Archive")
        client.add_flags([1, 2], [b"\\Seen"])
        client.add_flags([3], [b"\\Flagged"])
    before = mailbox_state(dovecot, user)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(
        main,
        ["--config", str(empty), "--db", sqlite_url, "import", f"imap://{user}@127.0.0.1:{dovecot.port}/Archive"],
        env={"MAILBOT_IMAP_PASSWORD": PASSWORD},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert len(stored(sqlite_url)) == 6
    assert mailbox_state(dovecot, user) == before  # no \Seen set, no keyword, nothing moved or expunged


def test_a_watch_after_a_bulk_import_stores_nothing_twice(
    sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    append(dovecot, user, "INBOX", fixture_bytes(slice(10, 15)))
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(
        main,
        ["--config", str(empty), "--db", sqlite_url, "import", f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX"],
        env={"MAILBOT_IMAP_PASSWORD": PASSWORD},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert len(stored(sqlite_url)) == 5
    engine = make_engine(sqlite_url)
    with watching(engine, dovecot, user, idle=False, poll_interval=0.2) as thread:
        append(dovecot, user, "INBOX", fixture_bytes(slice(15, 17)))
        # The watcher works in UID order: once the two new ones are stored, the five imported were seen.
        wait_for(lambda: len(stored(sqlite_url)) >= 7, "the two new messages stored")
        wait_for(lambda: keyworded(dovecot, user, "INBOX") == (7, 7), "all seven marked")
    assert not thread.is_alive()
    keys = source_keys(sqlite_url)
    assert len(keys) == len(set(keys)) == 7


def test_idle_alone_finds_new_mail(sqlite_url: str, sqlite_engine: Engine, dovecot: Dovecot, user: str) -> None:
    """Polling off (an hour between looks): only IDLE can see the message appended while it waits."""
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 1)))
    with watching(sqlite_engine, dovecot, user, idle=True, poll_interval=3600) as thread:
        wait_for(lambda: len(stored(sqlite_url)) == 1, "the first stored by the opening scan")
        append(dovecot, user, "INBOX", fixture_bytes(slice(1, 3)))
        wait_for(lambda: len(stored(sqlite_url)) == 3, "the next two, seen by IDLE")
    assert not thread.is_alive()


def test_new_mail_wakes_processing_at_once_with_long_polls(
    sqlite_url: str, tmp_path: Path, dovecot: Dovecot, user: str
) -> None:
    """Both poll intervals an hour: mail appended to the watched folder is stored and processed anyway."""
    settings = dict(
        imap_host=dovecot.host,
        imap_port=str(dovecot.port),
        imap_tls="false",
        imap_user=user,
        imap_password=PASSWORD,
        imap_folders="INBOX",
        imap_after="flag",
        imap_poll_interval="3600",
        serve_poll_interval="3600",
    )
    append(dovecot, user, "INBOX", fixture_bytes(slice(20, 21)))
    server = Server(sqlite_url, tmp_path, **settings)
    try:
        wait_for(lambda: [s for _, _, s in stored(sqlite_url)] == ["parsed"], "the first stored and processed")
        append(dovecot, user, "INBOX", fixture_bytes(slice(21, 24)))  # the watcher is past its opening scan
        wait_for(
            lambda: len(stored(sqlite_url)) == 4 and all(s != "new" for _, _, s in stored(sqlite_url)),
            "3 more stored and processed without waiting for a poll",
        )
        assert server.terminate() == 0
    finally:
        server.close()
