"""message.disposition: the name of the desk rule that fired on a live message

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _missing(table: str, column: str) -> bool:
    # A database created from the models between migrations already has the column.
    return column not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Messages handled before this revision keep no disposition (NULL), as imported ones do.
    with op.batch_alter_table('message', schema=None) as batch_op:
        if _missing('message', 'disposition'):
            batch_op.add_column(sa.Column('disposition', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('disposition')
