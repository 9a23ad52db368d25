"""Reply benchmark: how often mailbot reads a carrier's answer right, per language and outcome.

    .venv/bin/python bench/reply_bench.py [--table] [bench/replies/unseen_1.jsonl ...] [--misses]

Cases come from the regression table (tests/parsers/test_replies_table.py, `--table`) and from JSONL
batches (format in bench/replies/README.md). Each case is built as a real email and read the way
the desk reads it: `parse_message` on the raw bytes, then the desk's own reading of the body
(`strip_quoted` of the decoded body, then `answers`, given the notices mailbot sent on the
thread). Every case lands in one of three buckets:

- right: the expected outcome, and every expected name and address (names compared without case,
  surrounding punctuation or repeated spaces); an answer proposed for confirmation counts as right
  when the proposal is right (the carrier would confirm it);
- to a human: read as `other`, or a wrong proposal (the carrier corrects it, nothing is applied),
  or the right upstream without the expected address (the desk asks a person for the address);
- applied wrong: anything else; mailbot would act on an answer the carrier did not give.

An expected name or address that is null is not checked (the reply does not give it).
"""

from __future__ import annotations

import argparse
import email
import importlib.util
import inspect
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from mailbot.parsers import reply as reply_parser
from mailbot.parsers.message import parse_message
from mailbot.parsers.mime import body_text

from mailbot.domain.records import ReplyResult
from mailbot.outbound.render import render

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("upstream", "origin", "not_found", "dispute", "other")
BUCKETS = ("right", "human", "wrong")


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    raw: bytes
    outcome: str
    upstream_name: str | None
    upstream_email: str | None
    customer_name: str | None
    note: str = ""


def _table_cases() -> list[Case]:
    spec = importlib.util.spec_from_file_location("replies_table", ROOT / "tests" / "parsers" / "test_replies_table.py")
    assert spec and spec.loader
    table = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = table  # dataclasses look their module up while the class is built
    spec.loader.exec_module(table)
    spanish_styles = {table.spanish, table.outlook_es}
    out = []
    for case in table.CASES:
        lang = "es" if case.style in spanish_styles or case.name.startswith("es ") else "en"
        out.append(
            Case(
                id=f"table:{case.name}",
                lang=lang,
                raw=table._raw(case),
                outcome=case.outcome,
                upstream_name=case.party if case.outcome == "upstream" else None,
                upstream_email=case.email,
                customer_name=case.party if case.outcome == "origin" else None,
            )
        )
    return out


def _build(entry: dict) -> bytes:
    msg = EmailMessage()
    msg["From"] = entry.get("sender") or "noc@carrier.example"
    msg["To"] = "tb+abc@desk.example"
    msg["Subject"] = entry.get("subject") or "Re: Traceback request"
    msg["Message-ID"] = f"<{entry['id']}@bench.example>"
    body, html = entry.get("body") or "", entry.get("html") or ""
    if body and html:
        msg.set_content(body)
        msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    return bytes(msg)


def _jsonl_cases(path: Path) -> list[Case]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        expected = entry["expected"]
        out.append(
            Case(
                id=entry["id"],
                lang=entry["lang"],
                raw=_build(entry),
                outcome=expected["outcome"],
                upstream_name=expected.get("upstream_name"),
                upstream_email=expected.get("upstream_email"),
                customer_name=expected.get("customer_name"),
                note=entry.get("note", ""),
            )
        )
    return out


def _sent_notices(ids: tuple[str, ...]) -> tuple[str, ...]:
    """The notices mailbot would have sent on the thread: a first contact and a request, for each traceback."""
    call = {
        "call_time": datetime(2026, 10, 30, 14, 5, tzinfo=UTC),
        "called": "+12025550143",
        "caller": "+16465550178",
        "campaign": "SSA-Suspended-SSN",
        "description": "Caller claims the recipient's social security number has been suspended.",
    }
    texts = []
    for n in ids[:3] or ("0",):
        number = int(n) if n.isdigit() else 0
        for kind in ("first_contact", "request", "reminder"):
            texts.append(
                render(
                    kind,
                    {
                        "traceback_id": number,
                        "call": call,
                        "downstream_name": "Downstream Carrier",
                        "provider_name": "Carrier",
                    },
                ).text
            )
    return tuple(texts)


def _read(raw: bytes) -> tuple[ReplyResult, str]:
    """The desk's reading of one reply (mailbot/desk/inbound.py), without a database: the
    reading, and what the desk does with it (`apply`, `propose` for confirmation, or `ask`)."""
    parsed = parse_message(raw)
    msg = email.message_from_bytes(raw)
    text = body_text(msg)
    ids = parsed.referenced_ids or ("0",)
    # Readers that know the sent notices and the sender get them; older readers do not.
    strip_kwargs = (
        {"sent": _sent_notices(ids)} if "sent" in inspect.signature(reply_parser.strip_quoted).parameters else {}
    )
    answer_kwargs = (
        {"sender": parsed.envelope.sender} if "sender" in inspect.signature(reply_parser.answers).parameters else {}
    )
    own = reply_parser.strip_quoted(text, **strip_kwargs)
    got = reply_parser.answers(own, ids, **answer_kwargs)[0]
    decide = getattr(reply_parser, "decision", None)
    action = decide(got) if decide else ("ask" if got.outcome == "other" else "apply")
    return got, action


def _norm(value: str | None) -> str:
    return re.sub(r"\s+", " ", (value or "").casefold()).strip(" .,;:-\"'()")


def judge(case: Case, got: ReplyResult, action: str) -> str:
    if action == "ask":
        return "right" if case.outcome == "other" else "human"
    fields_right = got.outcome == case.outcome and all(
        expected is None or _norm(found) == _norm(expected)
        for expected, found in ((case.upstream_name, got.upstream_name), (case.customer_name, got.customer_name))
    )
    email_right = case.upstream_email is None or _norm(got.upstream_email) == _norm(case.upstream_email)
    email_missing = case.upstream_email is not None and got.upstream_email is None
    if fields_right and email_right:
        return "right"
    if action == "propose":
        return "human"  # the carrier corrects the proposal; nothing was applied
    if fields_right and email_missing:
        return "human"
    return "wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("batches", nargs="*", type=Path, help="JSONL batches")
    parser.add_argument("--table", action="store_true", help="include the regression table")
    parser.add_argument("--misses", action="store_true", help="list every case not fully right")
    args = parser.parse_args(argv)
    sets: dict[str, list[Case]] = {}
    if args.table or not args.batches:
        sets["table"] = _table_cases()
    for path in args.batches:
        sets[path.stem] = _jsonl_cases(path)
    for name, cases in sets.items():
        _report(name, cases, args.misses)
    return 0


def _report(name: str, cases: list[Case], show_misses: bool) -> None:
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    by_outcome: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    confusion: Counter[tuple[str, str]] = Counter()
    misses = []
    for case in cases:
        got, action = _read(case.raw)
        verdict = judge(case, got, action)
        buckets[case.lang][verdict] += 1
        buckets["all"][verdict] += 1
        by_outcome[(case.lang, case.outcome)][verdict] += 1
        label = got.outcome + {"apply": "", "propose": "?", "ask": "~"}[action]
        confusion[(case.outcome, label)] += 1
        if verdict != "right":
            misses.append((case, got, verdict, action))
    print(f"\n== {name}: {len(cases)} replies")
    print(f"{'':22}{'n':>4}  {'right':>12}  {'to a human':>12}  {'applied wrong':>13}")
    for key in [*sorted(k for k in buckets if k != "all"), "all"]:
        _row(key, buckets[key])
        if key == "all":
            continue
        for outcome in OUTCOMES:
            if (key, outcome) in by_outcome:
                _row(f"  {outcome}", by_outcome[(key, outcome)])
    labels = sorted({got for _, got in confusion}, key=lambda o: (OUTCOMES.index(o.rstrip("?~")), o))
    print("\nconfusion (rows expected, columns read; ? = proposed for confirmation, ~ = too unsure, asked)")
    print(f"{'':12}" + "".join(f"{label:>11}" for label in labels))
    for expected in OUTCOMES:
        if any(e == expected for e, _ in confusion):
            print(f"{expected:12}" + "".join(f"{confusion[(expected, label)] or '.':>11}" for label in labels))
    if show_misses:
        print()
        for case, got, verdict, action in misses:
            print(
                f"  [{verdict}] {case.id} ({case.lang}) expected {case.outcome}"
                f" {case.upstream_name or case.customer_name}"
                f" {case.upstream_email or ''} | read {got.outcome} {got.upstream_name or got.customer_name}"
                f" {got.upstream_email or ''} conf={getattr(got, 'confidence', '-')} {action} | {case.note[:80]}"
            )


def _row(label: str, counts: Counter[str]) -> None:
    total = sum(counts.values())
    cells = "  ".join(f"{counts[b]:>4} {counts[b] / total:>6.1%}" for b in BUCKETS)
    print(f"{label:22}{total:>4}  {cells}")


if __name__ == "__main__":
    sys.exit(main())
