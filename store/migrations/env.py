"""Alembic environment: run on the connection store.schema hands over.

There is no alembic.ini: store/schema.py builds the configuration in code and
passes an open connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from typing import Any, Literal

import mailbot.store.tables  # noqa: F401 - registers every table, so the metadata is complete
from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations say plain sa.String, so they never depend on SQLModel's own types.
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
