"""No notice mailbot sends, quoted back in any way a mail client quotes it, decides an answer.

Every notice kind is rendered (text and HTML), quoted by each supported client style under an
answer that says nothing yet, and read the desk's way (the sent notice's text given to the
reader). The outcome must stay `other`. The same quotes under a real answer still read that
answer, so the quoting does not simply hide everything.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

import pytest
from helpers.notice_context import CONTEXT
from mailbot.parsers import reply
from mailbot.parsers.mime import body_text, parse_bytes

from mailbot.outbound.render import KINDS, render


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def _rewrapped(text: str) -> str:
    # Clients that rewrap quoted text at 72 columns break the notice's lines anywhere.
    return "\n".join("> " + part for line in text.split("\n") for part in (textwrap.wrap(line, 60) or [""]))


def _html_as_text(html: str) -> str:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg.set_content(f"<p>OK</p><blockquote>{html}</blockquote>", subtype="html")
    return body_text(parse_bytes(bytes(msg)))


QUOTINGS: dict[str, Callable[[str, str, str], str]] = {
    "gmail": lambda answer, text, html: (
        f"{answer}\n\nOn Mon, Nov 2, 2026 at 10:14 AM Traceback Desk <tb@desk.example> wrote:\n{_quote(text)}\n"
    ),
    "gmail rewrapped": lambda answer, text, html: (
        f"{answer}\n\nOn Mon, Nov 2, 2026 at 10:14 AM Traceback Desk <\ntb@desk.example> wrote:\n{_rewrapped(text)}\n"
    ),
    "gmail es": lambda answer, text, html: (
        f"{answer}\n\nEl lun, 2 nov 2026 a las 10:14, Traceback Desk (<tb@desk.example>) escribió:\n{_quote(text)}\n"
    ),
    "outlook": lambda answer, text, html: (
        f"{answer}\n\n________________________________\n"
        "From: Traceback Desk <tb@desk.example>\nSent: Monday, November 2, 2026 10:14 AM\n"
        f"To: noc@carrier.example\nSubject: Traceback\n\n{text}\n"
    ),
    "outlook es": lambda answer, text, html: (
        f"{answer}\n\nDe: Traceback Desk <tb@desk.example>\nEnviado: lunes, 2 de noviembre de 2026 10:14\n"
        f"Para: noc@carrier.example\nAsunto: Traceback\n\n{text}\n"
    ),
    "android": lambda answer, text, html: (
        f"{answer}\n\n---- On Mon, 2 Nov 2026 10:14:03 -0500 Traceback Desk <tb@desk.example> wrote ----\n\n{text}\n"
    ),
    "reply message": lambda answer, text, html: (
        f"{answer}\n\n-----Reply Message-----\n"
        f"From: Traceback Desk <tb@desk.example>\nDate: Mon, Nov 2, 2026 10:14\nSubject: Traceback\n\n{text}\n"
    ),
    "samsung": lambda answer, text, html: (
        f"{answer}\n\n-------- Original message --------\n"
        f"From: Traceback Desk <tb@desk.example>\nDate: 11/2/26 10:14 (GMT-05:00)\n\n{text}\n"
    ),
    "bottom-posted": lambda answer, text, html: (
        f"On Mon, Nov 2, 2026 at 10:14 AM Traceback Desk <tb@desk.example> wrote:\n{_quote(text)}\n\n{answer}\n"
    ),
    "pasted bare, no header": lambda answer, text, html: f"{answer}\n\n{text}\n",
    "bare, answer below": lambda answer, text, html: f"{text}\n\n{answer}\n",
    "html blockquote": lambda answer, text, html: f"{answer}\n\n{_html_as_text(html)}\n",
}


def _read(body: str, sent: str, direction: str = "back") -> reply.ReplyResult:
    return reply.answers(
        reply.strip_quoted(body, [sent]), ("2640",), sender="noc@carrier.example", direction=direction
    )[0]


# Each notice as an upstream hop's provider gets it, and as a Trace Forward's (English, Spanish).
VARIANTS = {"back": {}, "forward": {"direction": "forward"}, "forward es": {"direction": "forward", "language": "es"}}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("quoting", list(QUOTINGS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_quoted_notice_never_decides(kind: str, quoting: str, variant: str) -> None:
    notice = render(kind, {**CONTEXT, **VARIANTS[variant]})
    for answer in ("Thanks, we are looking into it.", ""):
        got = _read(QUOTINGS[quoting](answer, notice.text, notice.html), notice.text, variant.split()[0])
        assert got.outcome == "other", (kind, quoting, answer, got.evidence, got.text[:300])


@pytest.mark.parametrize("quoting", list(QUOTINGS))
def test_the_answer_is_still_read_under_or_over_any_quote(quoting: str) -> None:
    notice = render("request", CONTEXT)
    body = QUOTINGS[quoting]("We received this call from Lingo Telecom (noc@lingo.example).", notice.text, notice.html)
    got = _read(body, notice.text)
    assert (got.outcome, got.upstream_name, got.upstream_email) == ("upstream", "Lingo Telecom", "noc@lingo.example")


def test_every_template_asks_for_the_answer_form_and_reads_it_filled_in() -> None:
    notice = render("request", CONTEXT).text
    assert re.search(r"^Upstream provider / Proveedor anterior:$", notice, re.M)
    filled = notice.replace("Our customer / Nuestro cliente:", "Our customer / Nuestro cliente: Acme Leads LLC")
    got = _read("See the form below.\n\n" + QUOTINGS["gmail"]("", filled, "")[2:], notice)
    assert (got.outcome, got.customer_name, got.confidence) == ("origin", "Acme Leads LLC", 1.0)
