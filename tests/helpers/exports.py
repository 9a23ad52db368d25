"""Reading a whole store back as its exports, to compare two stores."""

from __future__ import annotations


def exports_of(url: str) -> dict:
    """All exports of the store at `url` (see mailbot.export.all_exports)."""
    from mailbot.store.db import make_engine, session_scope

    from mailbot.archive.export import all_exports

    engine = make_engine(url)
    with session_scope(engine) as session:
        data = all_exports(session)
    engine.dispose()
    return data
