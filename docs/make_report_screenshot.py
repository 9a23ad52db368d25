"""Regenerate docs/report.png (and docs/report.pdf): a traceback's record for enforcement,
in a real headless browser.

The record is that of the simulated week's Apple traceback (`mailbot.testing.simulate`,
the scenario tests/scheduler/test_record.py checks: three hops down to the originator, Lata 1,
which the rules then designate Non-Cooperative), on a throwaway SQLite database, rendered
by `mailbot.archive.report` and photographed by Debian's chromium.

    .venv/bin/python docs/make_report_screenshot.py [--out docs/report.png] [--pdf docs/report.pdf]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

from mailbot.store.db import session_scope

from mailbot import config
from mailbot.app import App
from mailbot.archive import report
from mailbot.testing import simulate

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = 1  # the week's first: Apple-iCloud-AccountBreached


def render(work: Path) -> str:
    settings = config.load(
        None,
        f"sqlite:///{work / 'report.sqlite3'}",
        environ={
            "MAILBOT_OUTBOUND_MAILDIR": str(work / "outbox"),
            "MAILBOT_MAIL_SECRET": "docs",
            "MAILBOT_OPS_EMAIL": "ops@example.com",
        },
    )
    app = App(config=settings)
    simulate.run_week(app, step=timedelta(hours=1))
    with session_scope(app.engine) as session:
        return report.render_html([report.collect(session, TRACEBACK, app.now())])


def screenshot(html: str, work: Path, out: Path, size: str) -> None:
    page = work / "report.html"
    page.write_text(html, encoding="utf-8")
    subprocess.run(
        [
            report.browser(),
            *report.CHROMIUM_FLAGS,
            "--hide-scrollbars",
            f"--user-data-dir={work}/profile",
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
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--pdf", type=Path, default=None)
    parser.add_argument("--window-size", default="1150,1900")
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        html = render(Path(tmp))
        screenshot(html, Path(tmp), args.out.resolve(), args.window_size)
        if args.pdf:
            report.to_pdf(html, args.pdf)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
