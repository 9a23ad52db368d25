"""desk, outbox, scheduler and IMAP intake tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:08:59.875646
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _new(table: str) -> bool:
    # A database created from the models between migrations already has this table
    # (it was stamped at the revision before this one): keep it, and its rows.
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _new('imap_checkpoint'):
        op.create_table('imap_checkpoint',
        sa.Column('mailbox', sa.String(length=1024), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('mailbox')
        )

    if _new('outbox_message'):
        op.create_table('outbox_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('traceback_id', sa.Integer(), nullable=True),
        sa.Column('hop_id', sa.Integer(), nullable=True),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('sender', sa.String(length=512), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('subject', sa.String(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
        sa.UniqueConstraint('message_id')
        )
        with op.batch_alter_table('outbox_message', schema=None) as batch_op:
            batch_op.create_index('ix_outbox_message_due', ['status', 'next_attempt_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_outbox_message_hop_id'), ['hop_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_outbox_message_kind'), ['kind'], unique=False)
            batch_op.create_index(batch_op.f('ix_outbox_message_traceback_id'), ['traceback_id'], unique=False)

    if _new('provider'):
        op.create_table('provider',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=256), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('known', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name')
        )

    if _new('scheduleclaim'):
        op.create_table('scheduleclaim',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('key')
        )

    if _new('traceback'):
        op.create_table('traceback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('result', sa.String(length=16), nullable=True),
        sa.Column('campaign', sa.String(), nullable=False),
        sa.Column('call_time', sa.DateTime(timezone=True), nullable=True),
        sa.Column('called', sa.String(length=32), nullable=True),
        sa.Column('caller', sa.String(length=32), nullable=True),
        sa.Column('description', sa.String(), nullable=True),
        sa.Column('incident_id', sa.String(length=32), nullable=True),
        sa.Column('origin_customer', sa.String(), nullable=True),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('traceback', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_traceback_status'), ['status'], unique=False)

    if _new('hop'):
        op.create_table('hop',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('traceback_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('downstream_hop_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('evidence', sa.String(), nullable=True),
        sa.Column('upstream_name', sa.String(), nullable=True),
        sa.Column('upstream_email', sa.String(), nullable=True),
        sa.Column('customer_name', sa.String(), nullable=True),
        sa.Column('reply_message_pk', sa.Integer(), nullable=True),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next_reminder_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reminders_sent', sa.Integer(), nullable=False),
        sa.Column('clarifications_sent', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['downstream_hop_id'], ['hop.id'], ),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.ForeignKeyConstraint(['reply_message_pk'], ['message.id'], ),
        sa.ForeignKeyConstraint(['traceback_id'], ['traceback.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('traceback_id', 'position', name='uq_hop_position')
        )
        with op.batch_alter_table('hop', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_hop_provider_id'), ['provider_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_hop_traceback_id'), ['traceback_id'], unique=False)

    if _new('outbox_recipient'):
        op.create_table('outbox_recipient',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox_message.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('outbox_recipient', schema=None) as batch_op:
            batch_op.create_index('ix_outbox_recipient_address_sent', ['address', 'sent_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_outbox_recipient_outbox_id'), ['outbox_id'], unique=False)

    if _new('provideralias'):
        op.create_table('provideralias',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('alias', sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider_id', 'alias', name='uq_provider_alias')
        )
        with op.batch_alter_table('provideralias', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_provideralias_provider_id'), ['provider_id'], unique=False)

    if _new('providercontact'):
        op.create_table('providercontact',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('undeliverable', sa.Boolean(), nullable=False),
        sa.Column('undeliverable_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider_id', 'address', name='uq_provider_contact')
        )
        with op.batch_alter_table('providercontact', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_providercontact_address'), ['address'], unique=False)
            batch_op.create_index(batch_op.f('ix_providercontact_provider_id'), ['provider_id'], unique=False)

    if _new('providerdomain'):
        op.create_table('providerdomain',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('domain', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('domain')
        )
        with op.batch_alter_table('providerdomain', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_providerdomain_provider_id'), ['provider_id'], unique=False)

    if _new('statuschange'):
        op.create_table('statuschange',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('old_status', sa.String(length=8), nullable=False),
        sa.Column('new_status', sa.String(length=8), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.String(), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('statuschange', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_statuschange_provider_id'), ['provider_id'], unique=False)

    if _new('hopmessage'):
        op.create_table('hopmessage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('hop_id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('message_id', sa.String(length=998), nullable=True),
        sa.Column('message_pk', sa.Integer(), nullable=True),
        sa.Column('address', sa.String(length=320), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['hop_id'], ['hop.id'], ),
        sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('hopmessage', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_hopmessage_hop_id'), ['hop_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_hopmessage_message_id'), ['message_id'], unique=False)

    if _new('review'):
        op.create_table('review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('traceback_id', sa.Integer(), nullable=True),
        sa.Column('hop_id', sa.Integer(), nullable=True),
        sa.Column('provider_id', sa.Integer(), nullable=True),
        sa.Column('message_pk', sa.Integer(), nullable=True),
        sa.Column('detail', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved', sa.Boolean(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['hop_id'], ['hop.id'], ),
        sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id'], ),
        sa.ForeignKeyConstraint(['traceback_id'], ['traceback.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('review', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_review_kind'), ['kind'], unique=False)
            batch_op.create_index(batch_op.f('ix_review_resolved'), ['resolved'], unique=False)
            batch_op.create_index(batch_op.f('ix_review_traceback_id'), ['traceback_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_traceback_id'))
        batch_op.drop_index(batch_op.f('ix_review_resolved'))
        batch_op.drop_index(batch_op.f('ix_review_kind'))

    op.drop_table('review')
    with op.batch_alter_table('hopmessage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hopmessage_message_id'))
        batch_op.drop_index(batch_op.f('ix_hopmessage_hop_id'))

    op.drop_table('hopmessage')
    with op.batch_alter_table('statuschange', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statuschange_provider_id'))

    op.drop_table('statuschange')
    with op.batch_alter_table('providerdomain', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_providerdomain_provider_id'))

    op.drop_table('providerdomain')
    with op.batch_alter_table('providercontact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_providercontact_provider_id'))
        batch_op.drop_index(batch_op.f('ix_providercontact_address'))

    op.drop_table('providercontact')
    with op.batch_alter_table('provideralias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provideralias_provider_id'))

    op.drop_table('provideralias')
    with op.batch_alter_table('outbox_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_recipient_outbox_id'))
        batch_op.drop_index('ix_outbox_recipient_address_sent')

    op.drop_table('outbox_recipient')
    with op.batch_alter_table('hop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hop_traceback_id'))
        batch_op.drop_index(batch_op.f('ix_hop_provider_id'))

    op.drop_table('hop')
    with op.batch_alter_table('traceback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_traceback_status'))

    op.drop_table('traceback')
    op.drop_table('scheduleclaim')
    op.drop_table('provider')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_traceback_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_kind'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_hop_id'))
        batch_op.drop_index('ix_outbox_message_due')

    op.drop_table('outbox_message')
    op.drop_table('imap_checkpoint')
