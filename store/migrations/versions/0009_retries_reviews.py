"""sec1: processing retries on message; pending changes and grouping on review

message.failures / message.retry_at: how often processing a stored message raised, and
when it may be tried again (a poison message waits its backoff; the others go on).
review.proposal: a change a person must accept before it applies (a contact for a provider).
review.sender / review.count: reviews from one sender of one kind on one day are one row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _missing(table: str, column: str) -> bool:
    # A database created from the models between migrations already has the column.
    return column not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        if _missing('message', 'failures'):
            batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        if _missing('message', 'retry_at'):
            batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('review', schema=None) as batch_op:
        if _missing('review', 'proposal'):
            batch_op.add_column(sa.Column('proposal', sa.JSON(), nullable=True))
        if _missing('review', 'sender'):
            batch_op.add_column(sa.Column('sender', sa.String(length=320), nullable=True))
            batch_op.create_index(batch_op.f('ix_review_sender'), ['sender'])
        if _missing('review', 'count'):
            batch_op.add_column(sa.Column('count', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_sender'))
        batch_op.drop_column('count')
        batch_op.drop_column('sender')
        batch_op.drop_column('proposal')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('retry_at')
        batch_op.drop_column('failures')
