"""What intake's hot path (``POST /api/v1/cases``, JSON, bearer token) no longer does on every
request, and that what it answers stayed the same (``benchmarks/intakecost.py`` measures it)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from tests.conftest import CASE
from tests.test_web import login
from workstation.web import session as web_session


@pytest.fixture
def serializers_built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every itsdangerous serializer Flask's session interface builds, from now on."""
    import flask.sessions

    built: list[object] = []
    real = flask.sessions.URLSafeTimedSerializer

    def counting(*args: Any, **kwargs: Any) -> object:
        serializer = real(*args, **kwargs)
        built.append(serializer)
        return serializer

    monkeypatch.setattr(flask.sessions, "URLSafeTimedSerializer", counting)
    return built


def test_an_api_request_builds_no_session_serializer(client, people, serializers_built) -> None:  # noqa: ANN001
    for _ in range(3):
        response = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
        assert response.status_code == 201
    assert serializers_built == []
    assert "Set-Cookie" not in response.headers


def test_the_session_serializer_is_built_once_for_pages(client, people, serializers_built) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    for _ in range(3):
        assert client.get("/cases/new").status_code == 200
    assert len(serializers_built) == 1


def test_a_new_secret_key_builds_a_new_serializer(app: Flask) -> None:
    sessions = app.session_interface
    first = sessions.get_signing_serializer(app)
    assert sessions.get_signing_serializer(app) is first
    app.secret_key = "another-secret-key"
    assert sessions.get_signing_serializer(app) is not first


def _headers_of_each(app: Flask, client, people) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """The headers (but the per-answer ones) of an API answer, a page without a session and a
    logged-in page, on ``app`` as it is."""
    answer = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    anonymous = client.get("/login")
    login(client, people.enterprise.email)
    logged_in = client.get("/cases/new")
    varying = {"Location", "Content-Length", "Set-Cookie", "Content-Security-Policy"}  # (its nonce)

    def kept(response) -> dict[str, Any]:  # noqa: ANN001
        headers = {k: v for k, v in response.headers.items() if k not in varying}
        return headers | {"sets a cookie": "Set-Cookie" in response.headers}

    return {"answer": kept(answer), "anonymous": kept(anonymous), "logged_in": kept(logged_in)}


def test_sessions_answer_as_flasks_own(app: Flask, people) -> None:  # noqa: ANN001
    assert isinstance(app.session_interface, web_session.CookieSessions)
    ours = _headers_of_each(app, app.test_client(), people)
    app.session_interface = SecureCookieSessionInterface()
    flasks = _headers_of_each(app, app.test_client(), people)
    assert ours == flasks
