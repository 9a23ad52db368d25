"""Random and mutated messages: no exception escapes the parsers or the mailbox readers (compressed and
packed input included), and every stored message ends with a status."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime

import pytest
from helpers.paths import ROOT, SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailbot.parsers.message import parse_message
from mailbot.store.db import session_scope
from mailbot.store.ingest import Arrival
from mailbot.store.tables.messages import Message
from sqlalchemy import select
from sqlmodel import col

from mailbot.archive.importer import save
from mailbot.domain.records import Kind, ParsedMessage
from mailbot.domain.vocabulary import MessageStatus
from mailbot.mailboxes import sources

SEEDS = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "shapes").glob("*.eml"))] + [
    p.read_bytes() for p in sorted(SAMPLE.glob("*.eml"))[:40]
]
# Fragments that steer mutations toward the parsers' edges.
SPLICES = [
    b"\r\n",
    b"\n\n",
    b"=\n",
    b"=?utf-8?b?",
    b"?=",
    b"--",
    b'boundary="',
    b"Content-Type: multipart/mixed",
    b"charset=x-unknown",
    b"\xff\xfe\x00",
    b"\x00",
    b"\xe2\x80",
    b"> ",
    b"Call Details for Incident #",
    b"Date/Time:",
    b"<td>",
    b"</table>",
    b"Content-Transfer-Encoding: base64\n",
    b"\xed\xa0\x80",
    b"#99999999999999999999999",
    b"Campaign: " + b"A" * 600,
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["cut", "delete", "insert", "splice", "flip", "repeat"]))
        if op == "cut":
            del raw[at:]
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 400))]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "splice":
            raw[at:at] = draw(st.sampled_from(SPLICES))
        elif op == "flip" and raw:
            raw[min(at, len(raw) - 1)] ^= draw(st.integers(1, 255))
        elif op == "repeat":
            raw[at:at] = raw[at : at + draw(st.integers(1, 2000))]
    return bytes(raw)


messages = st.one_of(mutated(), st.binary(max_size=3000), st.text(max_size=2000).map(lambda t: t.encode("utf-8")))


def _strings(value: object) -> list[str]:
    """Every string inside a parse result, however deep."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value):
        return [s for f in dataclasses.fields(value) for s in _strings(getattr(value, f.name))]
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for kv in value.items() for v in kv for s in _strings(v)]
    return []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=messages)
def test_parsers_never_raise_and_yield_storable_text(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage) and parsed.kind in Kind
    assert parsed.quarantine is None or parsed.quarantine.strip()
    for text in _strings(parsed):
        text.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them
        assert "\x00" not in text
    for block in parsed.incidents:
        assert block.incident_id.isdigit() and len(block.incident_id) <= 15
        assert block.call_time is None or (isinstance(block.call_time, datetime) and block.call_time.tzinfo)
    assert parsed.envelope.message_id is None or len(parsed.envelope.message_id) <= 998


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(batch=st.lists(messages, min_size=1, max_size=6))
def test_every_stored_message_ends_with_a_status(engine, batch: list[bytes]) -> None:
    source = f"fuzz:{uuid.uuid4().hex}"
    arrivals = [Arrival(source=source, source_key=str(i), raw=raw) for i, raw in enumerate(batch)]
    tally = save(engine, arrivals)
    assert tally.stored == len(batch)
    with session_scope(engine) as session:
        rows = session.execute(
            select(col(Message.status), col(Message.reason), col(Message.raw))
            .where(col(Message.source) == source)
            .order_by(col(Message.source_key))
        ).all()
    assert [raw for _, _, raw in rows] == [a.raw for a in sorted(arrivals, key=lambda a: a.source_key)]
    final = {MessageStatus.PARSED, MessageStatus.DUPLICATE, MessageStatus.QUARANTINED}
    assert all(status in final for status, _, _ in rows)
    assert all((reason is not None) == (status == MessageStatus.QUARANTINED) for status, reason, _ in rows)


def _packed(kind: str, raws: list[bytes]) -> bytes:
    """Messages as a compressed mbox, a zip of .eml files or a tar.gz of a Maildir."""
    box = b"".join(b"From fuzz@example.org Mon Jan  3 00:00:00 2022\n" + raw + b"\n" for raw in raws)
    if kind in COMPRESSORS:
        return COMPRESSORS[kind](box)
    out = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for i, raw in enumerate(raws):
                archive.writestr(f"{i}.eml", raw)
    else:
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            for i, raw in enumerate(raws):
                info = tarfile.TarInfo(f"Maildir/cur/{i}.host:2,S")
                info.size = len(raw)
                archive.addfile(info, io.BytesIO(raw))
    return out.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "mbox.gz": gzip.compress,
    "mbox.bz2": bz2.compress,
    "mbox.xz": lzma.compress,
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from([*COMPRESSORS, "zip", "tar.gz"]),
    batch=st.lists(messages, min_size=1, max_size=4),
    damage=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
)
def test_packed_mutated_messages_read_and_parse(
    tmp_path_factory: pytest.TempPathFactory, kind: str, batch: list[bytes], damage: list[tuple[int, int]]
) -> None:
    """Mutated messages inside compressed and packed mailboxes, the container itself damaged at times:
    the readers yield messages or stop with UnreadableMailbox, and every message read parses."""
    data = bytearray(_packed(kind, batch))
    for at, flip in damage:
        data[at % len(data)] ^= flip
    path = tmp_path_factory.mktemp("fuzz") / f"box.{kind}"
    path.write_bytes(bytes(data))
    try:
        read = list(sources.read(path))
    except sources.UnreadableMailbox:
        assert damage
        return
    for item in read:
        if isinstance(item, Arrival):
            assert isinstance(parse_message(item.raw), ParsedMessage)
    if not damage and kind == "zip" and not any(r.startswith(b"From ") for r in batch):  # no member an mbox
        assert [a.raw for a in read if isinstance(a, Arrival)] == [r for r in batch if sources.looks_like_mail(r)]
