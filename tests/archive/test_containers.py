"""Mailboxes as they are handed over: compressed, zipped, tarred, with other files among them.

The shapes fixtures packed every way a mailbox arrives must import to exactly the
exports the loose fixtures give, on SQLite and PostgreSQL; files that are not mail
are counted, not stored; a PST file is refused naming readpst; staff see where
each message came from, and can ask for the incidents they want.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.paths import ROOT
from mailbot.store.db import create_schema, make_engine, session_scope

from mailbot.archive import export
from mailbot.archive.importer import import_paths
from mailbot.cli import main
from mailbot.mailboxes import sources

SHAPES = ROOT / "fixtures" / "shapes"
# The fixtures the packed mailboxes are made of: notices, forwards, replies, a quarantined one.
NAMES = [
    "html_only",
    "alternative",
    "qp_soft_breaks",
    "base64",
    "crlf",
    "forward_gmail",
    "forward_attachment",
    "reply_quoting_notice",
    "html_header_row_th",
    "rfc822_reminder",
    "multi_three_blocks",
    "bad_empty_body",
]
FROM_LINE = b"From traceback-notice@tracebacks.org Fri Jun 26 17:44:00 2020\n"


def raw(name: str) -> bytes:
    return (SHAPES / f"{name}.eml").read_bytes()


def mbox(names: list[str]) -> bytes:
    # None of these fixtures has a line starting "From ", so no mboxrd quoting is needed.
    return b"".join(FROM_LINE + raw(n).rstrip(b"\n") + b"\n\n" for n in names)


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


NOT_MAIL = {
    "README.md": b"# Mailbox export\n\nExported from the NOC mailbox for the audit.\n",
    "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8,
    "calls.xlsx": zip_bytes(
        {"[Content_Types].xml": b"<?xml version='1.0'?><Types/>", "xl/workbook.xml": b"<workbook/>"}
    ),
    "scan.pdf.gz": gzip.compress(b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n5 0 obj\n"),
}


def packed(root: Path) -> Path:
    """A directory holding NAMES, split over every container, and three files that are not mail."""
    root.mkdir()
    a, b, c, d, e, f, g, h, i, j, k, l = NAMES  # noqa: E741
    (root / f"{a}.eml").write_bytes(raw(a))
    (root / "box.mbox.gz").write_bytes(gzip.compress(mbox([b, c])))
    (root / "box.mbox.bz2").write_bytes(bz2.compress(mbox([d])))
    (root / "single.eml.xz").write_bytes(lzma.compress(raw(e)))
    (root / "export.zip").write_bytes(
        zip_bytes(
            {
                f"loose/{f}.eml": raw(f),
                f"Maildir/cur/1593193440.{g}:2,S": raw(g),
                f"Maildir/new/1593193441.{h}": raw(h),
                "__MACOSX/._junk": b"\x00\x05\x16\x07",
            }
        )
    )
    (root / "backup.tar.gz").write_bytes(tar_bytes({"INBOX.mbox": mbox([i, j]), f"mail/{k}.eml": raw(k)}))
    (root / "old.tar").write_bytes(tar_bytes({f"{l}.eml": raw(l)}, mode="w"))
    for name, data in NOT_MAIL.items():
        (root / name).write_bytes(data)
    return root


def _exports(db_url: str, paths: list[Path]) -> tuple[dict, object]:
    engine = make_engine(db_url)
    create_schema(engine)
    tally = import_paths(engine, paths, batch_size=4, progress=False)
    with session_scope(engine) as session:
        result = export.all_exports(session)
    engine.dispose()
    return result, tally


def test_packed_mailboxes_import_as_the_loose_messages(tmp_path: Path, db_url: str, sqlite_url: str) -> None:
    loose, _ = _exports(sqlite_url, [SHAPES / f"{n}.eml" for n in NAMES])
    got, tally = _exports(db_url, [packed(tmp_path / "box")])
    assert got == loose
    assert tally.stored == len(NAMES) and tally.not_mail == len(NOT_MAIL)
    assert {i["incident_id"] for i in got["incidents"]} >= {
        "5001",
        "5002",
        "5003",
        "5004",
        "5007",
        "5008",
        "5012",
        "5040",
        "5050",
        "5053",
    }
    engine = make_engine(db_url)
    again = import_paths(engine, [tmp_path / "box"], progress=False)  # the same places: nothing new
    engine.dispose()
    assert (again.stored, again.skipped, again.not_mail) == (0, len(NAMES), len(NOT_MAIL))


def test_summary_counts_files_that_are_not_mail(tmp_path: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(packed(tmp_path / "box"))])
    assert result.exit_code == 0, result.output
    assert "skipped 4 files that are not mail" in result.output
    assert f"stored {len(NAMES)}," in result.output


def test_headerless_junk_in_an_mbox_is_still_quarantined(tmp_path: Path, sqlite_url: str) -> None:
    box = tmp_path / "box.mbox.gz"
    box.write_bytes(gzip.compress(mbox(["base64"]) + FROM_LINE + b"\x89PNG junk, no headers\n"))
    _, tally = _exports(sqlite_url, [box])
    assert tally.stored == 2 and tally.not_mail == 0
    assert tally.quarantined == {"no mail headers and no notice text: not an email": 1}


def test_pst_is_refused_naming_readpst(tmp_path: Path, sqlite_url: str) -> None:
    pst = tmp_path / "Outlook.pst"
    pst.write_bytes(b"!BDN" + bytes(508))
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(tmp_path / "Outlook.pst")])
    assert result.exit_code != 0
    assert "PST" in result.output and "readpst" in result.output
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        assert export.messages(session) == []
    engine.dispose()


def test_damaged_archive_stops_with_its_name(tmp_path: Path, sqlite_url: str) -> None:
    box = tmp_path / "box.mbox.gz"
    box.write_bytes(gzip.compress(mbox(["base64", "crlf"]))[:-40])
    with pytest.raises(sources.UnreadableMailbox, match=r"box\.mbox\.gz"):
        list(sources.read(box))
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(box)])
    assert result.exit_code != 0 and "cannot read" in result.output and "box.mbox.gz" in result.output


def test_quarantine_and_diagnose_say_where_a_message_came_from(tmp_path: Path, sqlite_url: str) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1593193440.M1.host:2,S").write_bytes(raw("bad_empty_body"))
    box = tmp_path / "in.mbox"
    box.write_bytes(mbox(["base64"]) + FROM_LINE + b"junk without headers\n")
    offset = box.read_bytes().rindex(FROM_LINE)
    runner = CliRunner()
    assert runner.invoke(main, ["--db", sqlite_url, "import", str(maildir), str(box)]).exit_code == 0
    listed = runner.invoke(main, ["--db", sqlite_url, "quarantine", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["source"], r["source_key"], r["place"]) for r in rows] == [
        (f"maildir:{maildir}", "1593193440.M1.host", f"Maildir {maildir}, message 1593193440.M1.host"),
        (f"mbox:{box}", str(offset), f"mbox {box}, offset {offset}"),
    ]
    assert rows[0]["reason"] == "traceback_request without a readable call-details block"
    diagnosed = runner.invoke(main, ["--db", sqlite_url, "diagnose", str(rows[1]["id"])])
    assert f"from:    mbox {box}, offset {offset}" in diagnosed.output
    table = runner.invoke(main, ["--db", sqlite_url, "quarantine"])
    assert f"from Maildir {maildir}, message 1593193440.M1.host" in table.output and "2 quarantined" in table.output


def test_describe_place_of_imap_and_archives() -> None:
    assert (
        sources.describe_place("imaps://noc%40x.example@mail.x.example/INBOX/Tracebacks", "1593:42")
        == "IMAP folder imaps://noc%40x.example@mail.x.example/INBOX/Tracebacks, UID 42 (UIDVALIDITY 1593)"
    )
    assert (
        sources.describe_place("archive:/m/backup.tar.gz", "INBOX.mbox@5120")
        == "archive /m/backup.tar.gz, member INBOX.mbox, offset 5120"
    )
    assert sources.describe_place("archive:/m/export.zip", "loose/a.eml") == "archive /m/export.zip, member loose/a.eml"


@pytest.fixture
def shapes_db(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    import_paths(engine, sorted(SHAPES.glob("*.eml")), progress=False)
    engine.dispose()
    return sqlite_url


def _incidents(db: str, *args: str) -> list[dict]:
    result = CliRunner().invoke(main, ["--db", db, "incidents", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_incidents_filters(shapes_db: str) -> None:
    everything = _incidents(shapes_db)
    engine = make_engine(shapes_db)
    with session_scope(engine) as session:
        assert everything == export.incidents(session)  # the export's rows
    engine.dispose()
    ids = lambda rows: [r["incident_id"] for r in rows]  # noqa: E731
    credit = ["5055", "5056", "5062"]
    assert ids(_incidents(shapes_db, "--campaign", "creditcard-interestrate")) == credit
    assert ids(_incidents(shapes_db, "--caller", "(407) 261-3545")) == ["5055"]
    assert ids(_incidents(shapes_db, "--called", "407-222-3661")) == ["5056"]
    assert ids(_incidents(shapes_db, "--since", "2020-06-27", "--caller", "+14072613546")) == ["5056"]
    assert ids(_incidents(shapes_db, "--since", "2020-06-28")) == ["5061", "5062", "5063"]
    # A date alone as --until takes in that whole day.
    assert ids(_incidents(shapes_db, "--until", "2020-06-27")) == [
        i for i in ids(everything) if i not in ("5061", "5062", "5063")
    ]
    assert "5056" not in ids(_incidents(shapes_db, "--until", "2020-06-26"))
    assert ids(_incidents(shapes_db, "--since", "2020-06-26T16:00:00", "--until", "2020-06-26T16:30:00")) == [
        "5054",
        "5055",
    ]
    csv_rows = (
        CliRunner()
        .invoke(main, ["--db", shapes_db, "incidents", "--campaign", "CreditCard-InterestRate", "--format", "csv"])
        .output.splitlines()
    )
    assert csv_rows[0].split(",") == list(everything[0]) and len(csv_rows) == 1 + len(credit)
    table = CliRunner().invoke(main, ["--db", shapes_db, "incidents", "--caller", "+14072613545"]).output
    assert "5055" in table and "5056" not in table and "1 incidents" in table
