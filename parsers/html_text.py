"""HTML mail bodies to the plain layout the text parsers read.

Table cells become tab-separated columns and rows become lines, so a call-details
table reads exactly like the tab-separated layout of plain notices.
"""

from __future__ import annotations

from html.parser import HTMLParser

_BLOCK = frozenset({"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre"})
_SKIP = frozenset({"style", "script", "head", "title"})


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append("\t")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(" ".join(data.split()) if data.strip() else (" " if data else ""))


def html_to_text(markup: str) -> str:
    collector = _Collector()
    try:
        collector.feed(markup)
        collector.close()
    except Exception:  # noqa: BLE001 - broken markup still yields what was read
        pass
    lines = []
    for line in "".join(collector.out).split("\n"):
        # A row starts with a cell tab; drop it so "Label:\tvalue" lines up.
        cells = [c.strip() for c in line.split("\t")]
        lines.append("\t".join(c for c in cells if c) if len(cells) > 1 else line.strip())
    return "\n".join(lines)
