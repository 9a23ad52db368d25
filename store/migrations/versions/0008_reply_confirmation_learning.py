"""reply confirmation and learning: hop.proposed, reply.confidence/proposed, the reply_example table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _missing(table: str, column: str) -> bool:
    # A database created from the models between migrations already has the column.
    return column not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    with op.batch_alter_table('hop', schema=None) as batch_op:
        if _missing('hop', 'proposed'):
            batch_op.add_column(sa.Column('proposed', sa.JSON(), nullable=True))
    with op.batch_alter_table('reply', schema=None) as batch_op:
        # Readings stored before this revision were applied as read: confidence 1.
        if _missing('reply', 'confidence'):
            batch_op.add_column(sa.Column('confidence', sa.Float(), server_default='1', nullable=False))
        if _missing('reply', 'proposed'):
            batch_op.add_column(sa.Column('proposed', sa.JSON(), nullable=True))
    if 'reply_example' not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            'reply_example',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('text', sa.String(), nullable=False),
            sa.Column('outcome', sa.String(length=16), nullable=False),
            sa.Column('upstream_name', sa.String(), nullable=True),
            sa.Column('upstream_email', sa.String(), nullable=True),
            sa.Column('customer_name', sa.String(), nullable=True),
            sa.Column('review_id', sa.Integer(), nullable=True),
            sa.Column('message_pk', sa.Integer(), nullable=True),
            sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
            sa.Column('in_model', sa.Boolean(), server_default=sa.false(), nullable=False),
            sa.ForeignKeyConstraint(['message_pk'], ['message.id']),
            sa.ForeignKeyConstraint(['review_id'], ['review.id']),
            sa.PrimaryKeyConstraint('id'),
        )


def downgrade() -> None:
    op.drop_table('reply_example')
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.drop_column('proposed')
        batch_op.drop_column('confidence')
    with op.batch_alter_table('hop', schema=None) as batch_op:
        batch_op.drop_column('proposed')
