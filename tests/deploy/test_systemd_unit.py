"""deploy/mailbot.service is a unit systemd accepts, and a hardened one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.mailbot_proc import ROOT

UNIT = ROOT / "deploy" / "mailbot.service"
SHIPPED_MAILBOT = "/opt/mailbot/.venv/bin/mailbot"


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        reason = "systemd-analyze is not installed (Debian package systemd)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # verify checks that ExecStart exists: point it at this checkout's mailbot.
    text = UNIT.read_text()
    assert f"ExecStart={SHIPPED_MAILBOT} --config /etc/mailbot/config.toml serve" in text
    copy = tmp_path / "mailbot.service"
    copy.write_text(text.replace(SHIPPED_MAILBOT, str(Path(sys.executable).parent / "mailbot")))
    return copy


def test_systemd_analyze_verify_accepts_the_unit(unit: Path) -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "mailbot.service" in line] == [], done.stderr


def test_the_unit_is_hardened(unit: Path) -> None:
    # systemd's own exposure score, 0 (locked down) to 10; "OK" is below 4 (--threshold is score x 10).
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    text = UNIT.read_text()
    for setting in (
        "User=mailbot",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/mailbot",
        "Restart=on-failure",
        "NoNewPrivileges=true",
    ):
        assert setting in text
