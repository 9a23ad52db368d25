"""Small notices: upstream-not-responded and relayed staff comments."""

from __future__ import annotations

import re

from mailbot.parsers.call_details import unescape_markdown

from mailbot.domain.records import Comment, UpstreamNotice

_UPSTREAM = re.compile(
    r"notifying you that\s+\**(?P<provider>.+?)\**\s+has not yet responded to the request for\s+"
    r"(?:Traceback|Incident)\s*#\s*(?P<id>\d+)",
    re.IGNORECASE | re.DOTALL,
)
_COMMENT = re.compile(
    r"^\s*(?P<author>[^\n]+?)\s+from\s+\**(?P<org>[^\n*]+?)\**\s+has sent you the following message:\s*\n(?P<text>.*?)"
    r"(?=\n\s*To respond, please|\n\s*Submit your response|\Z)",
    re.IGNORECASE | re.DOTALL | re.MULTILINE,
)


def upstream_notice(text: str) -> UpstreamNotice | None:
    m = _UPSTREAM.search(text)
    if not m:
        return None
    provider = " ".join(unescape_markdown(m.group("provider")).replace("**", "").split())
    return UpstreamNotice(provider=provider, traceback_id=m.group("id"))


def comment(text: str) -> Comment | None:
    m = _COMMENT.search(text)
    if not m:
        return None
    body = "\n".join(line.rstrip() for line in m.group("text").strip().split("\n"))
    return Comment(author=m.group("author").strip(), organization=m.group("org").strip(), text=body)
