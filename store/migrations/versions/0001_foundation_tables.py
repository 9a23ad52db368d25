"""foundation tables

Revision ID: 0001
Revises: (none: the tables as they were before migrations existed)
Create Date: 2026-11-22 14:30:08.028825
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaignname',
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('canonical', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('campaignname', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaignname_canonical'), ['canonical'], unique=False)

    op.create_table('incident',
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('campaign', sa.String(), nullable=True),
    sa.Column('call_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('called', sa.String(length=32), nullable=True),
    sa.Column('caller', sa.String(length=32), nullable=True),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sightings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('incident_id')
    )
    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('source_key', sa.String(length=512), nullable=False),
    sa.Column('message_key', sa.String(length=998), nullable=False),
    sa.Column('raw_sha256', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('sender', sa.String(), nullable=True),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('incident_ids', sa.JSON(), nullable=False),
    sa.Column('parsed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'source_key', name='uq_message_source')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_message_key'), ['message_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_status'), ['status'], unique=False)

    op.create_table('messagekey',
    sa.Column('message_key', sa.String(length=998), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('message_key')
    )
    op.create_table('metricsreport',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('organization', sa.String(), nullable=False),
    sa.Column('addressee', sa.String(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk')
    )
    op.create_table('reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('incident_ids', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('upstream_name', sa.String(), nullable=True),
    sa.Column('upstream_email', sa.String(), nullable=True),
    sa.Column('customer_name', sa.String(), nullable=True),
    sa.Column('evidence', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk')
    )
    op.create_table('sighting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('campaign', sa.String(), nullable=True),
    sa.Column('call_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('called', sa.String(length=32), nullable=True),
    sa.Column('caller', sa.String(length=32), nullable=True),
    sa.Column('description', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'message_pk', name='uq_sighting')
    )
    with op.batch_alter_table('sighting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sighting_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sighting_message_pk'), ['message_pk'], unique=False)

    op.create_table('staffcomment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(), nullable=False),
    sa.Column('organization', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk')
    )
    op.create_table('upstreamnotice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(), nullable=False),
    sa.Column('traceback_id', sa.String(length=32), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_pk')
    )
    with op.batch_alter_table('upstreamnotice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upstreamnotice_traceback_id'), ['traceback_id'], unique=False)

    op.create_table('metricsrow',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('table', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['metricsreport.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('metricsrow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metricsrow_report_id'), ['report_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('metricsrow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metricsrow_report_id'))

    op.drop_table('metricsrow')
    with op.batch_alter_table('upstreamnotice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upstreamnotice_traceback_id'))

    op.drop_table('upstreamnotice')
    op.drop_table('staffcomment')
    with op.batch_alter_table('sighting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sighting_message_pk'))
        batch_op.drop_index(batch_op.f('ix_sighting_incident_id'))

    op.drop_table('sighting')
    op.drop_table('reply')
    op.drop_table('metricsreport')
    op.drop_table('messagekey')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_status'))
        batch_op.drop_index(batch_op.f('ix_message_message_key'))
        batch_op.drop_index(batch_op.f('ix_message_kind'))

    op.drop_table('message')
    op.drop_table('incident')
    with op.batch_alter_table('campaignname', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaignname_canonical'))

    op.drop_table('campaignname')
