"""Search: the grams are also every three consecutive characters (a text searched for picks far
fewer cases by its three-character pieces than by its pairs); on PostgreSQL rpa_search_grams
replaced, case_grams recomputed and the messages' index rebuilt; on SQLite an FTS5 table of the
cases' grams (case_fts, the grams written as hexadecimal tokens), filled for the existing cases

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

# workstation.search_syntax as it was when this migration was written (SEPARATOR_CLASS, grams,
# fts_document): the same class written the same way is PostgreSQL's regular expression.
SEPARATOR_CLASS = (
    r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00bf\u2000-\u206f\u3000-\u303f\ufe30-\ufe4f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)
SEPARATORS = re.compile(SEPARATOR_CLASS + "+")

# rpa_search_grams of migration 0012 (pairs: n = 2 only) and now (pairs and threes).
_GRAMS = """
CREATE OR REPLACE FUNCTION rpa_search_grams(doc text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 2000 AS $$
  SELECT array_to_tsvector(coalesce(array_agg(DISTINCT substr(run, i, n)), '{}'::text[]))
  FROM regexp_split_to_table(rpa_search_fold(doc), '%s+') AS run,
       generate_series(1, length(run)) AS i, (VALUES %s) AS w(n)
  WHERE run <> '' AND (n = 2 OR i + 2 <= length(run))
$$"""
PAIRS, PAIRS_AND_THREES = _GRAMS % (SEPARATOR_CLASS, "(2)"), _GRAMS % (SEPARATOR_CLASS, "(2), (3)")
REGRAM = (
    'UPDATE case_grams SET grams = rpa_search_grams(rpa_case_text(c.reference, c.title, c.description,'
    ' c.parties, c.rights)) FROM cases AS c WHERE c.id = case_grams.case_id'
)
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# services.search's _SQLITE_CASE_TEXT (a case's own text), as it was.
CASE_TEXT = (
    "coalesce(cases.reference, '') || char(10) || cases.title || char(10) || cases.description || char(10)"
    " || coalesce((SELECT group_concat(coalesce(json_extract(p.value, '$.name'), '') || ' '"
    " || coalesce(json_extract(p.value, '$.credit_code'), ''), char(10)) FROM json_each(cases.parties) AS p), '')"
    " || char(10) || coalesce((SELECT group_concat(coalesce(json_extract(r.value, '$.number'), '') || ' '"
    " || coalesce(json_extract(r.value, '$.mark_text'), ''), char(10)) FROM json_each(cases.rights) AS r), '')"
)


def _document(text: str) -> str:
    runs = [r for r in SEPARATORS.split(text.translate(_FOLD)) if r]
    grams = {run[i : i + 2] for run in runs for i in range(len(run))}
    grams |= {run[i : i + 3] for run in runs for i in range(len(run) - 2)}
    return " ".join(sorted("".join(f"{ord(c):06x}" for c in g) for g in grams))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        _regram(PAIRS_AND_THREES)
        return
    op.execute("CREATE VIRTUAL TABLE case_fts USING fts5(grams, tokenize='ascii', prefix='6')")
    rows = bind.execute(sa.text(f"SELECT id, {CASE_TEXT} FROM cases")).all()
    if rows:
        bind.execute(sa.text("INSERT INTO case_fts (rowid, grams) VALUES (:id, :grams)"),
                     [{"id": case_id, "grams": _document(text or "")} for case_id, text in rows])


def _regram(function: str) -> None:
    op.execute(function)
    op.execute(REGRAM)
    op.execute('REINDEX INDEX ix_case_messages_search')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _regram(PAIRS)
    else:
        op.execute('DROP TABLE IF EXISTS case_fts')
