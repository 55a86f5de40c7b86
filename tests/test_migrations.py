"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workstation.services.db import make_engine
from workstation.services.models import Base


def test_migrations_match_the_models(config) -> None:  # noqa: ANN001
    engine = make_engine(config.database_url)
    with engine.connect() as connection:
        # (SQLite's FTS5 table of the search, migration 0024, and its shadow tables: no model)
        fts = {"include_name": lambda name, kind, _parents: not (kind == "table" and name.startswith("case_fts"))}
        differences = compare_metadata(MigrationContext.configure(connection, opts=fts), Base.metadata)
    engine.dispose()
    assert differences == [], "run `alembic revision --autogenerate` for the model change"
