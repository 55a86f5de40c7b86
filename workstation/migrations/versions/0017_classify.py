"""Cases to classify: a case opened by mail is marked until a coordinator sets its right type and
service; the cases opened by mail so far are marked here

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('to_classify', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_cases_to_classify', 'cases', ['created_at'], unique=False,
                    postgresql_where=sa.text('to_classify'), sqlite_where=sa.text('to_classify'))
    # (no coordinator could classify them before this revision)
    op.execute("UPDATE cases SET to_classify = true WHERE id IN "
               "(SELECT case_id FROM received_mail WHERE status = 'opened' AND case_id IS NOT NULL)")


def downgrade() -> None:
    op.drop_index('ix_cases_to_classify', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('to_classify')
