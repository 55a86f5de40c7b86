"""Search (PostgreSQL): a case's own grams are made by the watch worker in Python
(``search_syntax.tsvector``, the module ``rpa_search_grams`` mirrors) and only its messages' by
the database: ``rpa_case_message_grams``, which ``rpa_case_grams`` (an erased message's
recomputation) now uses too. Computing a case's grams in SQL cost PostgreSQL about 2 ms of CPU a
case, the most of anything a case costs it end to end; Python does it in a tenth of that.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

UPGRADE = (
    """CREATE OR REPLACE FUNCTION rpa_case_message_grams(id bigint) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT coalesce((SELECT rpa_search_grams(string_agg(m.body, E'\\n')) FROM case_messages AS m
                       WHERE m.case_id = $1 AND NOT m.internal), '')
        || coalesce((SELECT rpa_noted(rpa_search_grams(string_agg(m.body, E'\\n'))) FROM case_messages AS m
                     WHERE m.case_id = $1 AND m.internal), '')
    $$""",
    """CREATE OR REPLACE FUNCTION rpa_case_grams(id bigint) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT rpa_search_grams(rpa_case_text(c.reference, c.title, c.description, c.parties, c.rights))
        || rpa_case_message_grams(c.id)
      FROM cases AS c WHERE c.id = $1
    $$""",
)

# 0025's rpa_case_grams.
DOWNGRADE = (
    """CREATE OR REPLACE FUNCTION rpa_case_grams(id bigint) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT rpa_search_grams(rpa_case_text(c.reference, c.title, c.description, c.parties, c.rights))
        || coalesce((SELECT rpa_search_grams(string_agg(m.body, E'\\n')) FROM case_messages AS m
                     WHERE m.case_id = c.id AND NOT m.internal), '')
        || coalesce((SELECT rpa_noted(rpa_search_grams(string_agg(m.body, E'\\n'))) FROM case_messages AS m
                     WHERE m.case_id = c.id AND m.internal), '')
      FROM cases AS c WHERE c.id = $1
    $$""",
    'DROP FUNCTION IF EXISTS rpa_case_message_grams(bigint)',
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in DOWNGRADE:
        op.execute(statement)
