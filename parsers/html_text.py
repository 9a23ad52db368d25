"""HTML mail bodies to the plain layout the text parsers read.

A table row of two or more cells becomes one line of tab-separated cells, so a
call-details table reads exactly like the tab-separated layout of plain notices,
even when a mail client wraps each cell's text in paragraphs (Outlook does).
A row of one cell is layout, not data: its lines are kept.
"""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser

_BLOCK = frozenset({"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"})
_SKIP = frozenset({"style", "script", "head", "title"})


def _row_text(cells: list[list[str]]) -> str:
    texts = ["".join(cell) for cell in cells]
    filled = [t for t in texts if t.strip()]
    if len(filled) <= 1:
        return filled[0] if filled else ""
    return "\t".join(" ".join(t.split()) for t in filled)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        # One entry per open table: the cells of its open row (empty: no open row).
        self.tables: list[list[list[str]]] = []
        self._skip = 0
        self._pre = 0

    def _sink(self) -> list[str]:
        for cells in reversed(self.tables):
            if cells:
                return cells[-1]
        return self.out

    def _end_row(self) -> None:
        if self.tables and self.tables[-1]:
            text = _row_text(self.tables[-1])
            self.tables[-1] = []
            self._sink().append(f"\n{text}\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._end_row()  # a row left open by sloppy markup
        elif tag in ("td", "th"):
            if not self.tables:
                self.tables.append([])
            self.tables[-1].append([])
        elif tag == "br":
            self._sink().append("\n")
        elif tag in _BLOCK:
            self._pre += tag == "pre"
            self._sink().append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "tr":
            self._end_row()
        elif tag == "table" and self.tables:
            self._end_row()
            self.tables.pop()
        elif tag in _BLOCK:
            self._pre = max(0, self._pre - (tag == "pre"))
            self._sink().append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            self._sink().append(data)
            return
        words = " ".join(data.split())
        # Keep one space where the markup had some, so "<b>Likely</b> FRAUD" stays two words.
        lead = " " if data[0].isspace() else ""
        trail = " " if data[-1].isspace() and words else ""
        self._sink().append(lead + words + trail)

    def finish(self) -> str:
        while self.tables:
            self._end_row()
            self.tables.pop()
        return "".join(self.out)


def html_to_text(markup: str) -> str:
    collector = _Collector()
    with contextlib.suppress(Exception):  # broken markup still yields what was read
        collector.feed(markup)
        collector.close()
    lines = []
    for line in collector.finish().split("\n"):
        cells = [c.strip() for c in line.split("\t")]
        lines.append("\t".join(c for c in cells if c) if len(cells) > 1 else line.strip())
    return "\n".join(lines)
