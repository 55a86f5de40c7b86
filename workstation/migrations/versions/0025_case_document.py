"""Search (PostgreSQL): a case's messages in its own gram document. case_grams.grams holds the
grams of the case's text and of its messages (an internal note's marked with '!', which no gram
holds: an enterprise's search does not look for them), kept up to date by a trigger on
case_messages; recomputed here for the existing cases. A search of several words is then one GIN
query whose posting lists are intersected in the index (two common words rarely together: 1-2 s
when each word's cases were collected apart). SQLite: nothing (its search reads the messages).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

# The note marker is workstation.search_syntax.NOTE_MARK.
FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION rpa_noted(grams tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT array_to_tsvector(coalesce(array_agg('!' || lexeme), '{}'::text[]))
      FROM unnest(tsvector_to_array(grams)) AS lexeme
    $$""",
    """CREATE OR REPLACE FUNCTION rpa_case_grams(id bigint) RETURNS tsvector
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT rpa_search_grams(rpa_case_text(c.reference, c.title, c.description, c.parties, c.rights))
        || coalesce((SELECT rpa_search_grams(string_agg(m.body, E'\\n')) FROM case_messages AS m
                     WHERE m.case_id = c.id AND NOT m.internal), '')
        || coalesce((SELECT rpa_noted(rpa_search_grams(string_agg(m.body, E'\\n'))) FROM case_messages AS m
                     WHERE m.case_id = c.id AND m.internal), '')
      FROM cases AS c WHERE c.id = $1
    $$""",
    # The cases whose document matches: by the GIN index always (the planner, taking the words
    # for independent, guessed thousands of cases for two common words rarely together and read
    # every document instead: 0.4-0.6 s for none); a function with settings is not inlined.
    """CREATE OR REPLACE FUNCTION rpa_cases_holding(q tsquery) RETURNS SETOF bigint
    LANGUAGE sql STABLE PARALLEL SAFE ROWS 1000 SET enable_seqscan = off AS $$
      SELECT case_id FROM case_grams WHERE grams @@ q
    $$""",
    # A new message's grams are added to its case's document (a case without its row yet gets
    # them when the watch worker indexes it); a changed one (an erasure) recomputes the document.
    """CREATE OR REPLACE FUNCTION rpa_message_grams() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE case_grams SET grams = grams || CASE WHEN NEW.internal
          THEN rpa_noted(rpa_search_grams(coalesce(NEW.body, ''))) ELSE rpa_search_grams(coalesce(NEW.body, '')) END
        WHERE case_id = NEW.case_id;
      ELSE
        UPDATE case_grams SET grams = rpa_case_grams(NEW.case_id) WHERE case_id = NEW.case_id;
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER tr_case_messages_grams AFTER INSERT OR UPDATE OF body, internal ON case_messages
    FOR EACH ROW EXECUTE FUNCTION rpa_message_grams()""",
    # (The index built again after: cheaper than updating it a row at a time.)
    'DROP INDEX ix_case_grams_grams',
    'UPDATE case_grams SET grams = rpa_case_grams(case_id)',
    'CREATE INDEX ix_case_grams_grams ON case_grams USING gin (grams)',
)

# 0024's: the case's own text only.
REGRAM = (
    'UPDATE case_grams SET grams = rpa_search_grams(rpa_case_text(c.reference, c.title, c.description,'
    ' c.parties, c.rights)) FROM cases AS c WHERE c.id = case_grams.case_id'
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER IF EXISTS tr_case_messages_grams ON case_messages')
    op.execute('DROP FUNCTION IF EXISTS rpa_message_grams()')
    op.execute(REGRAM)
    op.execute('DROP FUNCTION IF EXISTS rpa_cases_holding(tsquery)')
    op.execute('DROP FUNCTION IF EXISTS rpa_case_grams(bigint)')
    op.execute('DROP FUNCTION IF EXISTS rpa_noted(tsvector)')
