"""The database taken away: intake and the pages answer 503 with ``Retry-After`` (never a 500,
never a half-written case) while it is gone, and work again once it is back.

On clusters of the test's own (``tests/pgcluster.py``), never the machine's PostgreSQL, which the
rest of the suite shares. Services pass only (it is PostgreSQL's outage); under ``CI=true`` it runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests import pgcluster
from tests.conftest import BACKEND, CASE, IN_CI, People
from workstation.config import Config
from workstation.services.db import make_engine, make_session_factory
from workstation.services.migrate import upgrade
from workstation.services.models import Case
from workstation.web import create_app

pytestmark = pytest.mark.skipif(BACKEND != "services", reason="PostgreSQL's outage: the services pass")


@dataclass
class Deployment:
    """The app and its people on a database of the test's own."""

    app: Flask
    people: People
    sessions: Any

    def cases_titled(self, title: str) -> int:
        """How many cases have ``title``, on a connection of its own (the pool's may be dead)."""
        self.sessions.kw["bind"].dispose()
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(Case).where(Case.title == title))


def deploy(env: dict[str, str], database_url: str) -> Deployment:
    """A migrated database at ``database_url``, the app on it, an enterprise and a coordinator."""
    upgrade(database_url)
    config = Config.from_env({**env, "WORKSTATION_DATABASE_URL": database_url})
    app = create_app(config)
    app.config["TESTING"] = True
    sessions = make_session_factory(make_engine(config.database_url))
    people = People(sessions)
    people.add("enterprise", "enterprise", organisation="陕西星河科技有限公司")
    return Deployment(app, people, sessions)


@pytest.fixture
def own_cluster() -> Iterator[pgcluster.Cluster]:
    if not pgcluster.available():
        if IN_CI:
            pytest.fail("CI=true and no PostgreSQL server programs to make a cluster of the test's own")
        pytest.skip("no PostgreSQL server programs (initdb) on this machine")
    with pgcluster.single() as cluster:
        yield cluster


def log_in(client, who: str) -> None:  # noqa: ANN001
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"email": f"{who}@example.cn", "password": "password123",
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code in (302, 303)


def test_intake_and_pages_answer_503_while_the_database_is_down(env, own_cluster) -> None:  # noqa: ANN001
    deployment = deploy(env, own_cluster.url("workstation"))
    client, headers = deployment.app.test_client(), deployment.people.headers("enterprise")
    log_in(client, "enterprise")
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201  # (the pool holds it)
    down = {**CASE, "title": "submitted while the database is down"}

    own_cluster.kill()  # a crash: the pooled connections are dead, new ones refused
    for attempt in range(3):  # the pooled connection, then new ones: each a 503
        answer = client.post("/api/v1/cases", json=down, headers=headers)
        assert answer.status_code == 503, (attempt, answer.status_code, answer.get_data(as_text=True))
        assert answer.headers["Retry-After"] == "5"
        assert answer.get_json()["errors"]["_request"][0].startswith("The database is unavailable")
    multipart = client.post("/api/v1/cases", data={"case": '{"title": "x"}'}, headers=headers)
    assert multipart.status_code == 503  # (the checked path: the token's look-up)
    page = client.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "暂时无法使用" in page.text and "请稍后再试" in page.text
    english = client.get("/?lang=en")
    assert english.status_code == 503 and "Temporarily unavailable" in english.text

    own_cluster.start()
    assert deployment.cases_titled(down["title"]) == 0  # nothing half-written
    answer = client.post("/api/v1/cases", json=down, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    assert deployment.cases_titled(down["title"]) == 1
    assert client.get("/").status_code == 200  # the page's session, logged in still
    deployment.sessions.kw["bind"].dispose()


def test_a_polite_stop_and_a_restart(env, own_cluster) -> None:  # noqa: ANN001
    """``pg_ctl stop`` closes the pooled connections' sessions (the server says so): 503, then 201."""
    deployment = deploy(env, own_cluster.url("workstation"))
    client, headers = deployment.app.test_client(), deployment.people.headers("enterprise")
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    own_cluster.stop("immediate")
    started = time.monotonic()
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 503
    assert time.monotonic() - started < 2, "a refused connection is answered at once"
    own_cluster.start()
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    assert deployment.cases_titled(CASE["title"]) == 2
    deployment.sessions.kw["bind"].dispose()
