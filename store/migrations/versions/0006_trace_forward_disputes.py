"""trace_forward_disputes: Trace Forward (traceback.direction), Strike Exempt marks, disputes, provider language

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every traceback before this one walked upstream, and none was exempt.
    with op.batch_alter_table('traceback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direction', sa.String(length=8), server_default='back', nullable=False))
        batch_op.add_column(sa.Column('strike_exempt', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('exempt_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('exempt_note', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('exempt_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('provider', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    op.create_table(
        'dispute',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('traceback_id', sa.Integer(), nullable=False),
        sa.Column('hop_id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('message_pk', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('text', sa.String(), nullable=False),
        sa.Column('attachments', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_reason', sa.String(), nullable=True),
        sa.ForeignKeyConstraint(['traceback_id'], ['traceback.id']),
        sa.ForeignKeyConstraint(['hop_id'], ['hop.id']),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id']),
        sa.ForeignKeyConstraint(['message_pk'], ['message.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_dispute_traceback_id'), 'dispute', ['traceback_id'])
    op.create_index(op.f('ix_dispute_provider_id'), 'dispute', ['provider_id'])
    op.create_index(op.f('ix_dispute_status'), 'dispute', ['status'])


def downgrade() -> None:
    op.drop_index(op.f('ix_dispute_status'), table_name='dispute')
    op.drop_index(op.f('ix_dispute_provider_id'), table_name='dispute')
    op.drop_index(op.f('ix_dispute_traceback_id'), table_name='dispute')
    op.drop_table('dispute')
    with op.batch_alter_table('provider', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('traceback', schema=None) as batch_op:
        batch_op.drop_column('exempt_at')
        batch_op.drop_column('exempt_note')
        batch_op.drop_column('exempt_reason')
        batch_op.drop_column('strike_exempt')
        batch_op.drop_column('direction')
