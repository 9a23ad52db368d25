"""Where the checkout, its sample mailbox and the test PostgreSQL are."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "emails"
PG_ADMIN_URL = os.environ.get("MAILBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _seeds() -> Path:
    """`../shared/seeds/` beside the checkout (CI keeps a copy of shared/ beside its clone).

    A git worktree sits elsewhere, so its main checkout's neighbour counts too.
    """
    beside = ROOT.parent / "shared" / "seeds"
    if beside.is_dir():
        return beside
    common = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    main_checkout = Path(common).parent if common else ROOT
    return main_checkout.parent / "shared" / "seeds"


SEEDS = _seeds()
