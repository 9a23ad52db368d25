"""Fixtures of the security suite (issue 12): a desk per test, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .security_desk import Desk


@pytest.fixture
def make_desk(db_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Desk] = []

    def make(nofile: int | None = None, dkim_keys: dict[str, str] | None = None, **settings: str) -> Desk:
        desk = Desk(db_url, tmp_path, nofile, dkim_keys, **settings)
        made.append(desk)
        return desk.start()

    yield make
    for desk in made:
        if desk.server is not None and hasattr(desk.server, "proc"):
            desk.server.close()


@pytest.fixture
def desk(make_desk: Any) -> Desk:
    return make_desk()
