"""Applying the Alembic migrations from code (``python -m workstation init-db``, ``run``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from workstation.services.db import make_engine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def schema_is_current(database_url: str) -> bool:
    """Whether the database is at the newest migration (False for one never set up)."""
    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
    finally:
        engine.dispose()


def ensure_schema(database_url: str) -> None:
    """Bring the embedded default's SQLite database up to date (it is this machine's own); a
    shared database is migrated on purpose, by ``init-db`` or the deployment's migrate step, so
    there a stale schema is an error that says what to run."""
    if database_url.startswith("sqlite"):
        upgrade(database_url)
    elif not schema_is_current(database_url):
        raise RuntimeError("the database schema is not up to date: run `python -m workstation init-db` first")
