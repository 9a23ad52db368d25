"""Every shape a notice arrives in, and damaged mail: fixture -> the export rows it must give.

The fixtures (fixtures/shapes/, written by make_shapes.py) are imported together on
each backend; each row of TABLE says what the messages, incidents and replies
exports must hold for one of them.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT
from mailbot.store.db import create_schema, make_engine, session_scope

from mailbot.archive import export
from mailbot.archive.importer import import_paths

SHAPES = ROOT / "fixtures" / "shapes"
DESCRIPTION = (
    "Likely FRAUD. Recorded message says your electric service will be disconnected in 30 minutes; "
    "press 1 to make payment arrangements."
)
NOTICE_DATE = "2020-06-26T17:44:00Z"
FIRST = "Likely FRAUD. Caller claims to be from the electric company and threatens disconnection."
THIRD = "Likely FRAUD. Recorded message offers a lower interest rate on credit card debt; press 1."


def incident(
    incident_id: str, seen: str | None = NOTICE_DATE, description: str | None = DESCRIPTION, **other: object
) -> dict:
    """The incidents export row of the fixtures' call-details block (`other`: the fields a block has otherwise)."""
    row: dict[str, object] = {
        "incident_id": incident_id,
        "campaign": "Utility-30MinDisconnect",
        "campaign_canonical": "Utility-30MinDisconnect",
        "call_time": "2020-06-26T15:34:00Z",
        "called": "+14072223658",
        "caller": "+14072613544",
        "description": description,
        "first_seen": seen,
        "last_seen": seen,
        "sightings": 1,
    }
    if "campaign" in other:
        row["campaign_canonical"] = other["campaign"]
    return row | other


def sighting(
    name: str,
    message_id: str,
    incident_id: str,
    seen: str = NOTICE_DATE,
    description: str = DESCRIPTION,
    kind: str = "traceback_request",
) -> tuple:
    return (name, message_id, kind, "parsed", [incident_id], None, seen, [incident(incident_id, seen, description)])


def several(name: str, message_id: str, seen: str, incidents: list[dict]) -> tuple:
    """A notice of several blocks: a sighting of each of their incidents (the message lists them in the
    order written, the export by number)."""
    return (
        name,
        message_id,
        "traceback_request",
        "parsed",
        [i["incident_id"] for i in incidents],
        None,
        seen,
        sorted(incidents, key=lambda i: int(i["incident_id"])),
    )


def no_sighting(
    name: str,
    message_id: str | None,
    kind: str,
    ids: list[str],
    date: str | None,
    status: str = "parsed",
    reason: str | None = None,
) -> tuple:
    return (name, message_id, kind, status, ids, reason, date, [])


# fixture, message_id, kind, status, message incident_ids, reason, date, incident rows it yields
TABLE = [
    # encodings and layouts
    sighting("html_only", "<html-only.5001@tracebacks.org>", "5001"),
    sighting("alternative", "<alternative.5002@tracebacks.org>", "5002"),
    sighting("qp_soft_breaks", "<qp.5003@tracebacks.org>", "5003"),
    sighting("base64", "<b64.5004@tracebacks.org>", "5004"),
    sighting(
        "windows_1252",
        "<cp1252.5005@tracebacks.org>",
        "5005",
        description="Likely FRAUD. Caller says \u201cyour account is suspended\u201d \u2013 press 1 \u2014 "
        "it\u2019s a scam.",
    ),
    sighting(
        "iso_8859_1",
        "<latin1.5006@tracebacks.org>",
        "5006",
        description="Likely FRAUD. Mensaje en espa\u00f1ol: \u00bfdesea continuar?",
    ),
    sighting("crlf", "<crlf.5007@tracebacks.org>", "5007"),
    # forwards: sightings of their incidents, dated when they arrived here
    sighting("forward_gmail", "<CAGmail5008fwd@mail.gmail.com>", "5008", seen="2020-06-26T18:02:11Z"),
    sighting("forward_outlook", "<BN6PR11MB0009FW@namprd11.prod.outlook.com>", "5009", seen="2020-06-26T18:10:42Z"),
    sighting("forward_apple", "<A1B2C3D4-5010@smartbiztel.com>", "5010", seen="2020-06-26T18:20:00Z"),
    sighting("forward_quoted_inline", "<fwd-inline.5011@smartbiztel.com>", "5011", seen="2020-06-27T14:00:00Z"),
    sighting("forward_attachment", "<fwd-attach.5012@smartbiztel.com>", "5012", seen="2020-06-27T15:00:00Z"),
    sighting("forward_of_forward", "<CAGmail5013fwdfwd@mail.gmail.com>", "5013", seen="2020-06-29T12:00:00Z"),
    # answers: about the incidents they quote or name, never sightings
    no_sighting(
        "reply_quoting_notice", "<BN6PR11MB5014RE@namprd11.prod.outlook.com>", "reply", ["5014"], "2020-06-26T19:30:00Z"
    ),
    no_sighting(
        "reply_without_prefix", "<reply-noprefix.5015@smartbiztel.com>", "reply", ["5015"], "2020-06-26T20:00:00Z"
    ),
    no_sighting(
        "reply_naming_subject", "<reply-subject.5016@smartbiztel.com>", "reply", ["5016"], "2020-06-27T12:00:00Z"
    ),
    no_sighting("bounce", "<20200626174404.5017@mx.smartbiztel.com>", "bounce", ["5017"], "2020-06-26T17:44:04Z"),
    no_sighting("auto_reply_header", "<oof.5018@smartbiztel.com>", "auto_reply", ["5018"], "2020-06-26T17:44:09Z"),
    no_sighting("auto_reply_no_header", "<oof.5019@smartbiztel.com>", "auto_reply", ["5019"], "2020-06-26T17:45:00Z"),
    # Appendix C and D letters: their kinds, no incidents
    no_sighting("non_responsive", "<nonresp.5020@tracebacks.org>", "non_responsive", ["5020"], NOTICE_DATE),
    no_sighting("escalation", "<escalation.5021@tracebacks.org>", "non_responsive", [], "2020-06-30T15:00:00Z"),
    no_sighting("status_yellow", "<yellow.5022@tracebacks.org>", "status_change", [], NOTICE_DATE),
    no_sighting("status_red", "<red.5023@tracebacks.org>", "status_change", [], NOTICE_DATE),
    no_sighting("change_in_status", "<change.5024@tracebacks.org>", "status_change", [], NOTICE_DATE),
    # HTML tables with labels and values apart: a header row of labels (<th>, or <td> with colons) over a
    # row of values; a label column without colons; CRLF with a 100 KB data: URI line
    sighting("html_header_row_th", "<html-th.5040@tracebacks.org>", "5040"),
    sighting("html_header_row_td", "<html-td.5041@tracebacks.org>", "5041"),
    sighting("html_label_column", "<html-col.5042@tracebacks.org>", "5042"),
    sighting("html_crlf_data_uri", "<html-crlf.5043@tracebacks.org>", "5043"),
    # forwards whose only notice is in one of those HTML shapes
    sighting("forward_thunderbird_html", "<fwd-tb.5044@smartbiztel.com>", "5044", seen="2020-06-27T11:00:00Z"),
    sighting("forward_apple_html", "<B2C3D4E5-5045@smartbiztel.com>", "5045", seen="2020-06-27T12:00:00Z"),
    sighting(
        "forward_outlook_html", "<BN6PR11MB0046FW@namprd11.prod.outlook.com>", "5046", seen="2020-06-27T13:00:00Z"
    ),
    # message/rfc822 attachments: HTML-only, quoted-printable, itself a forward, a reminder
    sighting("rfc822_html_only", "<att-html.5047@smartbiztel.com>", "5047", seen="2020-06-28T10:00:00Z"),
    sighting("rfc822_quoted_printable", "<att-qp.5048@smartbiztel.com>", "5048", seen="2020-06-28T11:00:00Z"),
    sighting("rfc822_forward", "<att-fwd.5049@smartbiztel.com>", "5049", seen="2020-06-28T12:00:00Z"),
    sighting(
        "rfc822_reminder", "<att-reminder.5050@smartbiztel.com>", "5050", seen="2020-06-30T09:00:00Z", kind="reminder"
    ),
    # reminders in the newer templates: an answer's subject, "This is a reminder that ...", the call details
    sighting(
        "reminder_re_subject", "<reminder-re.5051@tracebacks.org>", "5051", seen="2020-06-30T07:38:00Z", kind="reminder"
    ),
    sighting(
        "reminder_re_subject_html",
        "<reminder-html.5052@tracebacks.org>",
        "5052",
        seen="2020-06-30T07:39:00Z",
        kind="reminder",
    ),
    # several blocks in one notice: each its own paragraph; an old block repeated is one more sighting
    several(
        "multi_three_blocks",
        "<multi.5053@tracebacks.org>",
        NOTICE_DATE,
        [
            incident("5053", description=FIRST, last_seen="2020-06-27T17:44:00Z", sightings=2),
            incident("5054", description=FIRST, call_time="2020-06-26T16:01:00Z", called="+14072223659"),
            incident(
                "5055",
                description=THIRD,
                call_time="2020-06-26T16:20:00Z",
                called="+14072223660",
                caller="+14072613545",
                campaign="CreditCard-InterestRate",
            ),
        ],
    ),
    several(
        "multi_old_block_repeated",
        "<multi-again.5056@tracebacks.org>",
        "2020-06-27T17:44:00Z",
        [
            incident(
                "5056",
                seen="2020-06-27T17:44:00Z",
                description=THIRD,
                call_time="2020-06-27T10:00:00Z",
                called="+14072223661",
                caller="+14072613546",
                campaign="CreditCard-InterestRate",
            ),
            incident("5053", description=FIRST, last_seen="2020-06-27T17:44:00Z", sightings=2),
        ],
    ),
    several(
        "multi_see_above_other_campaign",
        "<multi-above.5061@tracebacks.org>",
        "2020-06-28T17:44:00Z",
        [
            incident(
                "5061",
                seen="2020-06-28T17:44:00Z",
                description=FIRST,
                call_time="2020-06-28T09:00:00Z",
                called="+14072223663",
                caller="+14072613547",
            ),
            incident(
                "5062",
                seen="2020-06-28T17:44:00Z",
                description=None,
                call_time="2020-06-28T09:05:00Z",
                called="+14072223664",
                caller="+14072613548",
                campaign="CreditCard-InterestRate",
            ),
            incident(
                "5063",
                seen="2020-06-28T17:44:00Z",
                description=FIRST,
                call_time="2020-06-28T09:10:00Z",
                called="+14072223665",
                caller="+14072613547",
            ),
        ],
    ),
    several(
        "multi_html_blocks",
        "<multi-html.5057@tracebacks.org>",
        NOTICE_DATE,
        [incident("5057", description=FIRST), incident("5058", description=THIRD, called="+14072223662")],
    ),
    # out-of-office without Auto-Submitted: an answer's subject, a few plain lines
    no_sighting("auto_reply_re_subject", "<oof.5059@smartbiztel.com>", "auto_reply", ["5059"], "2020-06-26T17:46:00Z"),
    no_sighting("auto_reply_re_vacation", "<oof.5060@smartbiztel.com>", "auto_reply", ["5060"], "2020-06-26T17:47:00Z"),
    # damaged mail: read as far as it goes, or quarantined with the reason
    ("bad_no_headers", None, "traceback_request", "parsed", ["5030"], None, None, [incident("5030", seen=None)]),
    sighting("bad_unclosed_boundary", "<unclosed.5031@tracebacks.org>", "5031"),
    sighting("bad_boundary_never_found", "<noboundary.5032@tracebacks.org>", "5032"),
    sighting(
        "bad_unknown_charset",
        "<klingon.5033@tracebacks.org>",
        "5033",
        description="Likely FRAUD. Caf\u00e9 \u2013 test.",
    ),
    sighting(
        "bad_8bit_no_charset",
        "<8bit.5034@tracebacks.org>",
        "5034",
        description="Likely FRAUD. \u201cSmart\u201d quotes \u2013 in windows-1252.",
    ),
    sighting("bad_rfc2047_subject", "<rfc2047.5035@tracebacks.org>", "5035"),
    sighting("bad_long_line", "<longline.5036@tracebacks.org>", "5036"),
    no_sighting(
        "bad_empty_body",
        "<empty.5037@tracebacks.org>",
        "traceback_request",
        [],
        NOTICE_DATE,
        status="quarantined",
        reason="traceback_request without a readable call-details block",
    ),
    no_sighting(
        "bad_binary_junk",
        None,
        "other",
        [],
        None,
        status="quarantined",
        reason="no mail headers and no notice text: not an email",
    ),
    no_sighting("bad_8bit_headers", "<8bit-headers.5038@smartbiztel.com>", "reply", ["5038"], "2020-06-27T13:00:00Z"),
    sighting(
        "bad_truncated_base64",
        "<truncb64.5039@tracebacks.org>",
        "5039",  # as far as the bytes go
        description=DESCRIPTION[:-2],
    ),
]
REPLY_IDS = {
    "reply_quoting_notice": ["5014"],
    "reply_without_prefix": ["5015"],
    "reply_naming_subject": ["5016"],
    "bad_8bit_headers": ["5038"],
}


@pytest.fixture(scope="module")
def exports(module_db_url: str) -> dict:
    """The exports after importing every shape fixture at once; imported once per backend."""
    engine = make_engine(module_db_url)
    create_schema(engine)
    tally = import_paths(engine, sorted(SHAPES.glob("*.eml")), batch_size=8, progress=False)
    assert tally.stored == len(TABLE)
    with session_scope(engine) as session:
        data = export.all_exports(session)
    engine.dispose()
    return data


def _key(name: str, message_id: str | None) -> str:
    raw = (SHAPES / f"{name}.eml").read_bytes()
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("row", TABLE, ids=[r[0] for r in TABLE])
def test_shape_exports(exports: dict, row: tuple) -> None:
    name, message_id, kind, status, ids, reason, date, incidents = row
    key = _key(name, message_id)
    messages = [m for m in exports["messages"] if m["message_id"] == key]
    assert messages == [
        {"message_id": key, "kind": kind, "incident_ids": ids, "status": status, "reason": reason, "date": date}
    ]
    expected_ids = {i["incident_id"] for i in incidents}
    got = [i for i in exports["incidents"] if i["incident_id"] in set(ids) | expected_ids]
    assert got == incidents
    replies = [(r["message_id"], r["incident_ids"]) for r in exports["replies"] if r["message_id"] == key]
    assert replies == ([(key, REPLY_IDS[name])] if name in REPLY_IDS else [])


def test_table_covers_every_fixture() -> None:
    assert sorted(p.stem for p in SHAPES.glob("*.eml")) == sorted(r[0] for r in TABLE)


def test_fixtures_match_their_generator() -> None:
    result = subprocess.run([sys.executable, str(SHAPES / "make_shapes.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_multi_megabyte_message(tmp_path: Path, sqlite_url: str) -> None:
    """A notice with a 6 MB attachment and a 20 000-character line still yields its incident."""
    notice = (SHAPES / "alternative.eml").read_bytes()
    start = notice.index(b"Content-Type: text/plain")
    text_part = notice[start : notice.index(b"\n--_000_", start)]
    blob = base64.encodebytes(bytes(range(256)) * 24576).decode()
    raw = (
        (
            "From: Industry Traceback Group <traceback-notice@tracebacks.org>\nSubject: Traceback Request #5002\n"
            "Message-ID: <big.5002@tracebacks.org>\nDate: Fri, 26 Jun 2020 17:44:00 +0000\n"
            'Content-Type: multipart/mixed; boundary="b"\nX-Long: ' + "y" * 20000 + "\n\n--b\n"
        ).encode()
        + text_part
        + (
            "\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + blob + "\n--b--\n"
        ).encode()
    )
    assert len(raw) > 6_000_000
    (tmp_path / "big.eml").write_bytes(raw)
    engine = make_engine(sqlite_url)
    create_schema(engine)
    import_paths(engine, [tmp_path / "big.eml"], progress=False)
    with session_scope(engine) as session:
        assert export.incidents(session) == [incident("5002")]


def test_diagnose_explains_a_damaged_message(sqlite_url: str) -> None:
    """mail-parser runs only on demand, on one stored message: its defects and delivery hops."""
    from click.testing import CliRunner

    from mailbot.cli import main

    engine = make_engine(sqlite_url)
    create_schema(engine)
    import_paths(
        engine, [SHAPES / "bad_unclosed_boundary.eml", ROOT / "fixtures" / "emails" / "001.eml"], progress=False
    )
    engine.dispose()
    runner = CliRunner()
    damaged = runner.invoke(main, ["--db", sqlite_url, "diagnose", "1"])
    assert damaged.exit_code == 0, damaged.output
    assert "status:  parsed  kind: traceback_request" in damaged.output
    assert "defects: CloseBoundaryNotFoundDefect" in damaged.output
    clean = runner.invoke(main, ["--db", sqlite_url, "diagnose", "2"])
    assert "defects: none" in clean.output and "hop:     mail.tracebacks.org" in clean.output
    missing = runner.invoke(main, ["--db", sqlite_url, "diagnose", "99"])
    assert missing.exit_code != 0 and "no stored message 99" in missing.output
