"""sec2 senders and bounces: provider.require_dkim; outbox_recipient.bounced_at and bounce_status

Revision ID: 0007
Revises: 0006 (main's 0006_trace_forward_disputes.py, whose revision id is '0008')
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _missing(table: str, column: str) -> bool:
    # A database created from the models between migrations already has the column.
    return column not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Existing providers keep answering as before: DKIM alignment is required only where set.
    with op.batch_alter_table('provider', schema=None) as batch_op:
        if _missing('provider', 'require_dkim'):
            batch_op.add_column(sa.Column('require_dkim', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('outbox_recipient', schema=None) as batch_op:
        if _missing('outbox_recipient', 'bounced_at'):
            batch_op.add_column(sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=True))
        if _missing('outbox_recipient', 'bounce_status'):
            batch_op.add_column(sa.Column('bounce_status', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_recipient', schema=None) as batch_op:
        batch_op.drop_column('bounce_status')
        batch_op.drop_column('bounced_at')
    with op.batch_alter_table('provider', schema=None) as batch_op:
        batch_op.drop_column('require_dkim')
