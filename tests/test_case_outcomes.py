"""What a case produced, through the API (issue 20, "a complete API"): the expert's opinion as
JSON, the case's files by their SHA-256, the enterprise's rating of its closed case."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import select

from tests.conftest import CASE
from tests.test_api import PDF
from workers.routing import assign_expert
from workstation.services.models import AccessLog, Case, Opinion, Rating


@pytest.fixture
def assigned(client, people, sessions):  # noqa: ANN001, ANN201
    """A case with a PDF, assigned to ``expert``: its reference."""
    people.add("expert", "expert", capacity=5, profile={"confidential_ok": True})
    submitted = client.post(
        "/api/v1/cases",
        data={"case": json.dumps({**CASE, "confidential": True}), "evidence": (io.BytesIO(PDF), "证据.pdf")},
        headers=people.headers("enterprise"),
        content_type="multipart/form-data",
    )
    assert submitted.status_code == 201, submitted.get_json()
    reference = submitted.get_json()["reference"]
    with sessions.begin() as s:
        assign_expert(s, s.scalar(select(Case).where(Case.reference == reference)))
    return reference


def _finish(sessions, reference: str, expert_id: int) -> None:  # noqa: ANN001
    """The opinion issued and the case closed (the pages' flow is tested in test_people)."""
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        s.add(Opinion(case_id=case.id, service=case.service, body={"summary": "构成侵权。", "conclusion": "likely"},
                      issued_by=expert_id))  # fmt: skip
        case.status = "closed"


def test_the_opinion_is_read_as_json_by_those_on_the_case_and_only_once_issued(
    client, people, sessions, assigned
) -> None:  # noqa: ANN001, E501
    path = f"/api/v1/cases/{assigned}/opinion"
    assert client.get(path, headers=people.headers("enterprise")).status_code == 404, "not issued yet"
    assert (
        "opinion"
        not in client.get(f"/api/v1/cases/{assigned}", headers=people.headers("enterprise")).get_json()["links"]
    )
    _finish(sessions, assigned, people.expert.id)
    for who in ("enterprise", "expert", "coordinator"):
        answer = client.get(path, headers=people.headers(who))
        assert answer.status_code == 200, (who, answer.get_json())
        opinion = answer.get_json()
        assert opinion["body"]["summary"] == "构成侵权。" and opinion["expert"]["id"] == people.expert.id
        assert opinion["reference"] == assigned and opinion["service"] == CASE["service"]
    case = client.get(f"/api/v1/cases/{assigned}", headers=people.headers("enterprise")).get_json()
    assert case["links"]["opinion"] == path
    people.add("stranger", "enterprise")
    assert client.get(path, headers=people.headers("stranger")).status_code == 404
    with sessions() as s:
        logged = s.scalars(select(AccessLog.action).where(AccessLog.target == "opinion api")).all()
    assert logged, "reading a confidential case's opinion is logged"


def test_files_are_downloaded_by_sha256_and_an_internal_notes_file_never_by_the_enterprise(
    client,
    people,
    sessions,
    assigned,  # noqa: ANN001
) -> None:
    sha = hashlib.sha256(PDF).hexdigest()
    got = client.get(f"/api/v1/cases/{assigned}/files/{sha}", headers=people.headers("enterprise"))
    assert got.status_code == 200 and got.data == PDF
    assert "证据.pdf" in got.headers["Content-Disposition"] or "%E8%AF%81" in got.headers["Content-Disposition"]
    note_file = PDF + b"% internal\n"
    noted = client.post(
        f"/api/v1/cases/{assigned}/messages",
        data={"body": "内部备注", "internal": "true", "files": (io.BytesIO(note_file), "note.pdf")},
        headers=people.headers("expert"),
        content_type="multipart/form-data",
    )
    assert noted.status_code == 201, noted.get_json()
    note_sha = hashlib.sha256(note_file).hexdigest()
    path = f"/api/v1/cases/{assigned}/files/{note_sha}"
    assert client.get(path, headers=people.headers("expert")).data == note_file
    refused = client.get(path, headers=people.headers("enterprise"))
    assert refused.status_code == 404 and refused.get_json() == {"errors": {"_request": ["No such file on this case."]}}
    people.add("stranger", "enterprise")
    assert client.get(f"/api/v1/cases/{assigned}/files/{sha}", headers=people.headers("stranger")).status_code == 404
    with sessions() as s:
        assert s.scalars(select(AccessLog.target).where(AccessLog.action == "download")).all() == [sha, note_sha]


def test_the_enterprise_rates_its_closed_case_once_through_the_api(client, people, sessions, assigned) -> None:  # noqa: ANN001
    path = f"/api/v1/cases/{assigned}/rating"
    mine = people.headers("enterprise")
    early = client.post(path, json={"score": 5}, headers=mine)
    assert early.status_code == 409 and early.get_json()["errors"]["_request"] == ["A case is rated once it is closed."]
    _finish(sessions, assigned, people.expert.id)
    assert client.post(path, json={"score": 5}, headers=people.headers("expert")).status_code == 403
    for bad in ({"score": 9}, {"score": "5"}, {"score": 5, "comment": "长" * 2001}, {"score": 5, "stars": 1}, [5]):
        answer = client.post(path, json=bad, headers=mine)
        assert answer.status_code == 400 and "errors" in answer.get_json(), bad
    rated = client.post(path, json={"score": 4, "comment": " 专业、及时。 "}, headers=mine)
    assert rated.status_code == 201 and rated.get_json()["score"] == 4 and rated.get_json()["comment"] == "专业、及时。"
    again = client.post(path, json={"score": 1}, headers=mine)
    assert again.status_code == 409, "one rating per case"
    with sessions() as s:
        assert [(r.score, r.rated_by) for r in s.scalars(select(Rating))] == [(4, people.enterprise.id)]
