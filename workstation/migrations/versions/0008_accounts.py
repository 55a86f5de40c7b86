"""Accounts people run themselves: each user's preferences (language is a column already; the
notifications here), invitations (when one was last mailed), and enterprises registering
themselves (their approval, and the registration with its licence and the coordinator's decision).
Existing accounts are approved.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preferences', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('approval', sa.String(length=12), server_default='approved', nullable=False))
        batch_op.add_column(sa.Column('invited_at', Moment, nullable=True))

    op.create_table('registrations',
    sa.Column('id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('contact_person', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('licence_sha256', sa.String(length=64), nullable=True),
    sa.Column('licence_filename', sa.String(length=255), nullable=False),
    sa.Column('licence_content_type', sa.String(length=100), nullable=False),
    sa.Column('licence_size', sa.BigInteger(), nullable=True),
    sa.Column('created_at', Moment, nullable=False),
    sa.Column('verified_at', Moment, nullable=True),
    sa.Column('decided_at', Moment, nullable=True),
    sa.Column('decided_by', BigId, nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registrations_user_id_users')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_registrations_decided_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('user_id', name=op.f('uq_registrations_user_id'))
    )


def downgrade() -> None:
    op.drop_table('registrations')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('invited_at')
        batch_op.drop_column('approval')
        batch_op.drop_column('preferences')
