"""API tokens: one policy on every path (revoked, expired, an inactive holder: 401, nothing
written), their last use recorded at most once a minute, and making, listing and revoking them
through the API, the settings page and the audit log."""

from __future__ import annotations

import io
import json
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import CASE
from tests.test_api import PDF, counts
from tests.test_web import csrf_token, login
from workstation.config import Config
from workstation.services.auth import token_hash
from workstation.services.models import AdminAudit, ApiToken, User, utcnow
from workstation.web import create_app


def _stored_token(sessions, user_id: int, **columns) -> tuple[int, str]:  # noqa: ANN001
    """A token written as a row (the columns the schema has, whatever makes them): (id, token)."""
    token = secrets.token_urlsafe(32)
    with sessions.begin() as s:
        record = ApiToken(user_id=user_id, token_hash=token_hash(token), **columns)
        s.add(record)
        s.flush()
        return record.id, token


def _token_row(sessions, token_id: int) -> ApiToken:  # noqa: ANN001
    with sessions() as s:
        return s.get(ApiToken, token_id)


def _unusable_token(kind: str, sessions, people) -> tuple[int, str]:  # noqa: ANN001
    now = utcnow()
    if kind == "expired":
        return _stored_token(sessions, people.enterprise.id, expires_at=now - timedelta(seconds=1))
    if kind == "revoked":
        return _stored_token(sessions, people.enterprise.id, expires_at=now + timedelta(days=1), revoked_at=now)
    gone = people.add("gone", "enterprise")  # the holder's account deactivated
    token_id, token = _stored_token(sessions, gone.id, expires_at=now + timedelta(days=1))
    with sessions.begin() as s:
        s.get(User, gone.id).is_active = False
    return token_id, token


@pytest.mark.parametrize("kind", ["expired", "revoked", "inactive_holder"])
def test_every_path_refuses_an_unusable_token_and_writes_nothing(client, people, sessions, submit, kind) -> None:  # noqa: ANN001
    reference = submit()["reference"]
    token_id, token = _unusable_token(kind, sessions, people)
    before = counts(sessions)
    headers = {"Authorization": f"Bearer {token}"}
    multipart = {"case": json.dumps(CASE), "evidence": (io.BytesIO(PDF), "proof.pdf")}
    answers = {
        # on PostgreSQL the one statement that checks the token and writes the case
        "json intake": client.post("/api/v1/cases", json=CASE, headers=headers),
        "multipart intake": client.post(
            "/api/v1/cases", data=multipart, content_type="multipart/form-data", headers=headers
        ),
        "case": client.get(f"/api/v1/cases/{reference}", headers=headers),
        "queue": client.get("/api/v1/queue", headers=headers),
        "tokens": client.get("/api/v1/tokens", headers=headers),
        "me": client.get("/api/v1/me", headers=headers),
    }
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(answers, 401)
    assert counts(sessions) == before
    assert _token_row(sessions, token_id).last_used_at is None


def test_the_last_use_is_recorded_at_most_once_a_minute_on_every_path(client, people, sessions) -> None:  # noqa: ANN001
    token_id, token = _stored_token(sessions, people.enterprise.id, expires_at=utcnow() + timedelta(days=1))
    headers = {"Authorization": f"Bearer {token}"}
    assert _token_row(sessions, token_id).last_used_at is None
    started = utcnow()
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    first = _token_row(sessions, token_id).last_used_at
    assert first is not None and first >= started - timedelta(seconds=1)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    assert _token_row(sessions, token_id).last_used_at == first  # within the minute: not written again
    for request in (
        lambda: client.get("/api/v1/me", headers=headers),
        lambda: client.post("/api/v1/cases", json=CASE, headers=headers),
    ):
        long_ago = utcnow() - timedelta(minutes=2)
        with sessions.begin() as s:
            s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=long_ago))
        assert request().status_code in (200, 201)
        assert _token_row(sessions, token_id).last_used_at > long_ago + timedelta(minutes=1)


def _audit(sessions, *token_ids: int) -> list[tuple]:  # noqa: ANN001
    """(action, actor, holder, token) of the audit rows about ``token_ids``, oldest first."""
    with sessions() as s:
        rows = s.scalars(select(AdminAudit).order_by(AdminAudit.id)).all()
        rows = [(a.action, a.actor_id, a.subject_id, a.detail["token_id"]) for a in rows]
    return [row for row in rows if row[3] in token_ids]


def test_a_token_is_made_shown_once_listed_without_it_and_revoked(client, people, sessions) -> None:  # noqa: ANN001
    mine = people.headers("enterprise")
    made = client.post("/api/v1/tokens", json={"name": " CI upload ", "expires_in_days": 30}, headers=mine)
    assert made.status_code == 201
    body = made.get_json()
    assert set(body) == {"id", "name", "token", "expires_at"} and body["name"] == "CI upload"
    record = _token_row(sessions, body["id"])
    assert timedelta(days=30) - timedelta(minutes=1) < record.expires_at - utcnow() <= timedelta(days=30)
    new = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/me", headers=new).get_json()["email"] == people.enterprise.email
    listed = client.get("/api/v1/tokens", headers=new)
    assert body["token"] not in listed.get_data(as_text=True)
    entry = next(t for t in listed.get_json()["tokens"] if t["id"] == body["id"])
    assert entry["name"] == "CI upload" and entry["revoked"] is False and entry["last_used_at"] is not None
    assert set(entry) == {"id", "name", "created_at", "expires_at", "last_used_at", "revoked"}
    # someone else's token does not exist for an enterprise; a coordinator may end anyone's
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=people.headers("other_enterprise")).status_code == 404
    assert client.get("/api/v1/me", headers=new).status_code == 200
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=mine).status_code == 204
    assert client.get("/api/v1/me", headers=new).status_code == 401
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=mine).status_code == 204  # already: no change
    enterprise, coordinator = people.enterprise.id, people.coordinator.id
    other = client.post("/api/v1/tokens", json={"name": "other"}, headers=mine).get_json()
    default_days = _token_row(sessions, other["id"]).expires_at - utcnow()
    assert timedelta(days=89) < default_days <= timedelta(days=90)
    assert client.delete(f"/api/v1/tokens/{other['id']}", headers=people.headers("coordinator")).status_code == 204
    assert _audit(sessions, body["id"], other["id"]) == [
        ("token_created", enterprise, enterprise, body["id"]),
        ("token_revoked", enterprise, enterprise, body["id"]),
        ("token_created", enterprise, enterprise, other["id"]),
        ("token_revoked", coordinator, enterprise, other["id"]),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "expires_in_days": 30}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"expires_in_days": 30}, "name"),
        ({"name": "ci", "expires_in_days": 366}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": "30"}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": True}, "expires_in_days"),
    ],
)
def test_a_bad_token_request_is_a_400_naming_the_field(client, people, sessions, body, field) -> None:  # noqa: ANN001
    response = client.post("/api/v1/tokens", json=body, headers=people.headers("enterprise"))
    assert response.status_code == 400 and list(response.get_json()["errors"]) == [field]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 3  # the people's own


def test_the_longest_lifetime_is_configured_and_the_document_says_so(env, people) -> None:  # noqa: ANN001
    app = create_app(Config.from_env({**env, "WORKSTATION_TOKEN_DAYS": "7", "WORKSTATION_TOKEN_MAX_DAYS": "30"}))
    client = app.test_client()
    try:
        document = client.get("/api/v1/openapi.json").get_json()
        asked = document["paths"]["/api/v1/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert asked["properties"]["expires_in_days"]["maximum"] == 30
        headers = people.headers("enterprise")
        assert (
            client.post("/api/v1/tokens", json={"name": "a", "expires_in_days": 31}, headers=headers).status_code == 400
        )
        made = client.post("/api/v1/tokens", json={"name": "a"}, headers=headers).get_json()
        with app.extensions["workstation"]["sessions"]() as s:
            lifetime = s.get(ApiToken, made["id"]).expires_at - utcnow()
        assert timedelta(days=6) < lifetime <= timedelta(days=7)
    finally:
        app.extensions["workstation"]["engine"].dispose()
    with pytest.raises(ValueError, match="TOKEN_DAYS"):
        Config.from_env({**env, "WORKSTATION_TOKEN_DAYS": "400"})


def test_the_tokens_page_makes_a_token_shows_it_once_and_revokes_it(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert "API 令牌" in page  # Chinese, the enterprise's language
    made = client.post(
        "/settings/tokens", data={"name": "报送脚本", "expires_in_days": "10", "csrf_token": csrf_token(page)}
    )
    shown = made.get_data(as_text=True)
    assert made.status_code == 200
    with sessions() as s:
        record = s.scalars(select(ApiToken).where(ApiToken.name == "报送脚本")).one()
    token = shown.split('id="new-token"')[1].split("<code>")[1].split("</code>")[0]
    assert token_hash(token) == record.token_hash
    again = client.get("/settings/tokens").get_data(as_text=True)
    assert token not in again and "报送脚本" in again
    bad = client.post("/settings/tokens", data={"name": "x", "expires_in_days": "999", "csrf_token": csrf_token(again)})
    assert bad.status_code == 400
    assert client.post(f"/settings/tokens/{record.id}/revoke").status_code == 400  # no CSRF token: refused
    revoked = client.post(f"/settings/tokens/{record.id}/revoke", data={"csrf_token": csrf_token(again)})
    assert revoked.status_code == 303
    assert _token_row(sessions, record.id).revoked_at is not None
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_coordinator_sees_and_revokes_anyone_s_token_on_the_page_and_others_cannot(client, people, sessions) -> None:  # noqa: ANN001
    token_id, _ = _stored_token(
        sessions, people.other_enterprise.id, name="ERP-上传", expires_at=utcnow() + timedelta(1)
    )
    login(client, people.enterprise.email)
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert "ERP-上传" not in page
    refused = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    login(client, people.coordinator.email)
    page = client.get("/settings/tokens?lang=en").get_data(as_text=True)
    assert "ERP-上传" in page and people.other_enterprise.email in page
    done = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303 and _token_row(sessions, token_id).revoked_at is not None
    assert _audit(sessions, token_id) == [
        ("token_revoked", people.coordinator.id, people.other_enterprise.id, token_id)
    ]
