"""Schemathesis against our own OpenAPI document: every operation, as each role, valid and invalid input.

No answer may be a server error, and every 4xx answers in the API's error shape
``{"errors": {field: [message, ...]}}``. Responses must also match what the document says (status
codes, content types, bodies), invalid input must be refused, and a request without the token must
not succeed. Each generated request is sent as the enterprise, an expert and a coordinator, and,
where it names a case, an expert, a mark or an import, once more naming one that exists.

Bounded (15 examples per operation and mode) and seeded: every run sends the same requests.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from tests.conftest import CASE, People
from workstation.services.models import Case
from workstation.web.openapi import openapi_document

ROLES = ("enterprise", "expert", "coordinator")
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261124,
        "generation": {"max-examples": 15, "mode": "all", "database": "none", "with-security-parameters": False},
        "phases": {"coverage": {"enabled": False}},
        # Valid input is taken: refused only for who asks (401, 403, 404), for the state of what it
        # names (409: a case that cannot move so now, an email taken) or for a file's content (415,
        # which no schema can state, nor can it a credit code's check character: 422), never a 400.
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "415", "422"]}
        },
    }
)
# The document as the module builds it; ``test_the_served_document_is_the_one_fuzzed`` checks the
# app serves this very document. (schemathesis' fixture-based loader does not run on pytest 9.)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@schemathesis.check
def error_shape(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"errors"}, body
        errors = body["errors"]
        assert isinstance(errors, dict) and errors, body
        for field, messages in errors.items():
            assert isinstance(field, str), body
            assert isinstance(messages, list) and messages and all(isinstance(m, str) and m for m in messages), body


CHECKS = [
    not_a_server_error,
    error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
]


@pytest.fixture
def world(app, client, people: People) -> dict[str, Any]:  # noqa: ANN001
    """Things that exist, so generated requests reach more than 404s."""
    expert = people.add("expert", "expert")
    coordinator = people.headers("coordinator")
    submitted = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    reference = submitted.get_json()["reference"]
    assigned = client.post(
        f"/api/v1/cases/{reference}/transitions",
        json={"action": "reassign", "expert_id": expert.id},
        headers=coordinator,
    )
    said = client.post(
        f"/api/v1/cases/{reference}/messages", json={"body": "你好"}, headers=people.headers("enterprise")
    )
    noted = client.post(f"/api/v1/cases/{reference}/messages", json={"body": "备注", "internal": True},
                        headers=people.headers("expert"))  # fmt: skip
    mark = client.post("/api/v1/marks", json={"text": "星河", "classes": [9]}, headers=people.headers("enterprise"))
    imported = client.post(
        "/api/v1/experts/imports",
        data="email,right_types\nx@example.cn,patent\n",
        headers={**coordinator, "Content-Type": "text/csv"},
    )
    # a token of its own: revoking it (the DELETE's "real" variant) leaves the people's tokens working
    token = client.post("/api/v1/tokens", json={"name": "fuzz"}, headers=people.headers("enterprise"))
    partner = client.post("/api/v1/partners", json={"name": "西安市市场监督管理局", "kind": "market_supervision"},
                          headers=coordinator)  # fmt: skip
    referral = client.post(f"/api/v1/cases/{reference}/referrals", headers=people.headers("expert"),
                           json={"partner_id": partner.get_json()["id"], "question": "请协助查处"})  # fmt: skip
    view = client.post("/api/v1/views", json={"name": "商标", "query": "type:trademark"}, headers=coordinator)
    # a trainee shadowing the case, and their draft for the expert to review (``services.training``)
    trainee = people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": expert.id})
    with people.sessions.begin() as s:
        s.scalar(select(Case).where(Case.reference == reference)).shadow_expert_id = trainee.id
    draft = client.post(f"/api/v1/cases/{reference}/drafts", json={"kind": "note", "body": "跟案笔记"},
                        headers=people.headers("trainee"))  # fmt: skip
    made = (submitted, assigned, said, noted, mark, imported, token, partner, referral, view, draft)
    answered = [r.status_code for r in made]
    assert answered == [201, 200, 201, 201, 201, 202, 201, 201, 201, 201, 201]
    return {
        "token_id": token.get_json()["id"],
        "reference": reference,
        "expert_id": expert.id,
        "mark_id": mark.get_json()["id"],
        "import_id": imported.get_json()["id"],
        "partner_id": partner.get_json()["id"],
        "referral_id": referral.get_json()["id"],
        "view_id": view.get_json()["id"],
        "draft_id": draft.get_json()["id"],
        "user_id": trainee.id,
    }


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_operation_as_every_role(case, app, people: People, world: dict[str, Any]) -> None:  # noqa: ANN001
    # Requests (and the checks' own probes) go to this test's app, in-process.
    case.operation.app = case.operation.schema.app = app
    variants = [(dict(case.path_parameters or {}), CHECKS)]
    if case.path_parameters:
        # The same request on things that exist. The ids are no longer what was generated, so an
        # invalid one may have become valid: whether invalid data is refused is not asked of these.
        real = {name: world.get(name, value) for name, value in case.path_parameters.items()}
        variants.append((real, [c for c in CHECKS if c is not negative_data_rejection]))
    for path_parameters, checks in variants:
        case.path_parameters = path_parameters
        for role in ROLES:
            headers = people.headers(role)
            response = case.call(headers=headers)
            case.validate_response(response, checks=checks, headers=headers)


def test_the_served_document_is_the_one_fuzzed(client) -> None:  # noqa: ANN001
    assert client.get("/api/v1/openapi.json").get_json() == json.loads(json.dumps(openapi_document()))


def test_a_method_a_documented_path_does_not_have_is_a_405_in_the_error_shape(client, people: People) -> None:  # noqa: ANN001
    for path, operations in openapi_document()["paths"].items():
        url = re.sub(r"\{\w+\}", "1", path)
        for method in ("get", "post", "put", "patch", "delete"):
            if method in operations:
                continue
            response = client.open(url, method=method.upper(), headers=people.headers("coordinator"))
            assert response.status_code == 405, (method, path)
            assert set(response.get_json()) == {"errors"} and response.get_json()["errors"]["_request"], (method, path)
            allowed = {m.strip().lower() for m in response.headers["Allow"].split(",")}
            assert set(operations) <= allowed, (method, path)


# --- what fuzzing found, pinned (it draws other inputs as the code changes) ---------------------

NUL_INPUTS = [
    ("get", "/api/v1/cases/RPA-2026-0%0001", None, "reference"),
    ("get", "/api/v1/notices?kind=dead%00line", None, "kind"),
    ("post", "/api/v1/cases", {**CASE, "parties": [{"name": "某\x00公司"}]}, "parties"),
    ("post", "/api/v1/marks", {"text": "星\x00河"}, "text"),
]


def test_text_with_a_nul_character_is_a_400_naming_the_field_on_either_database(client, people: People) -> None:  # noqa: ANN001
    # PostgreSQL cannot store a NUL, nor take one as a query parameter: it was a 500 there.
    for method, url, body, field in NUL_INPUTS:
        response = client.open(url, method=method.upper(), json=body, headers=people.headers("enterprise"))
        assert response.status_code == 400, url
        assert response.get_json() == {"errors": {field: ["Must not contain the NUL character."]}}
    # JSON may come in UTF-16 or UTF-32 too, where the escape's bytes are not b"\\u0000"
    for encoding in ("utf-16", "utf-32-be"):
        body = json.dumps({**CASE, "title": "\x00"}).encode(encoding)
        response = client.post("/api/v1/cases", data=body, content_type="application/json",
                               headers=people.headers("enterprise"))  # fmt: skip
        assert response.status_code == 400, encoding
        assert response.get_json() == {"errors": {"title": ["Must not contain the NUL character."]}}
    expert = client.post(
        "/api/v1/experts",
        json={"email": "nul@example.cn", "right_types": ["patent"], "name": "\x00"},
        headers=people.headers("coordinator"),
    )
    assert expert.status_code == 400
    assert expert.get_json()["errors"] == {"name": ["Must not contain the NUL character."]}
    part = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps({**CASE, "title": "\x00"})},
        headers=people.headers("enterprise"),
    )
    assert part.status_code == 400 and part.get_json()["errors"] == {"case": ["Must not contain the NUL character."]}


def test_an_unpaired_surrogate_is_a_400_naming_the_field_and_a_pair_is_a_character(client, people, sessions) -> None:  # noqa: ANN001
    # JSON can write half of a UTF-16 pair (an escape, or its raw UTF-8-style bytes, which Python's
    # decoder lets through); no driver can encode it: it was a 500 on both databases, and on
    # PostgreSQL also for a caller without a valid token (the submission statement checks it).
    surrogate = "Must not contain an unpaired surrogate (\\ud800-\\udfff): it is not a character."
    bodies = [
        json.dumps({**CASE, "title": "星河\ud800"}).encode(),  # ensure_ascii: the escape \ud800
        json.dumps({**CASE, "title": "星河\udc00"}, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        json.dumps({**CASE, "parties": [{"name": "\udfff公司"}]}).encode(),
    ]
    for headers in (people.headers("enterprise"), {"Authorization": "Bearer nope"}):
        for body in bodies:
            response = client.post("/api/v1/cases", data=body, content_type="application/json", headers=headers)
            assert response.status_code == 400, body
            assert list(response.get_json()["errors"].values()) == [[surrogate]], body
    part = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps({**CASE, "title": "\ud800"})},
        headers=people.headers("enterprise"),
    )
    assert part.status_code == 400 and part.get_json()["errors"] == {"case": [surrogate]}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    emoji = client.post(
        "/api/v1/cases", json={**CASE, "title": "星河 \U0001f600"}, headers=people.headers("enterprise")
    )
    assert emoji.status_code == 201 and emoji.get_json()["title"] == "星河 \U0001f600"


def test_a_form_field_with_a_nul_character_is_a_400_page(client, people: People, sessions) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from tests.test_web import FORM, csrf_token, login
    from workstation.services.models import Case

    login(client, people.enterprise.email)
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    response = client.post("/cases/new", data={**FORM, "title": "仿冒\x00", "csrf_token": token})
    assert response.status_code == 400 and "<html" in response.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_a_csv_the_csv_module_cannot_read_is_a_422_and_old_mac_line_ends_are_read(client, people: People) -> None:  # noqa: ANN001
    headers = {**people.headers("coordinator"), "Content-Type": "text/csv"}
    # A field beyond the csv module's limit (128 KB) used to escape as a 500.
    long_field = "email,right_types\nx@example.cn," + "p" * 200_000
    huge = client.post("/api/v1/experts/imports", data=long_field, headers=headers)
    assert huge.status_code == 422, "the request was well formed; what the file says cannot be read"
    assert "not a CSV the workstation can read" in huge.get_json()["errors"]["file"][0]
    # Lines ended by a bare \r (Excel for Mac) were a 500: they are lines.
    mac = client.post("/api/v1/experts/imports", data="email,right_types\rx@example.cn,patent\r", headers=headers)
    assert mac.status_code == 202 and mac.get_json()["total"] == 1
