"""Passwords: changed on /account (the other logins end), reset by a mailed single-use link (every
login ends); /password/forgot never tells whether an email has an account; both are audited."""

from __future__ import annotations

import email
import re
import time
from email.header import decode_header, make_header

from itsdangerous.timed import TimestampSigner
from sqlalchemy import select

from tests.conftest import wait_for
from tests.test_web import csrf_token, login
from workstation.services.models import AdminAudit, User


def _post(client, path: str, **fields: str):  # noqa: ANN001, ANN201
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={**fields, "csrf_token": token})


def _audit(sessions, action: str) -> list[AdminAudit]:  # noqa: ANN001
    with sessions() as s:
        return s.scalars(select(AdminAudit).where(AdminAudit.action == action)).all()


def test_changing_the_password_ends_the_other_logins_and_keeps_this_one(app, client, people, sessions) -> None:  # noqa: ANN001
    elsewhere = app.test_client()
    login(elsewhere, people.enterprise.email)
    login(client, people.enterprise.email)
    response = _post(client, "/account", current_password="password123", new_password="a-new-password")
    assert response.status_code == 303
    assert client.get("/cases/new").status_code == 200  # this login goes on
    assert elsewhere.get("/cases/new").status_code == 302  # the other one has ended
    assert login(app.test_client(), people.enterprise.email, "password123").status_code == 401
    assert login(app.test_client(), people.enterprise.email, "a-new-password").status_code == 302
    [row] = _audit(sessions, "password_changed")
    assert (row.actor_id, row.subject_id, row.detail["sessions_ended"]) == (people.enterprise.id,) * 2 + (1,)


def test_a_password_change_needs_the_current_password_a_long_enough_new_one_and_the_csrf_token(
    client, people, sessions
) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    wrong = _post(client, "/account", current_password="not-it", new_password="a-new-password")
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    short = _post(client, "/account", current_password="password123", new_password="short")
    assert short.status_code == 400 and 'id="new_password-error"' in short.get_data(as_text=True)
    assert "password123" not in short.get_data(as_text=True)  # passwords are not written back
    no_csrf = client.post("/account", data={"current_password": "password123", "new_password": "a-new-password"})
    assert no_csrf.status_code == 400
    assert _audit(sessions, "password_changed") == []
    assert login(client, people.enterprise.email, "password123").status_code == 302  # unchanged


def _reset_mails(config) -> list[email.message.Message]:  # noqa: ANN001
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(config.mail_dir.glob("password-reset_*.eml"))]


def _link_in(message: email.message.Message) -> str:
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    return re.search(r"http://testserver(/password/reset/\S+)", text).group(1)


def test_forgot_password_answers_the_same_for_unknown_and_known_emails(client, people, config) -> None:  # noqa: ANN001
    unknown = _post(client, "/password/forgot", email="nobody@example.cn")
    known = _post(client, "/password/forgot", email=people.other_enterprise.email)
    assert (unknown.status_code, unknown.headers["Location"]) == (known.status_code, known.headers["Location"])
    assert unknown.get_data() == known.get_data()
    [mail] = wait_for(lambda: _reset_mails(config), message="the reset mail")
    assert people.other_enterprise.email in mail["To"] and _subject(mail) == "Reset your workstation password"
    time.sleep(0.3)
    assert len(_reset_mails(config)) == 1  # nothing for the unknown email


def test_a_reset_link_sets_the_password_once_and_ends_every_login(app, client, people, sessions, config) -> None:  # noqa: ANN001
    logged_in = app.test_client()
    login(logged_in, people.enterprise.email)
    _post(client, "/password/forgot", email=people.enterprise.email)
    [mail] = wait_for(lambda: _reset_mails(config), message="the reset mail")
    assert "60 分钟内" in _text(mail)  # the recipient's language, the configured lifetime
    link = _link_in(mail)
    assert client.get(link).status_code == 200
    too_short = _post(client, link, new_password="short")
    assert too_short.status_code == 400 and 'id="new_password-error"' in too_short.get_data(as_text=True)
    response = _post(client, link, new_password="chosen-anew")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert logged_in.get("/cases/new").status_code == 302  # every login has ended
    assert login(app.test_client(), people.enterprise.email, "chosen-anew").status_code == 302
    used = client.get(link)
    assert used.status_code == 400 and "该链接已过期或已被使用" in used.get_data(as_text=True)
    [row] = _audit(sessions, "password_reset")
    assert row.subject_id == people.enterprise.id and row.detail["sessions_ended"] == 1


def _subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _text(message: email.message.Message) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()


def test_a_reset_link_expires_after_an_hour(client, people, config, monkeypatch) -> None:  # noqa: ANN001
    _post(client, "/password/forgot", email=people.enterprise.email)
    link = _link_in(wait_for(lambda: _reset_mails(config), message="the reset mail")[0])
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 59 * 60)
    assert client.get(link).status_code == 200
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 61 * 60)
    assert client.get(link).status_code == 400
    assert _post(client, "/password/forgot", email="x@example.cn").status_code == 303
    response = client.post(link, data={"new_password": "chosen-anew", "csrf_token": "whatever"})
    assert response.status_code == 400


def test_the_reset_link_names_the_configured_site_not_the_requests_host(client, people, config) -> None:  # noqa: ANN001
    evil = {"base_url": "http://evil.example"}  # the request's Host header
    token = csrf_token(client.get("/password/forgot", **evil).get_data(as_text=True))
    response = client.post("/password/forgot", data={"email": people.enterprise.email, "csrf_token": token}, **evil)
    assert response.status_code == 303
    [mail] = wait_for(lambda: _reset_mails(config), message="the reset mail")
    assert "evil.example" not in _text(mail) and "http://testserver/password/reset/" in _text(mail)


def test_a_tampered_reset_token_is_refused(client, people, sessions) -> None:  # noqa: ANN001
    from workstation.services.passwords import reset_token

    with sessions() as s:
        user = s.get(User, people.enterprise.id)
    token = reset_token(client.application.extensions["workstation"]["config"], user)
    assert client.get(f"/password/reset/{token}").status_code == 200
    assert client.get(f"/password/reset/{token[:-2]}xx").status_code == 400


def test_reset_requests_are_throttled_so_nobody_s_inbox_can_be_flooded(client, people, config) -> None:  # noqa: ANN001
    from tests.test_web import csrf_token

    token = csrf_token(client.get("/password/forgot").get_data(as_text=True))
    asked = [client.post("/password/forgot", data={"email": people.enterprise.email, "csrf_token": token})
             for _ in range(4)]  # fmt: skip
    assert [r.status_code for r in asked] == [303, 303, 303, 429]
    assert int(asked[-1].headers["Retry-After"]) > 0
    # Counted apart from logins: the account can still log in.
    from tests.test_web import login

    assert login(client, people.enterprise.email).status_code == 302
