"""Status mail: the lines kept for a person's daily summary, and the summaries that gather them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
#: The events the notify worker now mails that it did not before. Those already in the outbox are
#: recorded as handled by it, or the reconciler would hand it every old one to mail now.
NEWLY_MAILED = ('case.accepted', 'case.declined', 'case.closed', 'case.withdrawn', 'case.reopened')


def upgrade() -> None:
    op.create_table('daily_summaries',
    sa.Column('id', ID, nullable=False),
    sa.Column('recipient_id', ID, nullable=False),
    sa.Column('period_key', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_daily_summaries_recipient_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_summaries')),
    sa.UniqueConstraint('recipient_id', 'period_key', name='uq_daily_summaries_recipient_period')
    )
    op.create_table('summary_lines',
    sa.Column('id', ID, nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('message_id', ID, nullable=False),
    sa.Column('recipient_id', ID, nullable=False),
    sa.Column('template', sa.String(length=60), nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary_id', ID, nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_summary_lines_case_id_cases')),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_summary_lines_recipient_id_users')),
    sa.ForeignKeyConstraint(['summary_id'], ['daily_summaries.id'],
                            name=op.f('fk_summary_lines_summary_id_daily_summaries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_lines')),
    sa.UniqueConstraint('key', name=op.f('uq_summary_lines_key'))
    )
    op.create_index(op.f('ix_summary_lines_message_id'), 'summary_lines', ['message_id'], unique=False)
    op.create_index(op.f('ix_summary_lines_summary_id'), 'summary_lines', ['summary_id'], unique=False)
    op.create_index('ix_summary_lines_waiting', 'summary_lines', ['recipient_id', 'summary_id', 'created_at'],
                    unique=False)
    keys = ', '.join(f"'{key}'" for key in NEWLY_MAILED)
    op.execute(
        "INSERT INTO handled_messages (consumer, message_id, outcome, handled_at)"
        f" SELECT 'notify', id, 'done', CURRENT_TIMESTAMP FROM outbox WHERE routing_key IN ({keys})"
        " AND id NOT IN (SELECT message_id FROM handled_messages WHERE consumer = 'notify')"
    )


def downgrade() -> None:
    op.drop_table('summary_lines')
    op.drop_table('daily_summaries')
