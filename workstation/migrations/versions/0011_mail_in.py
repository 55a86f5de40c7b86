"""Mail in: every mail received (by its SHA-256), what became of it, and the quarantine

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('received_mail',
    sa.Column('id', BigId, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('received_at', Moment, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=20), server_default='', nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sender', sa.String(length=254), server_default='', nullable=False),
    sa.Column('recipient', sa.String(length=254), server_default='', nullable=False),
    sa.Column('subject', sa.String(length=300), server_default='', nullable=False),
    sa.Column('text', sa.Text(), server_default='', nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('case_id', BigId, nullable=True),
    sa.Column('user_id', BigId, nullable=True),
    sa.Column('case_message_id', BigId, nullable=True),
    sa.Column('handled_by', BigId, nullable=True),
    sa.Column('handled_at', Moment, nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_received_mail_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_received_mail_user_id_users')),
    sa.ForeignKeyConstraint(['case_message_id'], ['case_messages.id'],
                            name=op.f('fk_received_mail_case_message_id_case_messages')),
    sa.ForeignKeyConstraint(['handled_by'], ['users.id'], name=op.f('fk_received_mail_handled_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_mail')),
    sa.UniqueConstraint('sha256', name=op.f('uq_received_mail_sha256'))
    )
    with op.batch_alter_table('received_mail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_received_mail_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_received_mail_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_received_mail_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('received_mail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_received_mail_case_id'))
        batch_op.drop_index(batch_op.f('ix_received_mail_message_id'))
        batch_op.drop_index(batch_op.f('ix_received_mail_status'))
    op.drop_table('received_mail')
