"""Difficult cases and their panel: a case's reason for being difficult, and the seats of the
further experts convened on it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('difficult_reason', sa.Text(), nullable=True))
    op.create_table(
        'panel_seats',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('expert_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('convened_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('convened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['expert_id'], ['users.id']),
        sa.ForeignKeyConstraint(['convened_by'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_panel_seats_case_id', 'panel_seats', ['case_id'], unique=False)
    op.create_index('ix_panel_seats_expert_id', 'panel_seats', ['expert_id'], unique=False)
    op.create_index('ix_panel_seats_sitting', 'panel_seats', ['expert_id'], unique=False,
                    postgresql_where=sa.text('released_at IS NULL'), sqlite_where=sa.text('released_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_panel_seats_sitting', table_name='panel_seats')
    op.drop_index('ix_panel_seats_expert_id', table_name='panel_seats')
    op.drop_index('ix_panel_seats_case_id', table_name='panel_seats')
    op.drop_table('panel_seats')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('difficult_reason')
