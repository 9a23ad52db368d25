"""Monthly-metrics notices: the "Your Summary" and "Upstream Summary" tables."""

from __future__ import annotations

import re

from mailbot.parsers.call_details import unescape_markdown

from mailbot.domain.records import MonthlyMetrics, SummaryRow

_TITLE = re.compile(r"^\s*Monthly Metrics\s*[-–]\s*(.+?)\s*$", re.MULTILINE)
_ADDRESSEE = re.compile(r"^\s*(.+?), you can find your organization", re.MULTILINE)


def _strip(text: str) -> str:
    return unescape_markdown(text).replace("**", "").strip()


def _cells(line: str) -> list[str]:
    cells = [_strip(c) for c in line.split("\t")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _table(lines: list[str], start: int) -> tuple[list[str], list[list[str]]]:
    """The tab-separated table after line `start`: its header and rows."""
    rest = iter(lines[start + 1 :])
    header = next((_cells(line) for line in rest if "\t" in line), [])
    rows = []
    for line in rest:
        if "\t" not in line:
            break
        rows.append(_cells(line))
    return header, rows


def parse(text: str) -> MonthlyMetrics | None:
    title = _TITLE.search(text)
    if not title:
        return None
    addressee = _ADDRESSEE.search(text)
    lines = text.split("\n")
    your: SummaryRow | None = None
    upstream: list[SummaryRow] = []
    for i, line in enumerate(lines):
        heading = line.strip().rstrip(":").lower()
        if heading == "your summary":
            header, rows = _table(lines, i)
            if rows:
                your = SummaryRow(provider=None, values=dict(zip(header, rows[0], strict=False)))
        elif heading == "upstream summary":
            header, rows = _table(lines, i)
            for row in rows:
                values = dict(zip(header, row, strict=False))
                upstream.append(SummaryRow(provider=values.pop(header[0], ""), values=values))
    return MonthlyMetrics(
        organization=_strip(title.group(1)),
        addressee=_strip(addressee.group(1)) if addressee else None,
        your_summary=your,
        upstream=tuple(upstream),
    )
