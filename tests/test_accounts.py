"""Accounts people run themselves (issue 17): preferences on /account and /api/v1/me, invitations
(by a coordinator, and for every expert a CSV import creates, once), and enterprises registering
themselves: a checked sign-up, a confirmed email, then a coordinator's approval before any case."""

from __future__ import annotations

import email
import io
import re
from datetime import date
from email.header import decode_header, make_header

import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import func, select

from tests.conftest import CASE
from tests.test_api import PDF
from tests.test_web import FORM, csrf_token, login
from workers import notify
from workers.delivery import deliver
from workers.runtime import make_context
from workstation.services.accounts import wants_email
from workstation.services.auth import NO_PASSWORD, create_token, create_user
from workstation.services.models import AdminAudit, Case, OutboxMessage, Registration, User
from workstation.services.pool import run_import
from workstation.vocabulary import credit_code_check_character

# --- helpers -------------------------------------------------------------------------------------


def code(first_17: str) -> str:
    """A unified social credit code with the right check character."""
    return first_17 + credit_code_check_character(first_17)


GOOD_CODE = code("91610131MA6TX8K2P")
#: The same code with a wrong check character.
WRONG_CODE = GOOD_CODE[:-1] + ("0" if GOOD_CODE[-1] != "0" else "1")


def _post(client, path: str, data: dict | None = None, page: str | None = None, **kwargs):  # noqa: ANN001, ANN003, ANN201
    token = csrf_token(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def _audit(sessions, action: str) -> list[AdminAudit]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(AdminAudit).where(AdminAudit.action == action).order_by(AdminAudit.id)))


def _user(sessions, email_address: str) -> User | None:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(User).where(User.email == email_address))


def _account_events(sessions) -> list[OutboxMessage]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == "account.mail")))


def send_mail(config, sessions, routing_key: str = "account.mail") -> list[str]:  # noqa: ANN001
    """Hand the outbox's events to the notify worker's handler, in this process: what was done."""
    ctx = make_context(config)
    with sessions() as s:
        events = list(s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == routing_key)))
    outcomes = [
        deliver(
            ctx, notify.CONSUMER, notify.handle, e.payload, {"message_id": e.id, "type": e.routing_key}, e.routing_key
        )
        for e in events
    ]
    ctx.sessions.kw["bind"].dispose()
    return outcomes


def mails(config, template: str) -> list[email.message.Message]:  # noqa: ANN001
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(config.mail_dir.glob(f"*_{template}.eml"))]


def subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def text(message: email.message.Message) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()


def link_in(message: email.message.Message, path: str) -> str:
    return re.search(rf"http://testserver({path}\S+)", text(message)).group(1)


# --- preferences ---------------------------------------------------------------------------------


def test_preferences_are_read_and_changed_through_the_api(client, people) -> None:  # noqa: ANN001
    headers = people.headers("enterprise")
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["language"] == "zh" and me["approval"] == "approved"
    assert me["notifications"] == dict.fromkeys(
        ("case_updates", "notices", "digest", "requests_for_information", "legal_deadlines", "opinions"), "immediately"
    )
    changed = client.patch(
        "/api/v1/me",
        json={"name": " 星河科技 ", "language": "en", "notifications": {"notices": "off", "digest": "daily"}},
        headers=headers,
    )
    assert changed.status_code == 200, changed.get_json()
    assert client.get("/api/v1/me", headers=headers).get_json() == changed.get_json()
    body = changed.get_json()
    assert (body["name"], body["language"]) == ("星河科技", "en")
    assert (body["notifications"]["notices"], body["notifications"]["digest"]) == ("off", "daily")
    assert body["notifications"]["case_updates"] == "immediately"  # kinds not named keep their setting


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notifications": {"legal_deadlines": "off"}}, "notifications"),
        ({"notifications": {"requests_for_information": "off", "notices": "off"}}, "notifications"),
        ({"notifications": {"opinions": "off"}}, "notifications"),
        ({"notifications": {"legal_deadlines": "daily"}}, "notifications"),  # (never kept back for the evening)
        ({"notifications": {"newsletter": "off"}}, "notifications"),
        ({"notifications": {"notices": "weekly"}}, "notifications"),
        ({"language": "fr"}, "language"),
        ({"name": "  "}, "name"),
        ({"email": "new@example.cn"}, "email"),
    ],
)
def test_the_api_refuses_turning_off_what_cannot_be_and_bad_preferences(client, people, body, field) -> None:  # noqa: ANN001
    headers = people.headers("enterprise")
    response = client.patch("/api/v1/me", json=body, headers=headers)
    assert response.status_code == 400 and list(response.get_json()["errors"]) == [field]
    if body.get("notifications", {}).get("legal_deadlines") == "off":
        assert response.get_json()["errors"][field] == ["legal_deadlines cannot be turned off."]
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert set(me["notifications"].values()) == {"immediately"} and me["language"] == "zh"  # nothing changed


def test_preferences_are_set_on_the_account_page(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    page = client.get("/account").get_data(as_text=True)
    assert "补充材料请求、法定期限和意见书总会发送邮件，不能关闭。" in page
    # the mandatory kinds offer no "off"
    legal = re.search(r'<select id="legal_deadlines".*?</select>', page, re.S).group(0)
    assert 'value="off"' not in legal and 'value="daily"' not in legal, "always mailed as it happens"
    form = {"name": "星河", "language": "en", "case_updates": "off", "notices": "daily", "digest": "immediately",
            "legal_deadlines": "immediately"}  # fmt: skip
    response = _post(client, "/account/preferences", form, page="/account")
    assert response.status_code == 303
    with sessions() as s:
        user = s.get(User, people.enterprise.id)
        assert user.language == "en" and user.preferences["notifications"]["case_updates"] == "off"
    assert "Your preferences are saved." in client.get("/account").get_data(as_text=True)  # now in English
    forged = _post(client, "/account/preferences", {**form, "opinions": "off"}, page="/account")
    assert forged.status_code == 400 and "opinions cannot be turned off." in forged.get_data(as_text=True)


def test_the_notify_worker_leaves_out_the_emails_of_a_kind_turned_off(client, people, sessions, config) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert")
    client.patch("/api/v1/me", json={"notifications": {"case_updates": "off"}}, headers=people.headers("enterprise"))
    reference = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise")).get_json()["reference"]
    moved = client.post(
        f"/api/v1/cases/{reference}/transitions",
        json={"action": "reassign", "expert_id": expert.id},
        headers=people.headers("coordinator"),
    )
    assert moved.status_code == 200
    assert send_mail(config, sessions, "case.assigned") == ["done"]
    assert len(mails(config, "expert_case_assigned")) == 1
    assert mails(config, "enterprise_case_assigned") == []  # turned off
    # what cannot be turned off is mailed whatever is stored
    with sessions() as s:
        user = s.get(User, people.enterprise.id)
        user.preferences = {"notifications": {"opinions": "off", "legal_deadlines": "off", "notices": "off"}}
        assert wants_email(user, "enterprise_opinion_issued", {})
        assert wants_email(user, "enterprise_info_requested", {})
        assert wants_email(user, "deadline_notice", {"notice": {"kind": "legal"}})
        assert not wants_email(user, "deadline_notice", {"notice": {"kind": "sla"}})
        assert not wants_email(user, "lookalike_notice", {})


# --- invitations ---------------------------------------------------------------------------------


def test_a_coordinator_invites_an_expert_whose_link_sets_the_password_once(
    app, client, people, sessions, config
) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    form = {"role": "expert", "email": "Invited@Example.cn", "name": "Dr Li", "language": "en",
            "right_types": ["patent", "trademark"]}  # fmt: skip
    response = _post(client, "/coordinator/invitations", form)
    assert response.status_code == 303
    invited = _user(sessions, "invited@example.cn")
    assert invited.password_hash == NO_PASSWORD and invited.invited_at is not None
    assert login(app.test_client(), "invited@example.cn", "anything-at-all").status_code == 401
    [audit] = _audit(sessions, "user_invited")
    assert (audit.actor_id, audit.subject_id, audit.detail["via"]) == (people.coordinator.id, invited.id, "page")
    assert "invited@example.cn" in client.get("/coordinator/invitations").get_data(as_text=True)  # waiting

    assert send_mail(config, sessions) == ["done"]
    [mail] = mails(config, "invitation")
    assert subject(mail) == "You are invited to the IP rights-protection workstation"  # the language chosen
    assert "within 7 days" in text(mail)
    link = link_in(mail, "/invitation/")

    invitee = app.test_client()
    assert invitee.get(link).status_code == 200
    short = _post(invitee, link, {"new_password": "short"})
    assert short.status_code == 400 and 'id="new_password-error"' in short.get_data(as_text=True)
    accepted = _post(invitee, link, {"new_password": "my-own-password"})
    assert accepted.status_code == 303
    assert invitee.get("/queue").status_code == 200  # logged in
    used = invitee.get(link)
    assert used.status_code == 400
    assert _post(app.test_client(), link, {"new_password": "someone-else"}, page="/login").status_code == 400
    assert login(app.test_client(), "invited@example.cn", "my-own-password").status_code == 302
    assert len(_audit(sessions, "invitation_accepted")) == 1
    assert "invited@example.cn" not in client.get("/coordinator/invitations").get_data(as_text=True)
    # the mail of an invitation accepted before it was sent says nothing
    with sessions.begin() as s:
        from workstation.services.accounts import invite

        invite(s, s.get(User, invited.id), people.coordinator.id, "page")
    send_mail(config, sessions)
    assert len(mails(config, "invitation")) == 1


def test_an_invitation_link_expires_and_a_tampered_one_is_refused(app, people, sessions, config, monkeypatch) -> None:  # noqa: ANN001
    from workstation.services.accounts import invitation_token

    with sessions.begin() as s:
        user = create_user(s, "late@example.cn", None, "enterprise", name="迟到公司")
    token = invitation_token(config, user)
    client = app.test_client()
    assert client.get(f"/invitation/{token}").status_code == 200
    assert client.get(f"/invitation/{token[:-2]}xx").status_code == 400
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 8 * 86400)
    assert client.get(f"/invitation/{token}").status_code == 400


def test_only_coordinators_invite_and_decide_registrations(client, people) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    for path in ("/coordinator/invitations", "/coordinator/registrations"):
        assert client.get(path).status_code == 403
    for path in ("/coordinator/registrations/1/decision", "/coordinator/invitations"):
        assert _post(client, path, {"decision": "approve", "role": "expert"}, page="/account").status_code == 403


def test_an_invitation_needs_a_role_and_for_an_expert_a_right_type(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    for form, field in (
        ({"role": "coordinator", "email": "c@example.cn", "language": "zh"}, "role"),
        ({"role": "expert", "email": "e@example.cn", "language": "zh"}, "right_types"),
        ({"role": "enterprise", "email": "x@example.cn", "language": "zh", "credit_code": WRONG_CODE}, "credit_code"),
    ):
        response = _post(client, "/coordinator/invitations", form)
        assert response.status_code == 400 and f'id="{field}-error"' in response.get_data(as_text=True), field
    assert _audit(sessions, "user_invited") == []


def test_a_csv_import_invites_each_new_expert_once(client, people, sessions, config) -> None:  # noqa: ANN001
    csv = "email,right_types,name,language\na@example.cn,patent,甲,zh\nb@example.cn,trademark,B,en\n"

    def import_it() -> None:
        response = client.post(
            "/api/v1/experts/imports", data=csv, headers={**people.headers("coordinator"), "Content-Type": "text/csv"}
        )
        run_import(sessions, response.get_json()["id"], date.today())

    import_it()
    assert send_mail(config, sessions) == ["done", "done"]
    invitations = mails(config, "invitation")
    assert {subject(m) for m in invitations} == {
        "You are invited to the IP rights-protection workstation",
        "邀请您使用知识产权维权援助工作站",
    }  # each in the expert's own language
    # one accepts; then the same file again: nobody is invited again, accepted or not
    link = link_in(next(m for m in invitations if "a@example.cn" in m["To"]), "/invitation/")
    assert _post(client, link, {"new_password": "expert-a-pass"}).status_code == 303
    import_it()
    assert len(_account_events(sessions)) == 2
    send_mail(config, sessions)
    assert len(mails(config, "invitation")) == 2
    audits = _audit(sessions, "user_invited")
    assert len(audits) == 2 and {a.detail["via"] for a in audits} == {"import"}
    assert {a.actor_id for a in audits} == {people.coordinator.id}


# --- enterprises registering themselves ---------------------------------------------------------

REGISTRATION = {
    "company": "陕西新锐材料有限公司",
    "credit_code": GOOD_CODE,
    "contact_person": "王经理",
    "email": "wang@xinrui.example.cn",
    "phone": "+86 29-8888 0000",
    "password": "register-pass",
    "language": "zh",
}


def _register(client, **changes: object):  # noqa: ANN001, ANN202
    data = {**REGISTRATION, **changes}
    licence = data.pop("licence", None)
    if licence is not None:
        data["licence"] = (io.BytesIO(licence[1]), licence[0])
    return _post(client, "/register", data, content_type="multipart/form-data")


def _count(sessions, model) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_registration_with_a_bad_check_character_or_a_taken_code_is_refused(client, people, sessions) -> None:  # noqa: ANN001
    users = _count(sessions, User)
    wrong = WRONG_CODE
    bad = _register(client, credit_code=wrong)
    assert bad.status_code == 400 and 'id="credit_code-error"' in bad.get_data(as_text=True)
    with sessions.begin() as s:
        create_user(s, "first@example.cn", "password123", "enterprise", credit_code=GOOD_CODE)
    taken = _register(client)
    assert taken.status_code == 400 and 'id="credit_code-error"' in taken.get_data(as_text=True)
    page = taken.get_data(as_text=True)
    assert "register-pass" not in page  # the password is not written back
    english = _register(client, credit_code=wrong, phone="call me")
    assert english.status_code == 400 and 'id="phone-error"' in english.get_data(as_text=True)
    assert _count(sessions, User) == users + 1 and _count(sessions, Registration) == 0
    # the messages say what is wrong
    from workstation.services.schemas import CREDIT_CODE_CHECK, CREDIT_CODE_TAKEN

    en = client.application.test_client()
    en_page = _post(en, "/register?lang=en", {**REGISTRATION, "credit_code": wrong}, page="/register?lang=en")
    assert CREDIT_CODE_CHECK.replace("'", "&#39;") in en_page.get_data(as_text=True)
    en_page = _post(en, "/register?lang=en", REGISTRATION, page="/register?lang=en")
    assert CREDIT_CODE_TAKEN in en_page.get_data(as_text=True)


def test_a_licence_goes_through_the_evidence_checks(client, sessions) -> None:  # noqa: ANN001
    response = _register(client, licence=("licence.pdf", b"MZ\x90\x00 not a pdf at all"))
    assert response.status_code == 400 and 'id="licence-error"' in response.get_data(as_text=True)
    assert _count(sessions, Registration) == 0


def test_an_enterprise_registers_confirms_waits_and_submits_once_approved(
    app, client, people, sessions, config
) -> None:  # noqa: ANN001
    done = _register(client, licence=("营业执照.pdf", PDF))
    assert done.status_code == 200 and "wang@xinrui.example.cn" in done.get_data(as_text=True)
    user = _user(sessions, "wang@xinrui.example.cn")
    assert (user.approval, user.role, user.credit_code, user.name) == ("unverified", "enterprise", GOOD_CODE,
                                                                       "陕西新锐材料有限公司")  # fmt: skip
    with sessions.begin() as s:
        token = create_token(s, s.get(User, user.id))
    api = {"Authorization": f"Bearer {token}"}

    # before the email is confirmed: logs in, waits, cannot submit (page and API)
    enterprise = app.test_client()
    assert login(enterprise, user.email, "register-pass").status_code == 302
    assert enterprise.get("/").headers["Location"].endswith("/register/waiting")
    assert "请先通过我们发送的链接确认邮箱" in enterprise.get("/register/waiting").get_data(as_text=True)
    refused = enterprise.get("/cases/new")
    assert refused.status_code == 403 and "请先通过我们发送的链接确认邮箱" in refused.get_data(as_text=True)
    answer = client.post("/api/v1/cases", json=CASE, headers=api)
    assert answer.status_code == 403 and "confirm your email" in answer.get_json()["errors"]["_request"][0]

    assert send_mail(config, sessions) == ["done"]
    [mail] = mails(config, "confirm_email")
    assert subject(mail) == "请确认您在工作站使用的邮箱"
    link = link_in(mail, "/register/confirm/")
    assert client.get(link).status_code == 200
    assert _user(sessions, user.email).approval == "unverified"  # opening the link alone confirms nothing
    assert _post(client, link).status_code == 303
    assert _user(sessions, user.email).approval == "pending"
    assert client.get(link).status_code == 400  # once

    # confirmed, not approved: still no case
    refused = enterprise.post(
        "/cases/new", data={**FORM, "csrf_token": csrf_token(enterprise.get("/account").get_data(as_text=True))}
    )
    assert refused.status_code == 403 and "正在等待协调员审核" in refused.get_data(as_text=True)
    answer = client.post("/api/v1/cases", json=CASE, headers=api)
    assert (
        answer.status_code == 403
        and "waiting for a coordinator's approval" in answer.get_json()["errors"]["_request"][0]
    )
    multipart = client.post("/api/v1/cases", data={"case": '{"title": "x"}'}, headers=api,
                            content_type="multipart/form-data")  # fmt: skip
    assert multipart.status_code == 403
    assert _count(sessions, Case) == 0

    # the coordinator sees it, with its licence, and approves it
    coordinator = app.test_client()
    login(coordinator, people.coordinator.email)
    listing = coordinator.get("/coordinator/registrations").get_data(as_text=True)
    assert "陕西新锐材料有限公司" in listing and "王经理" in listing and "营业执照.pdf" in listing
    with sessions() as s:
        registration = s.scalar(select(Registration).where(Registration.user_id == user.id))
    assert coordinator.get(f"/coordinator/registrations/{registration.id}/licence").data == PDF
    approved = _post(coordinator, f"/coordinator/registrations/{registration.id}/decision", {"decision": "approve"},
                     page="/coordinator/registrations")  # fmt: skip
    assert approved.status_code == 303
    [audit] = _audit(sessions, "registration_approved")
    assert (audit.actor_id, audit.subject_id) == (people.coordinator.id, user.id)
    send_mail(config, sessions)
    [approval_mail] = mails(config, "registration_approved")
    assert subject(approval_mail) == "您的注册已获批准"
    again = _post(coordinator, f"/coordinator/registrations/{registration.id}/decision", {"decision": "refuse",
                  "reason": "too late"}, page="/coordinator/registrations")  # fmt: skip
    assert again.status_code == 303 and _audit(sessions, "registration_refused") == []  # decided already

    # now it submits, both ways
    assert client.post("/api/v1/cases", json=CASE, headers=api).status_code == 201
    assert enterprise.get("/").status_code == 200
    page = enterprise.post(
        "/cases/new", data={**FORM, "csrf_token": csrf_token(enterprise.get("/cases/new").get_data(as_text=True))}
    )
    assert page.status_code == 302
    assert _count(sessions, Case) == 2


def test_a_refused_registration_is_told_its_reason_in_its_language(app, client, people, sessions, config) -> None:  # noqa: ANN001
    _register(client, language="en")
    user = _user(sessions, REGISTRATION["email"])
    send_mail(config, sessions)
    [mail] = mails(config, "confirm_email")
    assert subject(mail) == "Confirm your email for the workstation"
    _post(client, link_in(mail, "/register/confirm/"))
    coordinator = app.test_client()
    login(coordinator, people.coordinator.email)
    with sessions() as s:
        registration_id = s.scalar(select(Registration.id).where(Registration.user_id == user.id))
    path = f"/coordinator/registrations/{registration_id}/decision"
    no_reason = _post(coordinator, path, {"decision": "refuse", "reason": " "}, page="/coordinator/registrations")
    assert no_reason.status_code == 303 and _user(sessions, user.email).approval == "pending"
    reason = "The credit code belongs to another company."
    _post(coordinator, path, {"decision": "refuse", "reason": reason}, page="/coordinator/registrations")
    assert _user(sessions, user.email).approval == "refused"
    [audit] = _audit(sessions, "registration_refused")
    assert audit.detail["reason"] == reason
    send_mail(config, sessions)
    [refusal] = mails(config, "registration_refused")
    assert subject(refusal) == "Your registration was not approved" and reason in text(refusal)
    enterprise = app.test_client()
    login(enterprise, user.email, "register-pass")
    waiting = enterprise.get("/register/waiting").get_data(as_text=True)
    assert reason in waiting and "Registration refused" in waiting
    with sessions.begin() as s:
        token = create_token(s, s.get(User, user.id))
    answer = client.post("/api/v1/cases", json=CASE, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and "refused" in answer.get_json()["errors"]["_request"][0]


def test_registering_an_email_that_has_an_account_answers_the_same_and_tells_its_owner(
    client, people, sessions, config
) -> None:  # noqa: ANN001
    users = _count(sessions, User)
    response = _register(client, email=people.other_enterprise.email)
    assert response.status_code == 200 and _count(sessions, User) == users
    send_mail(config, sessions)
    [mail] = mails(config, "already_registered")
    assert people.other_enterprise.email in mail["To"]
    assert subject(mail) == "Someone tried to register with your email"


def test_accounts_made_otherwise_are_approved(people, sessions) -> None:  # noqa: ANN001
    with sessions() as s:
        assert set(s.scalars(select(User.approval))) == {"approved"}


@pytest.mark.pure  # a SQLite file of its own, whatever the pass's backend
def test_accounts_from_before_the_migration_are_approved_with_default_preferences(tmp_path) -> None:  # noqa: ANN001
    """Migration 0008 on a database with users: every one of them counts as approved (SQLite here;
    the services pass migrates PostgreSQL from empty)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from workstation.services.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (email, password_hash, role, name, language, organisation, organisation_key,"
                " is_active, created_at) VALUES ('old@example.cn', '!', 'enterprise', 'old', 'zh', '', '', 1,"
                " '2026-01-01 00:00:00')"
            )
        )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT approval, preferences, invited_at FROM users")).one()
    engine.dispose()
    assert (row.approval, row.preferences, row.invited_at) == ("approved", "{}", None)
