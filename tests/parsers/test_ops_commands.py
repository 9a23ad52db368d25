"""The grammar of ops' emailed commands (pure), and the digest's settle lines read by it."""

from __future__ import annotations

import shlex

import pytest
from mailbot.parsers.ops_commands import GRAMMARS, MAX_COMMANDS, Command, Rejected, parse, parse_line

from mailbot.desk import settle


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'resolve 17 upstream "Acme Telecom" noc@acme.example',
            Command(
                "resolve",
                'resolve 17 upstream "Acme Telecom" noc@acme.example',
                17,
                "upstream",
                "Acme Telecom",
                "noc@acme.example",
            ),
        ),
        (
            "Resolve #17 upstream Acme Telecom <NOC@Acme.example>",
            Command(
                "resolve",
                "Resolve #17 upstream Acme Telecom <NOC@Acme.example>",
                17,
                "upstream",
                "Acme Telecom",
                "noc@acme.example",
            ),
        ),
        (
            "resolve 5 origin \u201cSunrise Solar\u201d",
            Command("resolve", "resolve 5 origin \u201cSunrise Solar\u201d", 5, "origin", "Sunrise Solar"),
        ),
        ("resolve 5 not-found", Command("resolve", "resolve 5 not-found", 5, "not_found")),
        ("resolve 5", Command("resolve", "resolve 5", 5)),
        ("forward 42 Acme", Command("forward", "forward 42 Acme", 42, name="Acme")),
        ("forward 42 Lingo Telecom", Command("forward", "forward 42 Lingo Telecom", 42, name="Lingo Telecom")),
        ("close 42 not_found", Command("close", "close 42 not_found", 42, result="not_found")),
        ("accept-contact 9", Command("accept-contact", "accept-contact 9", 9)),
        ("accept_contact 9", Command("accept-contact", "accept_contact 9", 9)),
        ("help", Command("help", "help")),
    ],
)
def test_each_grammar_reads_its_line(line: str, expected: Command) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("Hi team,", "not a command"),
        ("forward Acme", "needs a traceback number"),
        ("close 42", "one result label"),
        ('resolve 17 upstream "Acme', "quote is not closed"),
        ("resolve 17 upstream", "needs a name or an address"),
        ("resolve 17 maybe", "not an answer"),
        ("accept-contact 9 please", "takes nothing"),
        ("resolve 12345678901 not_found", "needs a review number"),
    ],
)
def test_a_line_that_is_not_a_command_says_why(line: str, why: str) -> None:
    got = parse_line(line)
    assert isinstance(got, Rejected) and why in got.error, got


def test_reading_stops_at_the_quoted_digest_and_skips_blank_lines() -> None:
    text = "forward 3 Acme\n\nclose 4 origin\n-- \nOps Lead\nclose 5 origin\n"
    assert [c.line for c in parse(text)] == ["forward 3 Acme", "close 4 origin"]
    quoted = "resolve 1\nOn Mon, 16 Mar 2026 at 07:00, Traceback Desk wrote:\n> resolve 2\n"
    assert [c.line for c in parse(quoted)] == ["resolve 1"]
    many = parse("resolve 1\n" * (MAX_COMMANDS + 5))
    assert len(many) == MAX_COMMANDS + 1 and isinstance(many[-1], Rejected)


@pytest.mark.parametrize("kind", list(settle.SETTLE))
def test_every_settle_line_of_the_digest_is_a_command_and_its_shell_form_runs_the_same(kind: str) -> None:
    shown = settle.command(kind, 17, 42, "upstream named 'Acme' may be 'Acme Telecom' (81%); confirm", "Beta Voice")
    assert shown is not None
    email_form = parse_line(shown.email)
    assert isinstance(email_form, Command) and email_form.verb in GRAMMARS
    # The shell form takes the same words after `mailbot <group> <verb>`, as options or arguments.
    words = shlex.split(shown.cli)
    assert words[0] == "mailbot" and email_form.verb in words and str(email_form.number) in words
    for value in (email_form.name, email_form.address, email_form.result):
        assert value is None or value in " ".join(words)
