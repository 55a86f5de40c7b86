"""The workers' statements are planned for the tables as they are now (``db.WORKER_OPTIONS``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.conftest import BACKEND
from workers.runtime import make_context
from workstation.services.db import make_engine
from workstation.services.models import Notification

#: What psycopg prepared on a connection, and how PostgreSQL planned each execution since.
PREPARED = text(
    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FROM notifications%'"
)


def plans_after_runs(engine, runs: int) -> tuple[int, int]:  # noqa: ANN001
    """The generic and custom plans of a batch's look-up, run ``runs`` times on one connection."""
    statement = select(Notification.id).where(Notification.key.in_(["1:2:a", "1:3:b"]))
    with engine.connect() as connection:
        for _ in range(runs):
            connection.execute(statement).all()
        ((generic, custom),) = connection.execute(PREPARED).all()
    return generic, custom


def test_a_workers_statements_are_planned_each_time_while_the_web_apps_keep_a_generic_plan(config) -> None:  # noqa: ANN001
    """A generic plan made while a table was small (a sequential scan) was kept as the table grew,
    until an ANALYZE: 1 ms became 28 ms a batch within a minute of load. The workers' connections
    plan every execution afresh; the web app's keep psycopg's prepared plans."""
    if BACKEND != "services":
        pytest.skip("PostgreSQL's plans")
    ctx = make_context(config)
    worker_engine = ctx.sessions.kw["bind"]
    web_engine = make_engine(config.database_url)
    try:
        # psycopg prepares a statement run five times (here: the last 7 runs); PostgreSQL then
        # plans five for their parameters before it weighs a generic plan
        assert plans_after_runs(worker_engine, 12) == (0, 7)
        generic, _custom = plans_after_runs(web_engine, 12)
        assert generic > 0
    finally:
        for close in (ctx.sender.close, ctx.publisher.close, worker_engine.dispose, web_engine.dispose):
            close()
