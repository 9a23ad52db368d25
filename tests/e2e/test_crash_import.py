"""A real `kill -9` of `mailbot import` mid-way, then a re-run: the exports equal an uninterrupted import's."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
from helpers.exports import exports_of
from helpers.mailbot_proc import MAILBOT, mailbot_env, wait_for
from helpers.paths import ROOT
from mailbot.store.db import create_schema, make_engine, session_scope
from mailbot.store.tables.messages import Message
from sqlalchemy import func, select
from sqlmodel import col

from mailbot.archive.importer import import_paths

MESSAGES = 4000
BATCH = 50


def _build_mbox(path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("import_bench", ROOT / "bench" / "import_bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.build_mbox(path, MESSAGES)
    # The same notice twice (another Message-ID claim to survive the crash) and damaged mail.
    with path.open("ab") as out:
        for name in ("forward_gmail", "forward_gmail", "bad_binary_junk", "reply_quoting_notice"):
            raw = (ROOT / "fixtures" / "shapes" / f"{name}.eml").read_bytes().replace(b"\nFrom ", b"\n>From ")
            out.write(b"From x@y Mon Jan  3 00:00:00 2022\n" + raw.rstrip(b"\n") + b"\n\n")
    return path


@pytest.fixture(scope="module")
def mbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_mbox(tmp_path_factory.mktemp("crash") / "big.mbox")


def _counts(url: str) -> tuple[int, int]:
    """(messages stored, of which still without a final status)."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            total = session.execute(select(func.count()).select_from(Message)).scalar_one()
            unfinished = session.execute(
                select(func.count()).select_from(Message).where(col(Message.status) == "new")
            ).scalar_one()
        return total, unfinished
    except Exception:
        return 0, 0
    finally:
        engine.dispose()


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (the import's parsing workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _import(url: str, mbox: Path, cwd: Path, jobs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [*MAILBOT, "import", "--no-progress", "--batch-size", str(BATCH), "--jobs", str(jobs), str(mbox)],
        cwd=cwd,
        env=mailbot_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_kill_9_then_rerun_equals_uninterrupted(
    db_url: str, sqlite_url: str, mbox: Path, tmp_path: Path, backend: str, jobs: int
) -> None:
    if backend == "sqlite" and jobs == 2:
        pytest.skip("--jobs only changes parsing; one backend is enough for it")
    reference = make_engine(sqlite_url)
    create_schema(reference)
    expected_tally = import_paths(reference, [mbox], progress=False)
    reference.dispose()
    expected = exports_of(sqlite_url)

    proc = _import(db_url, mbox, tmp_path, jobs)
    wait_for(lambda: _counts(db_url)[0] >= 3 * BATCH or proc.poll() is not None, "a few batches to commit")
    workers = _children(proc.pid)
    proc.kill()  # SIGKILL: no cleanup, no rollback, the open transaction just dies
    proc.wait()
    assert jobs == 1 or len(workers) >= jobs  # the parsing workers (and multiprocessing's resource tracker)
    wait_for(lambda: not _alive(workers), "the parsing workers to exit after their importer")
    stored, unfinished = _counts(db_url)
    assert proc.returncode == -9, "the import finished before it could be killed"
    assert 0 < stored < MESSAGES
    # One transaction per batch: whole batches only, every row with its final status.
    assert stored % BATCH == 0 and unfinished == 0

    rerun = _import(db_url, mbox, tmp_path, jobs)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err.decode()
    assert _counts(db_url) == (expected_tally.stored, 0)
    assert exports_of(db_url) == expected
