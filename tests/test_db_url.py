"""``db.engine_url``: libpq's multi-host URL, which SQLAlchemy cannot parse, in the form it can."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from workstation.services.db import engine_url

pytestmark = pytest.mark.pure


def test_a_multi_host_url_reaches_libpq_as_its_hosts_and_ports() -> None:
    url = "postgresql+psycopg://postgres:secret@10.0.0.1:5441,10.0.0.2:5442/rpa?target_session_attrs=read-write"
    engine = create_engine(engine_url(url))
    _args, connect = engine.dialect.create_connect_args(engine.url)
    assert connect["host"] == "10.0.0.1,10.0.0.2" and connect["port"] == "5441,5442"
    assert connect["dbname"] == "rpa" and connect["user"] == "postgres" and connect["password"] == "secret"
    assert connect["target_session_attrs"] == "read-write"
    engine.dispose()


def test_other_urls_are_left_as_they_are() -> None:
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/rpa", "sqlite:////tmp/a,b.db", "sqlite://"):
        assert engine_url(url) == url
    assert engine_url("postgresql+psycopg://u@a,b/db") == "postgresql+psycopg://u@/db?host=a&host=b"
