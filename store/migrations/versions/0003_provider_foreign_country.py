"""provider.foreign and provider.country: hop labels (U.S. Point of Entry, Foreign Point of Departure)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:36:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _missing(table: str, column: str) -> bool:
    # A database created from the models between migrations already has the column.
    return column not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Existing providers are domestic until the directory says otherwise.
    with op.batch_alter_table('provider', schema=None) as batch_op:
        if _missing('provider', 'foreign'):
            batch_op.add_column(sa.Column('foreign', sa.Boolean(), server_default=sa.false(), nullable=False))
        if _missing('provider', 'country'):
            batch_op.add_column(sa.Column('country', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('provider', schema=None) as batch_op:
        batch_op.drop_column('country')
        batch_op.drop_column('foreign')
