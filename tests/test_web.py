"""The web pages: login, CSRF, the intake form with evidence, the status page, languages."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from sqlalchemy import func, select

from tests.test_api import PDF
from workstation.services.models import Case


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def login(client, email: str, password: str = "password123"):  # noqa: ANN001, ANN201
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


FORM = {
    "right_type": "patent",
    "service": "compensation_estimate",
    "title": "发明专利被仿制",
    "description": "竞争对手生产的设备落入我司专利权利要求1的保护范围。",
    "technical_field": "intelligent_manufacturing",
    "jurisdiction": "CN",
    "language": "zh",
    "urgency": "high",
    "party_role_0": "respondent",
    "party_name_0": "某某机械有限公司",
    "party_credit_code_0": "91610131MA6TXXXX15",
    "party_role_1": "respondent",  # a row left blank but for its role: ignored
    "right_kind_0": "patent",
    "right_number_0": "ZL202010000000.1",
    "known_on": "2026-09-15",
}


def test_login_page_is_chinese_by_default_and_english_on_request(client) -> None:  # noqa: ANN001
    assert "登录" in client.get("/login").get_data(as_text=True)
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Log in" in client.get("/login?lang=en").get_data(as_text=True)


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, people) -> None:  # noqa: ANN001
    response = login(client, people.enterprise.email, "wrong-password")
    assert response.status_code == 401
    assert "邮箱或密码错误" in response.get_data(as_text=True) or "Wrong email or password" in response.get_data(
        as_text=True
    )


def test_a_post_without_the_csrf_token_is_refused(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    response = client.post("/cases/new", data=FORM)
    assert response.status_code == 400
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_an_enterprise_submits_the_form_with_evidence_and_sees_the_receipt(client, people, sessions) -> None:  # noqa: ANN001
    assert login(client, people.enterprise.email).status_code == 302
    page = client.get("/cases/new").get_data(as_text=True)
    assert 'for="title"' in page and 'id="title"' in page  # every field has its label
    data = {**FORM, "csrf_token": csrf_token(page), "evidence": (io.BytesIO(PDF), "公证书.pdf")}
    response = client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    assert re.fullmatch(r"RPA-\d{4}-\d{6}", reference)
    status_page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert reference in status_page and "发明专利被仿制" in status_page
    assert hashlib.sha256(PDF).hexdigest() in status_page and "公证书.pdf" in status_page
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert case.parties == [{"role": "respondent", "name": "某某机械有限公司", "credit_code": "91610131MA6TXXXX15"}]
        assert case.rights == [{"kind": "patent", "number": "ZL202010000000.1", "mark_text": ""}]
        assert case.key_dates == {"known_on": "2026-09-15"} and case.urgency == "high"


def test_form_errors_are_shown_next_to_the_field_and_nothing_is_written(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    bad = {**FORM, "title": "", "party_credit_code_0": "123", "csrf_token": token}
    response = client.post("/cases/new", data=bad)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="title-error"' in page and 'aria-invalid="true"' in page
    assert "此项为必填项" in page  # the error is in the page's language
    assert 'id="party_credit_code_0-error"' in page and "统一社会信用代码（18 位）" in page
    assert "竞争对手生产的设备" in page  # what was typed is kept
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_an_error_about_a_party_or_a_right_is_shown_on_its_row(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    # the second party filled in is on row 4 (rows 1-3 blank, as a script's removals may leave)
    rows = {"party_name_4": "", "party_credit_code_4": "123", "right_kind_5": "", "right_number_5": "12345678"}
    response = client.post("/cases/new", data={**FORM, **rows, "csrf_token": token})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="party_name_4-error"' in page and 'id="party_credit_code_4-error"' in page
    assert 'id="right_kind_5-error"' in page and 'id="party_credit_code_0-error"' not in page
    assert 'name="right_number_5" type="text" value="12345678"' in page  # the rows sent are shown again
    many = {f"party_name_{i}": f"公司{i}" for i in range(21)}
    response = client.post("/cases/new", data={**FORM, **many, "csrf_token": token})
    assert response.status_code == 400 and 'id="parties-error"' in response.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_the_form_files_a_trade_secret_as_confidential_and_refuses_a_hand_posted_no(client, people, sessions) -> None:  # noqa: ANN001, E501
    login(client, people.enterprise.email)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    secret = {**FORM, "right_type": "trade_secret", "service": "litigation_advice", "csrf_token": token}
    refused = client.post("/cases/new", data={**secret, "confidential": "false"})
    assert refused.status_code == 400 and "商业秘密案件一律保密" in refused.get_data(as_text=True)
    assert client.post("/cases/new", data=secret).status_code == 302  # the box left unticked
    with sessions() as s:
        assert s.scalars(select(Case.confidential)).all() == [True]


def test_pages_need_a_login_and_other_enterprises_cases_are_404(client, people, submit) -> None:  # noqa: ANN001
    reference = submit()["reference"]
    assert client.get(f"/cases/{reference}").status_code == 302
    login(client, people.other_enterprise.email)
    assert client.get(f"/cases/{reference}").status_code == 404
    assert "Log out" in client.get("/").get_data(as_text=True)  # this user's setting is English


def test_only_enterprises_get_the_intake_form(client, people) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    assert client.get("/cases/new").status_code == 403


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "evil"]
)
def test_login_never_redirects_to_another_site(client, people, target) -> None:  # noqa: ANN001
    token = csrf_token(client.get("/login").get_data(as_text=True))
    form = {"email": people.enterprise.email, "password": "password123", "csrf_token": token}
    response = client.post("/login", query_string={"next": target}, data=form)
    assert response.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(client, people) -> None:  # noqa: ANN001
    token = csrf_token(client.get("/login").get_data(as_text=True))
    form = {"email": people.enterprise.email, "password": "password123", "csrf_token": token}
    response = client.post("/login", query_string={"next": "/cases/new"}, data=form)
    assert response.headers["Location"] == "/cases/new"


def test_a_bad_evidence_file_is_explained_in_the_page_language(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    data = {**FORM, "csrf_token": token, "evidence": (io.BytesIO(b"MZ" + b"\x00" * 64), "合同.pdf")}
    response = client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "合同.pdf：文件内容" in response.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_error_pages_are_in_the_readers_language_and_api_errors_stay_json(client, people) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    missing = client.get("/cases/RPA-2026-999999")
    assert missing.status_code == 404 and "页面不存在，或您无权查看" in missing.get_data(as_text=True)
    forbidden = client.get("/queue")
    assert forbidden.status_code == 403 and "无权访问" in forbidden.get_data(as_text=True)
    stranger = client.application.test_client()  # not logged in: the browser's language decides
    english = stranger.get("/nowhere", headers={"Accept-Language": "en"})
    assert english.status_code == 404 and "There is no such page" in english.get_data(as_text=True)
    asked = stranger.get("/nowhere?lang=en", headers={"Accept-Language": "zh"})
    assert "There is no such page" in asked.get_data(as_text=True)
    login(english_reader := client.application.test_client(), people.other_enterprise.email)
    theirs = english_reader.get("/cases/RPA-2026-999999")  # an English-speaking user's own setting
    assert theirs.status_code == 404 and "There is no such page" in theirs.get_data(as_text=True)
    api = client.get("/api/v1/nowhere")
    assert api.status_code == 404 and api.get_json()["errors"]["_request"]


@pytest.mark.pure
def test_passwords_are_hashed_with_argon2id_at_the_recommended_cost() -> None:
    from argon2 import Type

    from tests.conftest import PRODUCTION_HASHER

    # RFC 9106's second recommended option, argon2-cffi's default: 64 MiB, 3 passes, 4 lanes.
    assert PRODUCTION_HASHER.type is Type.ID
    assert (PRODUCTION_HASHER.memory_cost, PRODUCTION_HASHER.time_cost) >= (65536, 3)
    assert PRODUCTION_HASHER.hash("correct horse").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
