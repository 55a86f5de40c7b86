"""Search: a case's grams in a table of their own, written by the watch worker after the
submission, instead of an expression index computed in the submission's statement (a third of
intake's throughput); existing cases filled in here

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

CASE_GRAMS = 'rpa_search_grams(rpa_case_text(reference, title, description, parties, rights))'


def upgrade() -> None:
    op.create_table('case_grams',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grams', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_grams_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_grams'))
    )
    op.create_index('ix_case_grams_grams', 'case_grams', ['grams'], unique=False, postgresql_using='gin')
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f'INSERT INTO case_grams (case_id, grams) SELECT id, {CASE_GRAMS} FROM cases')
    op.execute('DROP INDEX IF EXISTS ix_cases_search')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'CREATE INDEX ix_cases_search ON cases USING gin ({CASE_GRAMS})')
    op.drop_table('case_grams')
