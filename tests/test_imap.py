"""IMAP intake and bulk import against a real Dovecot on loopback."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLE
from dovecot import PASSWORD, Dovecot
from imapclient import IMAPClient
from mailbot_proc import Server, crlf, stored, wait_for
from sqlalchemy import select

from mailbot import export
from mailbot.cli import main
from mailbot.imap_intake import PROCESSED_KEYWORD, After, FolderWatcher
from mailbot.imap_source import Account
from store.db import create_schema, make_engine, session_scope
from store.intake import ImapCheckpoint
from store.models import Message

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


def source_keys(db_url: str) -> list[tuple[str, str]]:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.execute(select(Message.source, Message.source_key).order_by(Message.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_serve_processes_appended_messages_once(db_url: str, tmp_path: Path, dovecot: Dovecot, user: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dict(imap_host=dovecot.host, imap_port=str(dovecot.port), imap_tls="false", imap_user=user,
                    imap_password_env="TEST_IMAP_SECRET", imap_folders="INBOX", imap_after="flag",
                    imap_poll_interval="5")
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


def test_dovecot_restart_mid_fetch_loses_and_duplicates_nothing(sqlite_url: str, dovecot: Dovecot,
                                                                 user: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    raws = fixture_bytes(slice(0, 60))
    append(dovecot, user, "INBOX", raws)
    stop, cut = threading.Event(), threading.Event()
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

    watcher = FolderWatcher(engine, account(dovecot, user), "INBOX", After(move_to="Processed"), batch_size=5,
                            poll_interval=1, now=lambda: NOW, stop=stop, on_stored=after_first_batch)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        wait_for(cut.is_set, "the first batch stored")
        restarted[0].join()
        wait_for(lambda: len(stored(sqlite_url)) >= 60 and keyworded(dovecot, user, "INBOX")[0] == 0,
                 "every message stored and moved")
    finally:
        stop.set()
        thread.join(30)
    keys = source_keys(sqlite_url)
    assert len(keys) == len(set(keys)) == 60
    assert sorted(raw for _, raw, _ in stored(sqlite_url)) == sorted(crlf(r) for r in raws)
    assert keyworded(dovecot, user, "Processed")[0] == 60


def test_message_stored_before_a_cut_but_not_marked_is_not_stored_again(sqlite_url: str, dovecot: Dovecot,
                                                                       user: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 4)))
    stop = threading.Event()
    watcher = FolderWatcher(engine, account(dovecot, user), "INBOX", After(), now=lambda: NOW, stop=stop)
    with connect(dovecot, user) as client:
        uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        # As if a connection died after the store committed the first two, before marking them.
        from mailbot.pipeline import receive
        from store.ingest import Arrival

        for uid, data in client.fetch([1, 2], ["BODY.PEEK[]"]).items():
            receive(engine, Arrival(watcher.source, f"{uidvalidity}:{uid}", data[b"BODY[]"], origin="imap"), NOW)
        assert watcher.catch_up(client, uidvalidity) == 2  # only 3 and 4 are new
        assert watcher.catch_up(client, uidvalidity) == 0
    assert len(source_keys(sqlite_url)) == 4
    assert keyworded(dovecot, user, "INBOX") == (4, 4)


def test_changed_uidvalidity_triggers_a_safe_resync(sqlite_url: str, dovecot: Dovecot, user: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    raws = fixture_bytes(slice(0, 3))
    append(dovecot, user, "Replies", raws)
    watcher = FolderWatcher(engine, account(dovecot, user), "Replies", After(), now=lambda: NOW,
                            stop=threading.Event())
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


def test_bulk_import_of_an_imap_folder_equals_the_file_import(db_url: str, sqlite_url: str, tmp_path: Path,
                                                               dovecot: Dovecot, user: str) -> None:
    files = FIXTURES[:40]
    append(dovecot, user, "Archive", [p.read_bytes() for p in files])
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    env = {"MAILBOT_IMAP_PASSWORD": PASSWORD, "MAILBOT_IMAP_BATCH_SIZE": "7"}
    url = f"imap://{user}@127.0.0.1:{dovecot.port}/Archive"
    runner = CliRunner()
    for _ in range(2):  # the second run finds everything stored
        result = runner.invoke(main, ["--config", str(empty), "--db", db_url, "import", "--batch-size", "15", url],
                               env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert "stored 0, already stored 40" in result.output
    copies = tmp_path / "files"
    copies.mkdir()
    for p in files:  # the same bytes the IMAP server hands out (CRLF lines)
        (copies / p.name).write_bytes(crlf(p.read_bytes()))
    result = runner.invoke(main, ["--config", str(empty), "--db", sqlite_url, "import", str(copies)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    by_imap, by_file = make_engine(db_url), make_engine(sqlite_url)
    for what in ("incidents", "messages", "replies"):
        with session_scope(by_imap) as a, session_scope(by_file) as b:
            assert export.EXPORTS[what](a) == export.EXPORTS[what](b), what
    assert {s for s, _ in source_keys(db_url)} == {url}


def test_import_refuses_a_bad_imap_url(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(main, ["--config", str(empty), "--db", f"sqlite:///{tmp_path}/x.db", "import",
                                       "imap:///INBOX"])
    assert result.exit_code == 2
    assert "needs a user and a host" in result.output


def test_import_with_a_wrong_password_fails_clearly(tmp_path: Path, dovecot: Dovecot, user: str) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = CliRunner().invoke(main, ["--config", str(empty), "--db", f"sqlite:///{tmp_path}/x.db", "import",
                                       f"imap://{user}@127.0.0.1:{dovecot.port}/INBOX"],
                                env={"MAILBOT_IMAP_PASSWORD": "wrong"})
    assert result.exit_code == 1
    assert "cannot read the mailbox" in result.output


def test_password_from_setting_file_or_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailbot.config import load
    from mailbot.imap_source import password

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


def test_without_idle_the_watcher_polls(sqlite_url: str, dovecot: Dovecot, user: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 2)))
    stop = threading.Event()
    watcher = FolderWatcher(engine, account(dovecot, user), "INBOX", After(), poll_interval=0.2, now=lambda: NOW,
                            stop=stop, idle=False)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        wait_for(lambda: len(stored(sqlite_url)) == 2, "the first two stored")
        append(dovecot, user, "INBOX", fixture_bytes(slice(2, 5)))
        wait_for(lambda: len(stored(sqlite_url)) == 5, "the next three found by polling")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert keyworded(dovecot, user, "INBOX") == (5, 5)
    assert len(set(source_keys(sqlite_url))) == 5


def test_imaps_import_verifies_the_server_certificate(sqlite_url: str, tmp_path: Path, dovecot: Dovecot,
                                                      user: str) -> None:
    append(dovecot, user, "INBOX", fixture_bytes(slice(0, 3)))
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    url = f"imaps://{user}@127.0.0.1:{dovecot.tls_port}/INBOX"
    command = ["--config", str(empty), "--db", sqlite_url, "import", url]
    untrusted = CliRunner().invoke(main, command, env={"MAILBOT_IMAP_PASSWORD": PASSWORD})
    assert untrusted.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.output
    trusted = CliRunner().invoke(main, command, env={"MAILBOT_IMAP_PASSWORD": PASSWORD,
                                                     "MAILBOT_IMAP_CAFILE": str(dovecot.cafile)})
    assert trusted.exit_code == 0, trusted.output
    assert "stored 3" in trusted.output
    assert {s for s, _ in source_keys(sqlite_url)} == {url}
