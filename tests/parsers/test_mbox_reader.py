"""read_mbox gives back exactly the messages an mboxrd writer put in, wherever its read blocks fall."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mailboxes import sources

# Lines chosen to sit near the reader's edge cases: "From " lines that must be quoted,
# lines already quoted, blank lines, CRLF and lone CR, and ordinary text.
LINES = st.sampled_from(["From a@b Mon Jan  3 00:00:00 2022", ">From quoted", ">>From twice", "From", "From:x",
                         "", "\r", "text", "> reply", " From indented", "F", "\rFrom x"])
ENDINGS = st.sampled_from(["\n", "\r\n"])
MESSAGE = st.lists(st.tuples(LINES, ENDINGS), min_size=1, max_size=12).map(
    lambda lines: "".join(text + end for text, end in lines).encode())
_NEEDS_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)


def write_mboxrd(path: Path, messages: list[tuple[bytes, bytes]]) -> None:
    """Each message with the blank line that ends it (LF, or CRLF as Windows tools write)."""
    with path.open("wb") as out:
        for raw, blank in messages:
            out.write(b"From sender@example.org Mon Jan  3 00:00:00 2022\n" + _NEEDS_QUOTE.sub(rb">\1", raw) + blank)


@pytest.mark.parametrize("block", [16, 64, 256, 1 << 22])
@settings(max_examples=300, deadline=None)
@given(messages=st.lists(st.tuples(MESSAGE, st.sampled_from([b"\n", b"\r\n"])), min_size=1, max_size=12))
def test_messages_come_back_as_written(tmp_path_factory: pytest.TempPathFactory, block: int,
                                       messages: list[tuple[bytes, bytes]]) -> None:
    path = tmp_path_factory.mktemp("mbox") / "box.mbox"
    write_mboxrd(path, messages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "_CHUNK", block)
        read = list(sources.read_mbox(path))
    assert [a.raw for a in read] == [raw for raw, _ in messages]
    # Each message is keyed by the offset of its "From " line, so a re-import finds it again.
    data = path.read_bytes()
    assert all(data[int(a.source_key):].startswith(b"From sender@example.org") for a in read)
