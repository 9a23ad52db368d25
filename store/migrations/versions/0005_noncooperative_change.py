"""noncooperative_change: Non-Cooperative Voice Service Provider designations and removals

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'noncooperative_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('findings', sa.JSON(), nullable=False),
        sa.Column('traceback_ids', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_noncooperative_change_provider_id'), 'noncooperative_change', ['provider_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_noncooperative_change_provider_id'), table_name='noncooperative_change')
    op.drop_table('noncooperative_change')
