"""Alembic environment: the database URL comes from the workstation's configuration."""

from __future__ import annotations

from alembic import context

from workstation.config import Config
from workstation.services.db import make_engine
from workstation.services.models import Base, UTCDateTime

url = context.config.attributes.get("database_url") or Config.from_env().database_url


def render_item(type_: str, obj, autogen_context):  # noqa: ANN001, ANN201
    """Write ``UTCDateTime`` columns as plain ``sa.DateTime(timezone=True)``: migrations stay
    independent of the model code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        # Batch mode lets later migrations alter columns on SQLite too.
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
