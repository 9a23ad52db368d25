"""Regenerate docs/digest.png: the daily digest as ops see it, in a real headless browser.

The digest is built from the sample mailbox's import plus the simulated week of
tracebacks (`scheduler.simulate`, the same scenario tests/scheduler/test_digest.py checks), on a
throwaway SQLite database, rendered to HTML (chart embedded) and photographed by
Debian's chromium (`apt-get install -y chromium`).

    .venv/bin/python docs/make_digest_screenshot.py [--out docs/digest.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.scheduler import digest  # noqa: E402
from mailbot.store.db import session_scope  # noqa: E402

from mailbot import config  # noqa: E402
from mailbot.app import build_app  # noqa: E402
from mailbot.testing import simulate  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def render(work: Path) -> Path:
    settings = config.load(
        None,
        f"sqlite:///{work / 'digest.sqlite3'}",
        environ={
            "MAILBOT_OUTBOUND_MAILDIR": str(work / "outbox"),
            "MAILBOT_MAIL_SECRET": "docs",
            "MAILBOT_OPS_EMAIL": "ops@example.com",
        },
    )
    app = build_app(settings)
    simulate.import_mailbox(app, [ROOT / "fixtures" / "emails", simulate.write_broken_mail(work / "broken")])
    simulate.run_week(app, step=timedelta(hours=1))
    with session_scope(app.engine) as session:
        html = digest.preview_html(digest.for_app(app, session, simulate.DIGEST_AT))
    page = work / "digest.html"
    page.write_text(html, encoding="utf-8")
    return page


def screenshot(page: Path, out: Path, size: str) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={size}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digest.png")
    parser.add_argument("--window-size", default="1000,1450")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = render(Path(tmp))
        screenshot(page, args.out.resolve(), args.window_size)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
