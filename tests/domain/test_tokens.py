"""Signed reply tokens: a hop's own token reads back; anything forged or altered does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT

from mailbot.config import load
from mailbot.domain.tokens import (
    hop_reply_address,
    load_secret,
    make_token,
    read_token,
    reply_address,
    token_from_address,
)

SECRET = b"0123456789abcdef0123456789abcdef"


def test_token_round_trips_through_the_reply_address() -> None:
    address = reply_address(4711, SECRET, "traceback", "mailbot.localhost")
    assert address.startswith("traceback+4711-") and address.endswith("@mailbot.localhost")
    # Carriers' mail systems may quote it with a display name, or upper-case it.
    for written in (address, f'"Traceback Desk" <{address}>', address.upper()):
        token = token_from_address(written)
        assert token is not None and read_token(token, SECRET) == 4711


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t.replace("4711", "4712", 1),  # another hop, same signature
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # one signature digit changed
        lambda t: t.split("-")[0] + "-" + "0" * 20,  # a made-up signature
        lambda t: t[:-2],  # truncated
        lambda t: "4711",  # no signature at all
        lambda t: t + "\r\nBcc: x@y",  # decorated
    ],
)
def test_forged_or_altered_tokens_are_refused(forge) -> None:
    token = make_token(4711, SECRET)
    assert read_token(token, SECRET) == 4711
    assert read_token(forge(token), SECRET) is None


def test_a_token_signed_with_another_secret_is_refused() -> None:
    assert read_token(make_token(4711, b"another secret"), SECRET) is None


def test_addresses_without_a_token() -> None:
    assert token_from_address("traceback@mailbot.localhost") is None
    assert token_from_address("traceback+@mailbot.localhost") is None
    assert token_from_address("not an address") is None


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    config = load(environ={"MAILBOT_MAIL_SECRET_FILE": str(tmp_path / "var" / "mail.secret")})
    first = load_secret(config)
    assert len(first) == 64 and (tmp_path / "var" / "mail.secret").stat().st_mode & 0o077 == 0
    assert load_secret(config) == first
    address = hop_reply_address(5, config)
    assert read_token(token_from_address(address) or "", first) == 5
    assert address.endswith("@mailbot.localhost") and address.startswith("traceback+5-")


def test_configured_secret_wins(tmp_path: Path) -> None:
    config = load(environ={"MAILBOT_MAIL_SECRET": "from-env", "MAILBOT_MAIL_SECRET_FILE": str(tmp_path / "s")})
    assert load_secret(config) == b"from-env" and not (tmp_path / "s").exists()


def test_processes_racing_to_create_the_secret_agree(tmp_path: Path) -> None:
    code = (
        "import sys; from mailbot.config import load; from mailbot.domain.tokens import load_secret; "
        "print(load_secret(load(environ={'MAILBOT_MAIL_SECRET_FILE': sys.argv[1]})).decode())"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "mail.secret")], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    secrets = {child.communicate()[0].strip() for child in children}
    assert len(secrets) == 1 and secrets == {(tmp_path / "mail.secret").read_text().strip()}
