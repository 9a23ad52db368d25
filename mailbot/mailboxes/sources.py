"""Mailbox readers: .eml files, directories, mbox files, Maildirs and archives of them, streamed.

Each yields Arrivals one at a time (only one message in memory), keyed by a
stable place in the source so that importing the same mailbox again is a no-op.
Compressed and packed mailboxes (.gz, .bz2, .xz, .zip, .tar and compressed tars)
are read as streams with the standard library, never unpacked to disk. Files
in a directory (or an archive) that are not mail come back as NotMail, for the
import summary to count; nothing of theirs is stored.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mailbot.domain.records import Arrival
from mailbot.mailboxes import imap as imap_source

MBOX_SEPARATOR = b"From "
# Single-stream compressors by suffix; what they hold is an mbox or one message.
COMPRESSED: dict[str, Callable[[Path], IO[bytes]]] = {
    ".gz": gzip.GzipFile,  # type: ignore[dict-item]  # a binary stream, though typeshed's is no IO[bytes]
    ".bz2": bz2.BZ2File,
    ".xz": lzma.LZMAFile,
}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
PST_MAGIC = b"!BDN"
# What a damaged archive raises while it is read (tarfile's stream mode, a gzip header cut short: TypeError).
ARCHIVE_ERRORS = (
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    tarfile.TarError,
    zipfile.BadZipFile,
    ValueError,
    TypeError,
    NotImplementedError,
    RuntimeError,
)  # zipfile: unknown compression, encrypted members
# Header names one of which every mail message has near its top.
_MAIL_FIELDS = frozenset(
    {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"received",
        b"return-path",
        b"mime-version",
        b"content-type",
        b"delivered-to",
        b"reply-to",
        b"sender",
        b"cc",
    }
)
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_HEAD_PEEK = 8192
_NOTICE_HEADING = re.compile(rb"call details for (?:incident|traceback)", re.IGNORECASE)


class UnreadableMailbox(Exception):
    """A mailbox mailbot cannot read: a PST file, or a damaged archive. The message says what to do."""


@dataclass(frozen=True, slots=True)
class NotMail:
    """A file met in a directory or archive that is not a mail message (a README, a photo, a spreadsheet)."""

    place: str


def detect(path: Path) -> str:
    """'maildir', 'dir', 'pst', 'tar', 'zip', 'compressed', 'mbox' or 'eml'."""
    if path.is_dir():
        return "maildir" if all((path / sub).is_dir() for sub in ("cur", "new")) else "dir"
    name = path.name.lower()
    with path.open("rb") as fh:
        head = fh.read(len(MBOX_SEPARATOR))
    if name.endswith((".pst", ".ost")) or head.startswith(PST_MAGIC):
        return "pst"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    if path.suffix.lower() in COMPRESSED:
        return "compressed"
    return "mbox" if head == MBOX_SEPARATOR else "eml"


def refuse_pst(path: Path) -> UnreadableMailbox:
    return UnreadableMailbox(
        f"{path} is an Outlook PST file, which mailbot does not read: convert it with readpst "
        f"(libpst; e.g. `readpst -o out/ {path.name}` writes one mbox per folder), then import out/"
    )


def read(path: Path | imap_source.Mailbox) -> Iterator[Arrival | NotMail]:
    if isinstance(path, imap_source.Mailbox):
        yield from imap_source.read(path)
        return
    path = path.resolve()
    kind = detect(path)
    if kind == "maildir":
        yield from read_maildir(path)
    elif kind == "dir":
        yield from read_directory(path)
    elif kind in ("pst", "tar", "zip", "compressed"):
        yield from read_archive(path, kind)
    elif kind == "mbox":
        yield from read_mbox(path)
    else:
        yield Arrival(source=f"file:{path}", source_key="", raw=path.read_bytes())


def looks_like_mail(raw: bytes) -> bool:
    """Whether a file found in a directory is a mail message: it starts with a header block
    that has a field every message has, or it is a notice's text without headers."""
    head = raw[:_HEAD_PEEK]
    known = False
    for line in head.split(b"\n")[:200]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            continue
        field = _FIELD_LINE.match(line)
        if field is None:  # the header block ends early, as in damaged mail: what came before decides
            break
        known = known or field.group(1).lower() in _MAIL_FIELDS
    return known or _NOTICE_HEADING.search(raw) is not None


def read_archive(path: Path, kind: str, in_directory: bool = False) -> Iterator[Arrival | NotMail]:
    """A compressed mbox or message, or a zip or tar of messages, mboxes and Maildirs, as streams.

    A compressed file met `in_directory` that holds no mail is NotMail, as an uncompressed one is.
    """
    if kind == "pst":
        raise refuse_pst(path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        with archive.open(info) as member:
                            yield from _member(path, info.filename, member)
        elif kind == "tar":
            with tarfile.open(path, "r|*") as archive:  # a stream: members in order, nothing seeked or unpacked
                for entry in archive:
                    extracted = archive.extractfile(entry) if entry.isfile() else None
                    if extracted is not None:
                        yield from _member(path, entry.name, extracted)
        else:
            with COMPRESSED[path.suffix.lower()](path) as stream:
                head = stream.read(len(MBOX_SEPARATOR))
                if head == MBOX_SEPARATOR:
                    yield from _read_mbox_stream(stream, f"mbox:{path}", head)
                else:
                    raw = head + stream.read()
                    yield (
                        NotMail(str(path))
                        if in_directory and not looks_like_mail(raw)
                        else Arrival(source=f"file:{path}", source_key="", raw=raw)
                    )
    except ARCHIVE_ERRORS as exc:
        raise UnreadableMailbox(f"cannot read {path}: {exc}") from exc


def _member(archive: Path, name: str, member: IO[bytes]) -> Iterator[Arrival | NotMail]:
    """One file of a zip or tar: a Maildir message (in a cur/ or new/ folder), an mbox, or a message."""
    parts = name.strip("/").split("/")
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return
    source = f"archive:{archive}"
    if len(parts) >= 2 and parts[-2] in ("cur", "new"):
        maildir = "/".join(parts[:-2]) or "."
        yield Arrival(source=source, source_key=f"{maildir}/{parts[-1].split(':', 1)[0]}", raw=member.read())
        return
    if parts[-2:-1] == ["tmp"]:  # a Maildir's messages still being delivered
        return
    head = member.read(len(MBOX_SEPARATOR))
    if head == MBOX_SEPARATOR:
        for arrival in _read_mbox_stream(member, source, head):
            yield Arrival(source=source, source_key=f"{name}@{arrival.source_key}", raw=arrival.raw)
        return
    raw = head + member.read()
    yield Arrival(source=source, source_key=name, raw=raw) if looks_like_mail(raw) else NotMail(f"{archive}:{name}")


def describe_place(source: str, source_key: str) -> str:
    """Where a stored message came from, for a person: file and offset, Maildir name, IMAP folder and UID."""
    scheme, _, where = source.partition(":")
    if scheme == "file":
        return f"file {where}"
    if scheme == "dir":
        return f"file {Path(where) / source_key}"
    if scheme == "maildir":
        return f"Maildir {where}, message {source_key}"
    if scheme == "mbox":
        return f"mbox {where}, offset {source_key}"
    if scheme == "archive":
        member, at, offset = source_key.rpartition("@") if "@" in source_key else (source_key, "", "")
        return f"archive {where}, member {member}" + (f", offset {offset}" if at else "")
    if scheme in ("imap", "imaps"):
        uidvalidity, _, uid = source_key.partition(":")
        return f"IMAP folder {source}, UID {uid} (UIDVALIDITY {uidvalidity})"
    return f"{source} {source_key}".strip()


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
    if kind == "pst":
        raise refuse_pst(path)  # before anything is read
    return 1 if kind == "eml" else None


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def read_directory(root: Path) -> Iterator[Arrival | NotMail]:
    """Every file under root: Maildirs, mbox files and archives inside are read as such; other
    files that are not mail are NotMail."""
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
            kind = detect(file)
            if kind == "mbox":
                yield from read_mbox(file)
            elif kind in ("pst", "tar", "zip", "compressed"):
                yield from read_archive(file, kind, in_directory=True)
            else:
                raw = file.read_bytes()
                key = str(file.relative_to(root))
                yield (
                    Arrival(source=f"dir:{root}", source_key=key, raw=raw)
                    if looks_like_mail(raw)
                    else NotMail(str(file))
                )


def read_maildir(root: Path) -> Iterator[Arrival]:
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(root / sub)):
            if name.startswith("."):
                continue
            # The unique part of the name; flags after ':' change as mail is read.
            key = name.split(":", 1)[0]
            yield Arrival(source=f"maildir:{root}", source_key=key, raw=(root / sub / name).read_bytes())


_FROM = b"From "  # after a blank line it starts a message; after ">" it is an mboxrd-quoted line
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_CHUNK = 1 << 22


def _scan(buf: bytes, pos: int) -> tuple[tuple[int, int] | None, bool]:
    """The first message boundary at or after `pos`, as (end of the message before, start of
    the next), and whether a ">From " (a line mboxrd quoted, perhaps) came before it.

    One `find` for "From " serves both, looking back at each hit: a regex scan for the
    boundary (`\\n\\r?\\nFrom `) took ~5x longer on 5 KB notices, and a second scan for
    quoted lines cost as much again.
    """
    quoted = False
    while (at := buf.find(_FROM, pos)) != -1:
        if buf[at - 1 : at] == b">":
            quoted = True
        elif buf[at - 2 : at] == b"\n\n":
            return (at - 1, at), quoted
        elif buf[at - 3 : at] == b"\n\r\n":
            return (at - 2, at), quoted
        pos = at + 1
    return None, quoted


def read_mbox(path: Path) -> Iterator[Arrival]:
    """Split on 'From ' lines that follow a blank line; undo mboxrd '>From ' quoting.

    Reads in blocks and scans each block once, rather than a Python step per line;
    a message is keyed by its "From " line's offset.
    """
    with path.open("rb") as fh:
        yield from _read_mbox_stream(fh, f"mbox:{path}")


def _read_mbox_stream(fh: IO[bytes], source: str, head: bytes = b"") -> Iterator[Arrival]:
    """read_mbox of an open stream (a file, or a member of an archive), of which `head` was read already."""
    buf = fh.read(_CHUNK)
    if head:  # only then: a copy of the first block costs its size in peak memory
        buf = head + buf
    base = 0  # file offset of buf[0]
    start = 0  # offset in buf of the current message's "From " line
    scan = 1  # where to look on for its end: past its own "From "
    quoted = False  # a ">From " seen in the current message so far
    eof = not buf
    while not eof or start < len(buf):
        found, seen = _scan(buf, scan)
        quoted |= seen
        if found is None and not eof:
            more = fh.read(_CHUNK)
            eof = not more
            # Look again at the last few bytes: a boundary may straddle the two blocks.
            buf, base, scan = buf[start:] + more, base + start, max(1, len(buf) - start - 8)
            start = 0
            continue
        end, following = found if found else (len(buf), len(buf))
        yield Arrival(
            source=source, source_key=str(base + start), raw=_mbox_message(buf, start, end, found is None, quoted)
        )
        if found is None:
            break
        start, scan, quoted = following, following + 1, False
        if start > _CHUNK:  # keep the buffer small: drop what was yielded
            buf, base, scan, start = buf[start:], base + start, 1, 0


def _mbox_message(buf: bytes, start: int, end: int, last: bool, quoted: bool) -> bytes:
    body_start = buf.find(b"\n", start, end)
    raw = buf[body_start + 1 : end] if body_start != -1 else b""
    if last:  # the blank line that ends the file's last message is not part of it
        cut = raw.rfind(b"\n", 0, len(raw) - 1) + 1
        if raw[cut:] in (b"\n", b"\r\n"):
            raw = raw[:cut]
    return _QUOTED_FROM.sub(rb"\1", raw) if quoted else raw
