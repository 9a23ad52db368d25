"""`mailbot import`'s progress bars (an mbox by bytes, a folder by messages; total, rate, ETA) and a
summary naming where each quarantined message came from. A real `mailbot import` process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers.mailbot_proc import MAILBOT, mailbot_env
from helpers.paths import SAMPLE
from tqdm import tqdm

FROM_LINE = b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n"


def _mbox(path: Path, raws: list[bytes]) -> list[int]:
    """An mbox of these messages; the offset of each one's From line."""
    offsets, data = [], b""
    for raw in raws:
        offsets.append(len(data))
        data += FROM_LINE + raw.rstrip(b"\n") + b"\n\n"
    path.write_bytes(data)
    return offsets


def test_bars_by_bytes_and_by_messages_and_the_quarantined_places(tmp_path: Path) -> None:
    eml = sorted(SAMPLE.glob("*.eml"))
    box = tmp_path / "archive.mbox"
    offsets = _mbox(box, [*(p.read_bytes() for p in eml[:3]), b"junk without any headers\n"])
    folder = tmp_path / "folder"
    folder.mkdir()
    for p in eml[3:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    done = subprocess.run(
        [*MAILBOT, "import", "--progress", "--batch-size", "2", str(box), str(folder)],
        cwd=tmp_path,
        env=mailbot_env(url),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    updates = [u.strip() for u in done.stderr.decode().replace("\r", "\n").splitlines() if u.strip()]
    size = box.stat().st_size
    mbox_bars = [u for u in updates if u.startswith(f"{box}:")]
    # By bytes, with the file's size as the total, a rate in B/s and an ETA once it moves.
    scaled = tqdm.format_sizeof(size, divisor=1024)  # e.g. 15.2k
    assert mbox_bars[-1].startswith(f"{box}: 100%") and f"{scaled}/{scaled}" in mbox_bars[-1]
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, .*B/s\]", mbox_bars[-1]), mbox_bars[-1]
    folder_bars = [u for u in updates if u.startswith(f"{folder}:")]
    assert folder_bars[-1].startswith(f"{folder}: 100%") and "2/2" in folder_bars[-1] and "msg/s" in folder_bars[-1]
    out = done.stdout.decode()
    assert "stored 6," in out
    # The junk at the mbox's last offset is quarantined, and the summary says where it is.
    [place] = [line for line in out.splitlines() if f"mbox {box}, offset" in line]
    assert f"mbox {box}, offset {offsets[3]}: " in place and "not an email" in place
