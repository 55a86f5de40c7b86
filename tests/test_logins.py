"""Web logins: kept on the server, so a logout or an expiry ends every copy of the cookie; and
throttled per account and per client address, with unknown emails as slow to refuse as known ones."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.test_web import csrf_token, login
from workstation.services import auth
from workstation.services.models import LoginFailure, LoginSession, User, utcnow


def _cookie_copy(client) -> str:  # noqa: ANN001
    """The value of the client's session cookie (what a thief would copy)."""
    return client.get_cookie("session").value


def _client_with_cookie(app, cookie: str):  # noqa: ANN001, ANN201
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_cookie_copied_before_logout_is_refused_after_it(app, client, people) -> None:  # noqa: ANN001
    assert login(client, people.enterprise.email).status_code == 302
    stolen = _cookie_copy(client)
    assert _client_with_cookie(app, stolen).get("/cases/new").status_code == 200  # the copy works...
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    refused = _client_with_cookie(app, stolen).get("/cases/new")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")  # ...until logout


def test_the_session_row_keeps_only_a_hash_of_the_cookies_secret(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    with client.session_transaction() as cookie:
        secret = cookie["login"]
    with sessions() as s:
        row = s.scalars(select(LoginSession)).one()
    assert row.user_id == people.enterprise.id and row.ended_at is None
    assert secret not in row.secret_hash and len(row.secret_hash) == 64


def _age_the_login(sessions, **moved: timedelta) -> None:  # noqa: ANN001
    """Move the one login's clock back: ``created_at=`` and/or ``last_seen_at=`` by the given time."""
    with sessions.begin() as s:
        row = s.scalars(select(LoginSession)).one()
        s.execute(
            update(LoginSession)
            .where(LoginSession.id == row.id)
            .values({column: getattr(row, column) - by for column, by in moved.items()})
        )


@pytest.mark.parametrize(
    ("moved", "refused"),
    [
        ({"last_seen_at": timedelta(minutes=119)}, False),
        ({"last_seen_at": timedelta(minutes=121)}, True),  # idle longer than WORKSTATION_SESSION_IDLE_MINUTES
        ({"created_at": timedelta(hours=11, minutes=59)}, False),
        ({"created_at": timedelta(hours=12, minutes=1)}, True),  # older than WORKSTATION_SESSION_MAX_HOURS
    ],
)
def test_an_idle_or_too_old_login_is_refused(client, people, sessions, moved, refused) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    _age_the_login(sessions, **moved)
    response = client.get("/cases/new")
    assert (response.status_code == 302) is refused
    if refused:
        assert response.headers["Location"].startswith("/login")


def test_use_keeps_a_login_alive_writing_at_most_once_a_minute(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    _age_the_login(sessions, last_seen_at=timedelta(seconds=30))
    with sessions() as s:
        before = s.scalars(select(LoginSession)).one().last_seen_at
    client.get("/")
    with sessions() as s:
        assert s.scalars(select(LoginSession)).one().last_seen_at == before  # under a minute: not written
    _age_the_login(sessions, last_seen_at=timedelta(minutes=100))
    client.get("/")
    with sessions() as s:
        assert utcnow() - s.scalars(select(LoginSession)).one().last_seen_at < timedelta(seconds=10)


def test_a_deactivated_users_login_ends(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    with sessions.begin() as s:
        s.execute(update(User).where(User.id == people.enterprise.id).values(is_active=False))
    assert client.get("/cases/new").status_code == 302


# --- throttling ---------------------------------------------------------------------------------


def _attempt(client, email: str, password: str, address: str = "203.0.113.7"):  # noqa: ANN001, ANN201
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_the_sixth_attempt_on_an_account_is_429_even_with_the_right_password(client, people) -> None:  # noqa: ANN001
    for _ in range(5):
        assert _attempt(client, people.enterprise.email, "wrong-password").status_code == 401
    refused = _attempt(client, people.enterprise.email, "password123")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    # Another address does not help: the account is limited wherever the guesses come from.
    assert _attempt(client, people.enterprise.email, "password123", address="198.51.100.9").status_code == 429
    # Other accounts are not affected.
    assert _attempt(client, people.coordinator.email, "password123").status_code == 302


def test_the_address_limit_stops_guesses_spread_over_many_accounts(client, people) -> None:  # noqa: ANN001
    for n in range(20):
        assert _attempt(client, f"nobody{n}@example.cn", "wrong-password").status_code == 401
    refused = _attempt(client, people.enterprise.email, "password123")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _attempt(client, people.enterprise.email, "password123", address="198.51.100.9").status_code == 302


def test_a_success_forgives_the_account_and_the_limit_lifts_after_the_window(client, people, sessions) -> None:  # noqa: ANN001
    for _ in range(4):
        _attempt(client, people.enterprise.email, "wrong-password")
    assert _attempt(client, people.enterprise.email, "password123").status_code == 302
    with sessions() as s:
        keys = s.scalars(select(LoginFailure.key)).all()
    assert keys.count("address:203.0.113.7") == 4 and f"account:{people.enterprise.email}" not in keys
    for _ in range(5):
        _attempt(client, people.enterprise.email, "wrong-password")
    assert _attempt(client, people.enterprise.email, "password123").status_code == 429
    with sessions.begin() as s:  # 15 minutes later
        for failure in s.scalars(select(LoginFailure)):
            failure.at -= timedelta(minutes=15)
    assert _attempt(client, people.enterprise.email, "password123").status_code == 302
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 0  # expired rows are dropped


def test_an_unknown_email_takes_as_long_to_refuse_as_a_known_one(client, people, monkeypatch) -> None:  # noqa: ANN001
    from tests.conftest import PRODUCTION_HASHER

    monkeypatch.setattr(auth, "_hasher", PRODUCTION_HASHER)  # the real cost: the difference to hide
    people.add("real", "enterprise")  # hashed at the real cost

    def median_seconds(email: str, address: str) -> float:
        times = []
        for _ in range(3):  # under both limits
            started = time.perf_counter()
            assert _attempt(client, email, "wrong-password", address=address).status_code == 401
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known = median_seconds(people.real.email, "203.0.113.1")
    unknown = median_seconds("nobody@example.cn", "203.0.113.2")
    assert 1 / 3 < known / unknown < 3, (known, unknown)
