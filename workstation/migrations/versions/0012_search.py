"""Search: on PostgreSQL, character-gram indexes of the cases' text and of the messages
(workstation.search_syntax says why grams and how they are cut); nothing on SQLite, where a
search reads the text itself

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# workstation.search_syntax.SEPARATOR_CLASS, as it was when this migration was written (a later
# change of that class needs a migration that replaces the function and rebuilds the indexes).
SEPARATORS = (
    r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00bf\u2000-\u206f\u3000-\u303f\ufe30-\ufe4f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)

FUNCTIONS = [
    # A-Z folded to a-z and nothing else: what the search compares (search_syntax.fold). lower()
    # in the C collation changes ASCII letters only, and is ten times faster than translate().
    """
CREATE OR REPLACE FUNCTION rpa_search_fold(doc text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT lower(doc COLLATE "C")
$$""",
    # search_syntax.grams: each run's two-character pieces and its last character
    f"""
CREATE OR REPLACE FUNCTION rpa_search_grams(doc text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 2000 AS $$
  SELECT array_to_tsvector(coalesce(array_agg(DISTINCT substr(run, i, 2)), '{{}}'::text[]))
  FROM regexp_split_to_table(rpa_search_fold(doc), '{SEPARATORS}+') AS run,
       generate_series(1, length(run)) AS i
  WHERE run <> ''
$$""",
    # the text of a case that a search reads (COST: reading it costs about 100 us a case, which the
    # planner must know to check it on the few rows the grams select rather than on every case) (its enterprise, expert and messages are elsewhere)
    """
CREATE OR REPLACE FUNCTION rpa_case_text(reference text, title text, description text, parties json, rights json)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 2000 AS $$
  SELECT coalesce(reference, '') || E'\\n' || coalesce(title, '') || E'\\n' || coalesce(description, '') || E'\\n'
    || coalesce(CASE WHEN json_typeof(parties) = 'array' THEN
         (SELECT string_agg(coalesce(p->>'name', '') || ' ' || coalesce(p->>'credit_code', ''), E'\\n')
          FROM json_array_elements(parties) AS p WHERE json_typeof(p) = 'object') END, '') || E'\\n'
    || coalesce(CASE WHEN json_typeof(rights) = 'array' THEN
         (SELECT string_agg(coalesce(r->>'number', '') || ' ' || coalesce(r->>'mark_text', ''), E'\\n')
          FROM json_array_elements(rights) AS r WHERE json_typeof(r) = 'object') END, '')
$$""",
]

INDEXES = [
    'CREATE INDEX ix_cases_search ON cases USING gin '
    '(rpa_search_grams(rpa_case_text(reference, title, description, parties, rights)))',
    'CREATE INDEX ix_case_messages_search ON case_messages USING gin (rpa_search_grams(body))',
]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in FUNCTIONS + INDEXES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX IF EXISTS ix_case_messages_search')
    op.execute('DROP INDEX IF EXISTS ix_cases_search')
    op.execute('DROP FUNCTION IF EXISTS rpa_case_text(text, text, text, json, json)')
    op.execute('DROP FUNCTION IF EXISTS rpa_search_grams(text)')
    op.execute('DROP FUNCTION IF EXISTS rpa_search_fold(text)')
