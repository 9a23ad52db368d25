"""read_mbox gives back exactly the messages an mboxrd writer put in, wherever its read blocks fall;
so do the readers of compressed and packed mailboxes, and damaged ones fail only as UnreadableMailbox."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailbot.store.ingest import Arrival

from mailbot.mailboxes import sources

# Lines chosen to sit near the reader's edge cases: "From " lines that must be quoted,
# lines already quoted, blank lines, CRLF and lone CR, and ordinary text.
LINES = st.sampled_from(
    [
        "From a@b Mon Jan  3 00:00:00 2022",
        ">From quoted",
        ">>From twice",
        "From",
        "From:x",
        "",
        "\r",
        "text",
        "> reply",
        " From indented",
        "F",
        "\rFrom x",
    ]
)
ENDINGS = st.sampled_from(["\n", "\r\n"])
MESSAGE = st.lists(st.tuples(LINES, ENDINGS), min_size=1, max_size=12).map(
    lambda lines: "".join(text + end for text, end in lines).encode()
)
_NEEDS_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)


def write_mboxrd(path: Path, messages: list[tuple[bytes, bytes]]) -> None:
    """Each message with the blank line that ends it (LF, or CRLF as Windows tools write)."""
    with path.open("wb") as out:
        for raw, blank in messages:
            out.write(b"From sender@example.org Mon Jan  3 00:00:00 2022\n" + _NEEDS_QUOTE.sub(rb">\1", raw) + blank)


@pytest.mark.parametrize("block", [16, 64, 256, 1 << 22])
@settings(max_examples=300, deadline=None)
@given(messages=st.lists(st.tuples(MESSAGE, st.sampled_from([b"\n", b"\r\n"])), min_size=1, max_size=12))
def test_messages_come_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, block: int, messages: list[tuple[bytes, bytes]]
) -> None:
    path = tmp_path_factory.mktemp("mbox") / "box.mbox"
    write_mboxrd(path, messages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "_CHUNK", block)
        read = list(sources.read_mbox(path))
    assert [a.raw for a in read] == [raw for raw, _ in messages]
    # Each message is keyed by the offset of its "From " line, so a re-import finds it again.
    data = path.read_bytes()
    assert all(data[int(a.source_key) :].startswith(b"From sender@example.org") for a in read)


def _pack(kind: str, path: Path, messages: list[tuple[bytes, bytes]]) -> Path:
    """The messages as `kind` packs them: a compressed mbox, a zip of .eml files, a tar.gz of a Maildir."""
    plain = path.with_suffix(".mbox")
    write_mboxrd(plain, messages)
    if kind in ("gz", "bz2", "xz"):
        packed = path.with_suffix(f".mbox.{kind}")
        compress: dict[str, Callable[[bytes], bytes]] = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}
        packed.write_bytes(compress[kind](plain.read_bytes()))
        return packed
    if kind == "zip":
        packed = path.with_suffix(".zip")
        with zipfile.ZipFile(packed, "w") as archive:
            for i, (raw, _) in enumerate(messages):
                archive.writestr(f"eml/{i:03d}.eml", b"Subject: %d\n" % i + raw)
        return packed
    packed = path.with_suffix(".tar.gz")
    with tarfile.open(packed, "w:gz") as archive:
        for i, (raw, _) in enumerate(messages):
            info = tarfile.TarInfo(f"Maildir/{'cur' if i % 2 else 'new'}/{i:03d}.host:2,S")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
        info = tarfile.TarInfo("box.mbox")  # and an mbox beside the Maildir
        info.size = plain.stat().st_size
        with plain.open("rb") as fh:
            archive.addfile(info, fh)
    return packed


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip", "tar.gz"])
@settings(max_examples=30, deadline=None)
@given(messages=st.lists(st.tuples(MESSAGE, st.sampled_from([b"\n", b"\r\n"])), min_size=1, max_size=8))
def test_packed_messages_come_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, kind: str, messages: list[tuple[bytes, bytes]]
) -> None:
    packed = _pack(kind, tmp_path_factory.mktemp("packed") / "box", messages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "_CHUNK", 64)  # boundaries straddle the reads of the decompressed stream
        read = list(sources.read_archive(packed, sources.detect(packed)))
    raws = [a.raw if isinstance(a, Arrival) else a for a in read]  # a NotMail stays in, unequal to any bytes
    if kind == "zip":  # each member one message, as it was written
        assert raws == [b"Subject: %d\n" % i + raw for i, (raw, _) in enumerate(messages)]
    elif kind == "tar.gz":
        assert raws == [raw for raw, _ in messages] * 2
    else:
        assert raws == [raw for raw, _ in messages]
    assert len({(a.source, a.source_key) for a in read if isinstance(a, Arrival)}) == sum(
        isinstance(a, Arrival) for a in read
    )  # every place its own key


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["gz", "bz2", "xz", "zip", "tar.gz"]),
    messages=st.lists(st.tuples(MESSAGE, st.just(b"\n")), min_size=1, max_size=4),
)
def test_damaged_packed_mailboxes_raise_only_unreadable(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, kind: str, messages: list[tuple[bytes, bytes]]
) -> None:
    packed = _pack(kind, tmp_path_factory.mktemp("damaged") / "box", messages)
    raw = bytearray(packed.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[at] ^= data.draw(st.integers(1, 255))
        else:
            del raw[at:]
            if not raw:
                raw = bytearray(b"\x00")
    packed.write_bytes(bytes(raw))
    try:
        read = list(sources.read_archive(packed, sources.detect(packed)))
    except sources.UnreadableMailbox as exc:
        assert str(packed) in str(exc)
        return
    assert all(isinstance(a, (Arrival, sources.NotMail)) for a in read)
