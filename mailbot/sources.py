"""Mailbox readers: .eml files, directories, mbox files and Maildirs, streamed.

Each yields Arrivals one at a time (only one message in memory), keyed by a
stable place in the source so that importing the same mailbox again is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mailbot import imap_source
from store.ingest import Arrival

MBOX_SEPARATOR = b"From "


def detect(path: Path) -> str:
    """'maildir', 'mbox', 'eml' or 'dir'."""
    if path.is_dir():
        return "maildir" if all((path / sub).is_dir() for sub in ("cur", "new")) else "dir"
    with path.open("rb") as fh:
        return "mbox" if fh.read(len(MBOX_SEPARATOR)) == MBOX_SEPARATOR else "eml"


def read(path: Path | imap_source.Mailbox) -> Iterator[Arrival]:
    if isinstance(path, imap_source.Mailbox):
        yield from imap_source.read(path)
        return
    path = path.resolve()
    kind = detect(path)
    if kind == "maildir":
        yield from read_maildir(path)
    elif kind == "dir":
        yield from read_directory(path)
    elif kind == "mbox":
        yield from read_mbox(path)
    else:
        yield Arrival(source=f"file:{path}", source_key="", raw=path.read_bytes())


def count_hint(path: Path | imap_source.Mailbox) -> int | None:
    """A cheap message count for the progress bar, where one is cheap."""
    if isinstance(path, imap_source.Mailbox):
        return imap_source.count(path)
    path = path.resolve()
    kind = detect(path)
    if kind == "maildir":
        return sum(len(os.listdir(path / sub)) for sub in ("cur", "new"))
    if kind == "dir":
        return sum(1 for _ in _files(path))
    return 1 if kind == "eml" else None


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def read_directory(root: Path) -> Iterator[Arrival]:
    """Every file under root: Maildirs and mbox files inside are read as such."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here != root and detect(here) == "maildir":
            dirnames[:] = []
            yield from read_maildir(here)
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = here / name
            if detect(file) == "mbox":
                yield from read_mbox(file)
            else:
                yield Arrival(source=f"dir:{root}", source_key=str(file.relative_to(root)), raw=file.read_bytes())


def read_maildir(root: Path) -> Iterator[Arrival]:
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(root / sub)):
            if name.startswith("."):
                continue
            # The unique part of the name; flags after ':' change as mail is read.
            key = name.split(":", 1)[0]
            yield Arrival(source=f"maildir:{root}", source_key=key, raw=(root / sub / name).read_bytes())


def read_mbox(path: Path) -> Iterator[Arrival]:
    """Split on 'From ' lines that follow a blank line; undo mboxrd '>From ' quoting."""
    source = f"mbox:{path}"
    with path.open("rb") as fh:
        lines: list[bytes] = []
        start = 0
        offset = 0
        previous_blank = True
        for line in fh:
            if line.startswith(MBOX_SEPARATOR) and previous_blank:
                if lines:
                    yield Arrival(source=source, source_key=str(start), raw=_mbox_message(lines))
                lines = []
                start = offset
            else:
                lines.append(line)
            offset += len(line)
            previous_blank = line in (b"\n", b"\r\n")
        if lines:
            yield Arrival(source=source, source_key=str(start), raw=_mbox_message(lines))


def _mbox_message(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line that separates messages is not part of them
    out = []
    for line in lines:
        if line.startswith(b">") and line.lstrip(b">").startswith(MBOX_SEPARATOR):
            line = line[1:]
        out.append(line)
    return b"".join(out)
