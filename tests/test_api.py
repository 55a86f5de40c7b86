"""The JSON API: intake, validation, scoping by who asks, transitions, health."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from tests.conftest import CASE
from workstation.services.models import Case, CaseEvent, CaseParty, Evidence, OutboxMessage, User

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 32


def counts(sessions) -> tuple[int, int, int, int]:  # noqa: ANN001
    with sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Case, CaseEvent, OutboxMessage, Evidence))


def test_submit_returns_201_with_reference_and_writes_case_event_and_outbox_together(client, people, sessions) -> None:  # noqa: ANN001
    response = client.post(
        "/api/v1/cases",
        json={
            **CASE,
            "jurisdiction": "CN",
            "language": "zh",
            "parties": [{"role": "respondent", "name": "某某贸易有限公司", "credit_code": "91610131MA6TXXXX15"}],
            "rights": [{"kind": "trademark", "number": "12345678", "mark_text": "星河"}],
            "key_dates": {"known_on": "2026-10-01"},
        },
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert re.fullmatch(r"RPA-\d{4}-\d{6}", body["reference"])
    assert body["status"] == "submitted"
    assert body["key_dates"] == {"known_on": "2026-10-01"}
    assert response.headers["Location"].endswith(body["reference"])
    assert counts(sessions) == (1, 1, 1, 0)
    with sessions() as s:
        outbox = s.scalars(select(OutboxMessage)).one()
        assert outbox.routing_key == "case.submitted" and outbox.published_at is None


def test_the_case_is_written_for_the_enterprise_holding_the_token(client, people, sessions) -> None:  # noqa: ANN001
    # On PostgreSQL the statement that writes the case finds its enterprise from the token itself.
    payload = {**CASE, "parties": [{"role": "respondent", "name": "某某贸易有限公司"}]}
    for who in ("enterprise", "other_enterprise"):
        reference = client.post("/api/v1/cases", json=payload, headers=people.headers(who)).get_json()["reference"]
        with sessions() as s:
            case = s.scalars(select(Case).where(Case.reference == reference)).one()
            assert case.enterprise_id == people.users[who].id
            assert [(e.actor_id, e.actor_role) for e in case.events] == [(people.users[who].id, "enterprise")]
            assert [p.enterprise_id for p in s.scalars(select(CaseParty).where(CaseParty.case_id == case.id))] == [
                people.users[who].id
            ]


def test_a_deactivated_enterprise_s_token_writes_nothing_and_errors_come_in_order(client, people, sessions) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.get(User, people.enterprise.id).is_active = False
    for payload in (CASE, {**CASE, "right_type": "recipe"}):  # no 400 to a caller who is not let in
        response = client.post("/api/v1/cases", json=payload, headers=people.headers("enterprise"))
        assert response.status_code == 401
    coordinator = people.headers("coordinator")
    assert client.post("/api/v1/cases", json={**CASE, "right_type": "recipe"}, headers=coordinator).status_code == 403
    assert counts(sessions) == (0, 0, 0, 0)
    assert (
        client.post("/api/v1/cases", json={**CASE, "title": ""}, headers=people.headers("other_enterprise")).status_code
        == 400
    )


def test_a_new_web_worker_answers_its_first_submission(env, people) -> None:  # noqa: ANN001
    # A web worker's first request can be the first thing in its process to build model instances
    # (the ORM configures its mappers then): the fast intake path once failed there, in gunicorn only.
    code = (
        "import json, sys; from workstation.web.wsgi import app; "
        "r = app.test_client().post('/api/v1/cases', json=json.loads(sys.argv[1]), "
        "headers={'Authorization': 'Bearer ' + sys.argv[2]}); print(r.status_code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(CASE), people.tokens["enterprise"]],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip() == "201", done.stderr[-3000:]


def test_trade_secret_cases_are_always_confidential_and_asking_otherwise_is_a_400(
    client, people, sessions, submit
) -> None:  # noqa: ANN001
    assert submit(right_type="trade_secret")["confidential"] is True
    assert submit(right_type="trade_secret", confidential=True)["confidential"] is True
    assert submit()["confidential"] is False and submit(confidential=True)["confidential"] is True
    written = counts(sessions)
    secret = {**CASE, "right_type": "trade_secret", "confidential": False}
    as_json = client.post("/api/v1/cases", json=secret, headers=people.headers("enterprise"))
    as_multipart = client.post(
        "/api/v1/cases", content_type="multipart/form-data",
        data={"case": json.dumps(secret)}, headers=people.headers("enterprise"),
    )  # fmt: skip
    for response in (as_json, as_multipart):
        assert response.status_code == 400
        assert response.get_json() == {"errors": {"confidential": ["Trade-secret cases are always confidential."]}}
    assert counts(sessions) == written, "nothing written"


BAD_INPUT = [
    ({k: v for k, v in CASE.items() if k != "title"}, "title"),
    ({**CASE, "right_type": "recipe"}, "right_type"),
    ({**CASE, "service": 5}, "service"),
    ({**CASE, "title": ["not", "text"]}, "title"),
    ({**CASE, "title": "   "}, "title"),
    ({**CASE, "description": "x" * 20_001}, "description"),
    ({**CASE, "title": "t" * 201}, "title"),
    ({**CASE, "jurisdiction": "China"}, "jurisdiction"),
    ({**CASE, "language": "fr"}, "language"),
    ({**CASE, "confidential": "maybe"}, "confidential"),
    ({**CASE, "parties": [{"role": "respondent"}]}, "parties"),
    ({**CASE, "parties": [{"name": "X", "credit_code": "123"}]}, "parties"),
    # the right form, a mistyped character: the check character (GB 32100-2015) catches it
    ({**CASE, "key_dates": {"known_on": "2026-13-40"}}, "key_dates"),
    ({**CASE, "key_dates": {"birthday": "2026-01-01"}}, "key_dates"),
    ({**CASE, "status": "closed"}, "status"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_INPUT, ids=[f for _, f in BAD_INPUT])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(client, people, sessions, payload, field) -> None:  # noqa: ANN001
    response = client.post("/api/v1/cases", json=payload, headers=people.headers("enterprise"))
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert field in errors and errors[field]
    assert counts(sessions) == (0, 0, 0, 0)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"null"])
def test_a_body_that_is_not_a_json_object_is_a_400(client, people, body) -> None:  # noqa: ANN001
    response = client.post(
        "/api/v1/cases", data=body, headers={**people.headers("enterprise"), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"]


def multipart(people, files):  # noqa: ANN001, ANN201
    import json

    return {"data": {"case": json.dumps(CASE), "evidence": files}, "headers": people.headers("enterprise")}


def test_evidence_is_stored_by_sha256_and_shown_as_a_receipt(client, people, config, sessions) -> None:  # noqa: ANN001
    import hashlib

    response = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        **multipart(people, [(io.BytesIO(PDF), "../../etc/invoice.pdf"), (io.BytesIO(PNG), "photo.png")]),
    )
    assert response.status_code == 201, response.get_json()
    evidence = response.get_json()["evidence"]
    digest = hashlib.sha256(PDF).hexdigest()
    assert [e["filename"] for e in evidence] == ["invoice.pdf", "photo.png"]
    assert evidence[0]["sha256"] == digest
    assert (config.evidence_dir / digest[:2] / digest).read_bytes() == PDF


def test_a_credit_code_whose_check_character_does_not_match_is_a_422(client, people) -> None:  # noqa: ANN001
    """Its form is the document's pattern; its check character no schema can state."""
    case = {**CASE, "parties": [{"name": "X", "credit_code": "91440300708461163T"}]}
    response = client.post("/api/v1/cases", json=case, headers=people.headers("enterprise"))
    assert response.status_code == 422
    assert "last character does not match" in response.get_json()["errors"]["parties"][0]


BAD_FILES = [  # (a file's type or content refused: 415)
    ("report.pdf", b"MZ\x90\x00" + b"\x00" * 100, 415, "does not match"),
    ("photo.png", PDF, 415, "does not match"),
    ("notes.txt", b"\x00\x01binary", 415, "not plain text"),
    ("tool.exe", b"MZ" + b"\x00" * 100, 415, "not accepted"),
    ("empty.pdf", b"", 415, "empty"),
]


@pytest.mark.parametrize(("name", "data", "status", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_evidence_is_refused_and_nothing_is_written(
    client, people, sessions, config, name, data, status, message
) -> None:  # noqa: ANN001, E501
    response = client.post(
        "/api/v1/cases", content_type="multipart/form-data", **multipart(people, [(io.BytesIO(data), name)])
    )
    assert response.status_code == status
    assert message in " ".join(response.get_json()["errors"]["evidence"])
    assert counts(sessions) == (0, 0, 0, 0)
    assert not config.evidence_dir.exists() or not any(config.evidence_dir.rglob("*"))


def test_a_30_mb_upload_is_refused_with_413(client, people, sessions) -> None:  # noqa: ANN001
    big = PDF + b"0" * (30 * 1024 * 1024)
    response = client.post(
        "/api/v1/cases", content_type="multipart/form-data", **multipart(people, [(io.BytesIO(big), "big.pdf")])
    )
    assert response.status_code == 413
    assert "larger than" in response.get_json()["errors"]["evidence"][0]
    assert counts(sessions) == (0, 0, 0, 0)


def test_requests_without_a_valid_token_are_401(client, people) -> None:  # noqa: ANN001
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {people.tokens['enterprise']}"}):
        response = client.post("/api/v1/cases", json=CASE, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["errors"]["_request"]


def test_only_enterprises_submit(client, people) -> None:  # noqa: ANN001
    assert client.post("/api/v1/cases", json=CASE, headers=people.headers("coordinator")).status_code == 403


def test_an_enterprise_never_sees_another_enterprises_case(client, people, submit) -> None:  # noqa: ANN001
    reference = submit()["reference"]
    for path in (f"/api/v1/cases/{reference}", f"/api/v1/cases/{reference}/events"):
        assert client.get(path, headers=people.headers("enterprise")).status_code == 200
        assert client.get(path, headers=people.headers("coordinator")).status_code == 200
        response = client.get(path, headers=people.headers("other_enterprise"))
        assert response.status_code == 404
        assert "某网店" not in response.get_data(as_text=True)
    refused = client.post(
        f"/api/v1/cases/{reference}/transitions",
        json={"action": "withdraw"},
        headers=people.headers("other_enterprise"),
    )
    assert refused.status_code == 404


def test_an_expert_sees_only_cases_assigned_to_them(client, people, submit, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    other = people.add("other_expert", "expert")
    mine, theirs = submit()["reference"], submit()["reference"]
    for reference, expert in ((mine, people.expert), (theirs, other)):
        assigned = client.post(
            f"/api/v1/cases/{reference}/transitions",
            json={"action": "reassign", "expert_id": expert.id},
            headers=people.headers("coordinator"),
        )
        assert assigned.status_code == 200, assigned.get_json()
    assert client.get(f"/api/v1/cases/{mine}", headers=people.headers("expert")).status_code == 200
    for path in (f"/api/v1/cases/{theirs}", f"/api/v1/cases/{theirs}/events"):
        assert client.get(path, headers=people.headers("expert")).status_code == 404
    accept = client.post(
        f"/api/v1/cases/{theirs}/transitions", json={"action": "accept"}, headers=people.headers("expert")
    )
    assert accept.status_code == 404
    queue = client.get("/api/v1/queue", headers=people.headers("expert")).get_json()
    assert [c["reference"] for c in queue["cases"]] == [mine] and queue["needs_action"] == 1


def test_the_enterprise_timeline_hides_internal_detail(client, people, submit) -> None:  # noqa: ANN001
    first, second = people.add("first", "expert"), people.add("second", "expert")
    reference = submit()["reference"]
    url = f"/api/v1/cases/{reference}/transitions"
    coordinator = people.headers("coordinator")
    client.post(url, json={"action": "reassign", "expert_id": first.id}, headers=coordinator)
    declined = client.post(
        url, json={"action": "decline", "reason": "我曾代理被申请人"}, headers=people.headers("first")
    )
    assert declined.status_code == 200
    client.post(url, json={"action": "reassign", "expert_id": second.id}, headers=coordinator)
    events_url = f"/api/v1/cases/{reference}/events"
    seen_by_enterprise = client.get(events_url, headers=people.headers("enterprise")).get_data(as_text=True)
    assert "代理" not in seen_by_enterprise and "expert_id" not in seen_by_enterprise
    seen_by_coordinator = client.get(events_url, headers=coordinator).get_json()["events"]
    assert seen_by_coordinator[2]["detail"]["reason"] == "我曾代理被申请人"


def test_transitions_check_who_and_when(client, people, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = submit()["reference"]
    url = f"/api/v1/cases/{reference}/transitions"
    owner = people.headers("enterprise")
    assert client.post(url, json={"action": "close"}, headers=owner).status_code == 409
    assert client.post(url, json={"action": "reopen", "reason": "x"}, headers=owner).status_code == 403
    assert client.post(url, json={"action": "fly"}, headers=owner).status_code == 400
    assert client.post(url, json={"action": "accept"}, headers=people.headers("expert")).status_code == 404
    withdrawn = client.post(url, json={"action": "withdraw"}, headers=owner)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    events = client.get(f"/api/v1/cases/{reference}/events", headers=owner).get_json()["events"]
    assert [(e["action"], e["to_status"]) for e in events] == [("submit", "submitted"), ("withdraw", "withdrawn")]


def test_health_and_readiness(client) -> None:  # noqa: ANN001
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_is_503_naming_the_broker_when_it_is_unreachable(app, client, config) -> None:  # noqa: ANN001
    import dataclasses

    broken = dataclasses.replace(config, broker_url="amqp://guest:guest@127.0.0.1:1//")
    app.extensions["workstation"]["config"] = broken
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "broker": "unreachable"}


def test_the_openapi_document_describes_every_api_route(app, client) -> None:  # noqa: ANN001
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule))
        for rule in app.url_map.iter_rules()
        if str(rule).startswith("/api/v1") and rule.endpoint != "api.openapi"
    }
    assert routes == documented
    assert set(document["components"]["schemas"]) >= {"CaseInput", "Case", "Event", "Error"}


def test_the_kind_of_office_notice_makes_its_deadline_appear(client, people) -> None:  # noqa: ANN001
    # A rejected patent application: 3 months from receipt to request re-examination (Patent Law
    # art. 41). Before, no way in took the kind of notice, so this deadline could never fire.
    body = {**CASE, "right_type": "patent", "notice_kind": "patent_rejection",
            "key_dates": {"notice_received_on": "2026-03-31"}}  # fmt: skip
    made = client.post("/api/v1/cases", json=body, headers=people.headers("enterprise"))
    assert made.status_code == 201, made.get_json()
    reference = made.get_json()["reference"]
    case = client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()
    assert case["notice_kind"] == "patent_rejection"
    (notice,) = [d for d in case["deadlines"] if d["code"] == "notice_patent_rejection"]
    assert notice["due"] == "2026-06-30" and "art. 41" in notice["basis"]["en"]
    bad = client.post(
        "/api/v1/cases", json={**body, "notice_kind": "warning_letter"}, headers=people.headers("enterprise")
    )
    assert bad.status_code == 400 and "notice_kind" in bad.get_json()["errors"]


def test_each_right_keeps_its_own_dates_and_has_its_own_renewal(client, people) -> None:  # noqa: ANN001
    # Two own marks with their registration dates, and the contested mark's at case level: two
    # renewals (one per right) and one invalidation, each from its own date.
    rights = [{"kind": "trademark", "number": "12345678", "registered_on": "2020-03-07"},
              {"kind": "trademark", "number": "23456789", "registered_on": "2021-06-01"}]  # fmt: skip
    body = {**CASE, "right_type": "trademark", "rights": rights, "key_dates": {"registered_on": "2024-01-05"}}
    made = client.post("/api/v1/cases", json=body, headers=people.headers("enterprise"))
    assert made.status_code == 201, made.get_json()
    case = client.get(f"/api/v1/cases/{made.get_json()['reference']}", headers=people.headers("enterprise")).get_json()
    assert [(r["number"], r["registered_on"]) for r in case["rights"]] == [("12345678", "2020-03-07"),
                                                                          ("23456789", "2021-06-01")]  # fmt: skip
    due = {d["code"]: d["due"] for d in case["deadlines"] if d["kind"] == "legal"}
    assert due["trademark_renewal_2030_r1"] == "2030-03-06"
    assert due["trademark_renewal_2031_r2"] == "2031-06-02"  # 2031-05-31 is a Saturday
    assert due["trademark_invalidation_relative"] == "2029-01-05"
    bad = client.post("/api/v1/cases", json={**body, "rights": [{"kind": "patent", "filed_on": "2020-13-01"}]},
                      headers=people.headers("enterprise"))  # fmt: skip
    assert bad.status_code == 400 and "rights" in bad.get_json()["errors"]
