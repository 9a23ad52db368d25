"""The record of a traceback for enforcement: one self-contained HTML document (and PDF).

Coordinators answer subpoenas and refer providers to enforcement with it (001, 003). It
holds the call, the call path (each hop's provider, label, answer and who gave it when),
every message in and out with its time, Message-ID and the SHA-256 of the raw bytes
mailbot stored, so each can be produced and verified; disputes, strike-exempt marks, and
the provider notices (status, non-cooperative) of the providers on the path.

`collect` reads the record into plain data (hashes recomputed from the stored bytes and
compared with the hash stored on arrival); `render_html` fills `templates/report.html.j2`;
`to_pdf` prints that HTML with headless Chromium.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlmodel import Session, col

from mailbot.desk import providers, views
from mailbot.domain.vocabulary import DisputeStatus
from mailbot.store.tables.desk import Hop, HopMessage, Traceback
from mailbot.store.tables.messages import Message
from mailbot.store.tables.outbox import OutboxMessage
from mailbot.store.tables.schedule import NonCooperativeChange
from mailbot.templates import TEMPLATES_DIR

# Letters about a provider itself rather than a hop, listed for each provider on the path
# (status_change, about another provider upstream, is left out: it names no traceback).
PROVIDER_NOTICES = (
    "status_yellow",
    "status_red",
    "escalation",
    "noncooperative_warning",
    "noncooperative_designated",
    "noncooperative_removed",
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
]


def sha256(raw: bytes) -> str:
    return hashlib.sha256(bytes(raw)).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _outgoing(session: Session, hop_ids: list[int], tb_id: int) -> dict[str, dict[str, Any]]:
    rows = session.scalars(
        select(OutboxMessage).where(
            (col(OutboxMessage.hop_id).in_(hop_ids)) | (col(OutboxMessage.traceback_id) == tb_id)
        )
    )
    return {
        row.message_id: {
            "sha256": sha256(row.raw),
            "subject": row.subject,
            "sender": row.sender,
            "size": len(row.raw),
            "stored": "outbox",
            "verified": True,
        }
        for row in rows
    }


def _incoming(session: Session, hop_ids: list[int]) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(
            col(HopMessage.message_id),
            col(Message.raw),
            col(Message.raw_sha256),
            col(Message.subject),
            col(Message.sender),
            col(Message.id),
        )
        .join(Message, col(Message.id) == col(HopMessage.message_pk))
        .where(col(HopMessage.hop_id).in_(hop_ids))
    )
    found = {}
    for message_id, raw, stored_hash, subject, sender, pk in rows:
        actual = sha256(raw)
        found[message_id] = {
            "sha256": stored_hash,
            "subject": subject,
            "sender": sender,
            "size": len(raw),
            "stored": f"message {pk}",
            "verified": actual == stored_hash,
        }
    return found


def collect(session: Session, traceback_id: int, now: datetime) -> dict[str, Any]:
    """The record of traceback `traceback_id` as plain data (the template's input)."""
    shown = views.timeline(session, traceback_id)  # the `traceback show` contract: hops in path order
    tb = session.get(Traceback, traceback_id)
    assert tb is not None  # timeline() found it
    hops = session.scalars(select(Hop).where(col(Hop.traceback_id) == traceback_id).order_by(col(Hop.position))).all()
    hop_ids = [h.id for h in hops if h.id is not None]  # stored rows: all of them
    stored = {**_outgoing(session, hop_ids, traceback_id), **_incoming(session, hop_ids)}
    answered_by = dict(
        session.execute(
            select(col(Message.id), col(Message.sender)).where(
                col(Message.id).in_([h.reply_message_pk for h in hops if h.reply_message_pk])
            )
        ).all()
    )
    messages = []
    for hop, row in zip(hops, shown["hops"], strict=True):
        row["answered_by"] = answered_by.get(hop.reply_message_pk)
        for m in row["messages"]:
            m.update(stored.get(m["message_id"], {"sha256": None, "verified": False, "stored": None}))
            m["hop"] = hop.position
            m["provider"] = row["provider"]
            messages.append(m)
    messages.sort(key=lambda m: (m["at"] or "", m["direction"] == "out"))
    by_hop = {h.id: h.position for h in hops}
    disputes = [
        {
            "id": d["id"],
            "hop": by_hop.get(d["hop_id"]),
            "detail": d["reason"] + (f" (attached: {', '.join(d['attachments'])})" if d["attachments"] else ""),
            "opened": d["created_at"],
            "resolved": d["status"] != DisputeStatus.OPEN,
            "resolved_at": d["decided_at"],
            "decision": d["status"] + (f": {d['decision_reason']}" if d["decision_reason"] else ""),
        }
        for d in shown["disputes"]
    ]
    path_providers = {h.provider_id for h in hops}
    notices = []
    addresses = {
        pid: {c.address for c in providers.contacts(session, pid, deliverable_only=False)} for pid in path_providers
    }
    names = {h.provider_id: row["provider"] for h, row in zip(hops, shown["hops"], strict=True)}
    for row in session.scalars(
        select(OutboxMessage)
        .where(col(OutboxMessage.kind).in_(PROVIDER_NOTICES), col(OutboxMessage.hop_id).is_(None))
        .order_by(col(OutboxMessage.id))
    ):
        to = {a.lower() for a in row.recipients}
        for pid in sorted(path_providers):
            if to & addresses[pid]:
                notices.append(
                    {
                        "provider": names[pid],
                        "kind": row.kind,
                        "at": _iso(row.created_at),
                        "status": row.status,
                        "message_id": row.message_id,
                        "sha256": sha256(row.raw),
                        "to": row.recipients,
                    }
                )
    designations = [
        {
            "provider": names[c.provider_id],
            "action": c.action,
            "at": _iso(c.at),
            "reasons": [f["detail"] for f in c.findings],
        }
        for c in session.scalars(
            select(NonCooperativeChange)
            .where(col(NonCooperativeChange.provider_id).in_(path_providers))
            .order_by(col(NonCooperativeChange.id))
        )
        if traceback_id in c.traceback_ids
    ]
    return {
        **shown,
        "generated_at": _iso(now),
        "messages": messages,
        "disputes": disputes,
        "strike_exempt": tb.strike_exempt,
        "strike_exempt_reason": ", ".join(filter(None, (tb.exempt_reason, tb.exempt_note))) or None,
        "provider_notices": notices,
        "designations": designations,
        "all_verified": all(m["verified"] for m in messages),
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = lambda value: (value or "").replace("_", " ")
    env.filters["when"] = lambda value: (value or "").replace("T", " ").replace("Z", " UTC")
    return env


_ENV = _environment()


def render_html(records: list[dict[str, Any]]) -> str:
    """One document holding each traceback's record (one page break between them in print)."""
    return _ENV.get_template("report.html.j2").render(records=records)


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("PDF needs Debian's chromium: apt-get install -y chromium")
    return found


def to_pdf(html: str, out: Path, timeout: float = 120) -> None:
    """Print the HTML to `out` with headless Chromium (its print stylesheet applies)."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                browser(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--print-to-pdf={out.resolve()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no PDF to {out}")
