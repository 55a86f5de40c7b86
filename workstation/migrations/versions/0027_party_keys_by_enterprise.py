"""Repeat respondents: each party key indexed with the enterprise, so that the other enterprises'
parties of a key are two ranges of the index and an enterprise's own earlier cases are never read
(the look-up read them all: a big enterprise naming one respondent in thousands of cases made every
new case's check read thousands of rows).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 12:20:00
"""

from __future__ import annotations

from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_case_parties_name_key_enterprise_id', 'case_parties', ['name_key', 'enterprise_id'])
    op.create_index('ix_case_parties_credit_code_enterprise_id', 'case_parties', ['credit_code', 'enterprise_id'])
    op.drop_index('ix_case_parties_name_key', table_name='case_parties')
    op.drop_index('ix_case_parties_credit_code', table_name='case_parties')


def downgrade() -> None:
    op.create_index('ix_case_parties_name_key', 'case_parties', ['name_key'])
    op.create_index('ix_case_parties_credit_code', 'case_parties', ['credit_code'])
    op.drop_index('ix_case_parties_credit_code_enterprise_id', table_name='case_parties')
    op.drop_index('ix_case_parties_name_key_enterprise_id', table_name='case_parties')
