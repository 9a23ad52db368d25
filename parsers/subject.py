"""The subject-line grammar: gateway tags, forward and reply prefixes, the desk's tag.

One grammar for every part: the classifier calls a subject with a reply prefix a
reply, and the desk reads `bare` to tell a `status` command, so `[EXTERNAL] RE: status`
and `Antw: status` mean the same to both.
"""

from __future__ import annotations

import re

# Subject tags mail gateways add ("[EXTERNAL]") and forward prefixes before a reply prefix.
TAGS = r"^\s*(?:\[[^\]]{0,40}\]\s*)*"
FORWARD = r"(?:fwd?|fw|tr|wg|rv|enc|doorst)\s*(?:\[\d+\])?\s*:\s*"
REPLY = r"(?:re|aw|sv|antw|resp|respuesta|r)\s*(?:\[\d+\])?\s*:"
REPLY_PREFIX = TAGS + rf"(?:{FORWARD})*{REPLY}"
FORWARD_PREFIX = TAGS + FORWARD
# The tag the desk's notices carry in their subjects.
TRACEBACK_TAG = re.compile(r"\[Traceback #(\d+)\]", re.I)
_PREFIXES = re.compile(rf"^(?:\s*\[[^\]]{{0,40}}\]|\s*{FORWARD}|\s*{REPLY})*\s*", re.I)


def bare(subject: str) -> str:
    """The subject without gateway tags, forward and reply prefixes, or `[Traceback #N]` tags."""
    return TRACEBACK_TAG.sub("", _PREFIXES.sub("", subject, count=1)).strip()
