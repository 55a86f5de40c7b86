"""Search on SQLite: an FTS5 table of the cases' grams (case_fts, the grams of
workstation.search_syntax written as hexadecimal tokens), filled here for the existing cases;
nothing on PostgreSQL (case_grams)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# workstation.search_syntax as it was when this migration was written (its fts_document).
SEPARATORS = re.compile(
    r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00bf\u2000-\u206f\u3000-\u303f\ufe30-\ufe4f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+"
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
    return " ".join(sorted("".join(f"{ord(c):06x}" for c in g) for g in grams))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    op.execute("CREATE VIRTUAL TABLE case_fts USING fts5(grams, tokenize='ascii', prefix='6')")
    rows = bind.execute(sa.text(f"SELECT id, {CASE_TEXT} FROM cases")).all()
    if rows:
        bind.execute(sa.text("INSERT INTO case_fts (rowid, grams) VALUES (:id, :grams)"),
                     [{"id": case_id, "grams": _document(text or "")} for case_id, text in rows])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TABLE IF EXISTS case_fts')
