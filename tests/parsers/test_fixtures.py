"""The committed .eml fixtures must match what fixtures/make_fixtures.py generates."""

from __future__ import annotations

import email
import email.policy
import importlib.util
import re
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest
from helpers.paths import ROOT as REPO
from helpers.paths import SEEDS

SCRIPT = REPO / "fixtures" / "make_fixtures.py"
COMMITTED = REPO / "fixtures" / "emails"
SEED = SEEDS / "000_a632d66ff9a6bfc0.txt"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while executing it
    spec.loader.exec_module(module)
    return module


def _expected_bodies(text: str) -> list[str]:
    """Cut the bodies out of the seed independently of the generator."""
    chunks = re.split(r"\n(?=From: traceback-notice@tracebacks.org\n)", text)[1:]
    header = re.compile(r"From: .*\n\n*To: .*\n\n*Date: .*\n\n*")
    bodies = []
    for chunk in chunks:
        match = header.match(chunk)
        assert match, chunk[:200]
        bodies.append(chunk[match.end() :].rstrip("\n") + "\n")
    return bodies


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The seeds are part of the test's input, as CI has them: missing is a failure, not a skip.
    assert SEED.is_file(), f"seed mailbox not found at {SEED} (expected ../shared/seeds/ beside the checkout)"
    out = tmp_path_factory.mktemp("emails")
    assert _load_generator().main([str(SEED), "--out", str(out)]) == 0
    return out


def _eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def test_generated_files_match_committed(generated: Path) -> None:
    files = _eml_files(generated)
    assert [p.name for p in files] == [f"{i:03d}.eml" for i in range(1, 310)]
    assert [p.name for p in _eml_files(COMMITTED)] == [p.name for p in files]
    drifted = [p.name for p in files if p.read_bytes() != (COMMITTED / p.name).read_bytes()]
    assert not drifted, f"fixtures/emails drifted from make_fixtures.py: {drifted[:10]}"


def test_message_ids_and_bodies(generated: Path) -> None:
    expected = _expected_bodies(SEED.read_text(encoding="utf-8"))
    files = _eml_files(generated)
    assert len(expected) == len(files) == 309

    message_ids = set()
    for path, body in zip(files, expected, strict=True):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for name in ("From", "To", "Date", "Subject", "Message-ID", "MIME-Version"):
            assert msg[name], f"{path.name}: missing {name}"
        assert isinstance(msg["Date"].datetime, datetime), path.name
        assert msg["Date"].datetime.utcoffset() is not None, path.name
        assert msg.get_content() == body, f"{path.name}: body differs from seed"
        message_ids.add(msg["Message-ID"])

    # Messages 6 and 7 are the same notice delivered twice.
    assert len(message_ids) == 308
