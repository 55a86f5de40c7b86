"""Webhooks: an integrator's URLs and the deliveries of events to them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Moment = sa.DateTime(timezone=True)
#: The events the new webhooks consumer takes. Those already in the outbox are recorded as handled
#: by it (there was no hook to tell), or the reconciler would hand it every old one now.
WEBHOOK_EVENTS = ('case.submitted', 'case.assigned', 'case.accepted', 'case.info_requested', 'case.opinion_issued',
                  'case.closed', 'case.withdrawn', 'case.reopened', 'case.message')


def upgrade() -> None:
    op.create_table('webhooks',
    sa.Column('id', BigId, nullable=False),
    sa.Column('owner_id', BigId, nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', Moment, nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('disabled_at', Moment, nullable=True),
    sa.Column('last_error', sa.String(length=500), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_webhooks_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks'))
    )
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhooks_owner_id'), ['owner_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', BigId, nullable=False),
    sa.Column('webhook_id', BigId, nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', Moment, nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('created_at', Moment, nullable=False),
    sa.Column('delivered_at', Moment, nullable=True),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_deliveries_webhook_id_webhooks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('webhook_id', 'event_id', name=op.f('uq_webhook_deliveries_webhook_id'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_status'), ['status'], unique=False)
    keys = ', '.join(f"'{key}'" for key in WEBHOOK_EVENTS)
    op.execute(
        "INSERT INTO handled_messages (consumer, message_id, outcome, handled_at)"
        f" SELECT 'webhooks', id, 'done', CURRENT_TIMESTAMP FROM outbox WHERE routing_key IN ({keys})"
    )


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_status'))
    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhooks_owner_id'))
    op.drop_table('webhooks')
    op.execute("DELETE FROM handled_messages WHERE consumer = 'webhooks'")
