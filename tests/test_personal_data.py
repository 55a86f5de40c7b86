"""PIPL: an enterprise's data exported whole, and erased after the retention period, keeping the
statistics; both audited (``workstation/services/personal_data.py``)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from workstation.evidence import path_of, store
from workstation.services.models import AdminAudit, Case, CaseMessage, Evidence, User, utcnow
from workstation.services.personal_data import PersonalDataError, erase_enterprise, export_enterprise

PDF = b"%PDF-1.4\n% a test file\n"
SHARED = b"%PDF-1.4\n% the same bytes filed by two enterprises\n"


def add_file(session, config, case: Case, data: bytes, name: str) -> str:  # noqa: ANN001
    stored = store(config.evidence_dir, name, data, "application/pdf")
    session.add(Evidence(case_id=case.id, sha256=stored.sha256, filename=name, content_type="application/pdf",
                         size=stored.size, uploaded_by=case.enterprise_id))  # fmt: skip
    return stored.sha256


@pytest.fixture
def filed(people, submit, sessions, config):  # noqa: ANN001, ANN201
    """An enterprise with two closed cases, a message, its own file and one another enterprise filed too."""
    references = [submit()["reference"], submit(right_type="patent")["reference"]]
    other = submit("other_enterprise")["reference"]
    with sessions.begin() as session:
        mine = session.scalars(select(Case).where(Case.reference.in_(references)).order_by(Case.id)).all()
        theirs = session.scalars(select(Case).where(Case.reference == other)).one()
        own = add_file(session, config, mine[0], PDF, "合同.pdf")
        shared = add_file(session, config, mine[1], SHARED, "shared.pdf")
        add_file(session, config, theirs, SHARED, "theirs.pdf")
        session.add(
            CaseMessage(case_id=mine[0].id, author_id=mine[0].enterprise_id, kind="answer", body="联系人：张三")
        )
        for case in mine:
            case.status = "closed"
    return {"own": own, "shared": shared, "references": references}


def test_the_export_holds_the_account_its_cases_and_their_files(people, sessions, config, filed) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        archive = zipfile.ZipFile(
            io.BytesIO(export_enterprise(session, config.evidence_dir, people.enterprise.id, None))
        )
    data = json.loads(archive.read("data.json"))
    assert data["account"]["email"] == people.enterprise.email and "password_hash" not in data["account"]
    assert sorted(c["reference"] for c in data["cases"]) == sorted(filed["references"])
    assert [m["body"] for m in data["messages"]] == ["联系人：张三"]
    assert all("token_hash" not in t for t in data["api_tokens"]) and data["api_tokens"]
    assert archive.read(f"files/{filed['own']}") == PDF
    with sessions() as session:
        audit = session.scalars(select(AdminAudit).where(AdminAudit.action == "personal_data_exported")).one()
    assert audit.subject_id == people.enterprise.id


def test_erasure_waits_for_deactivation_and_the_retention_period(people, sessions, config, filed) -> None:  # noqa: ANN001
    retention = timedelta(days=30)
    with sessions.begin() as session, pytest.raises(PersonalDataError, match="still active"):
        erase_enterprise(session, config.evidence_dir, people.enterprise.id, None, retention)
    with sessions.begin() as session:
        session.get(User, people.enterprise.id).is_active = False
    with sessions.begin() as session, pytest.raises(PersonalDataError, match="retention period runs until"):
        erase_enterprise(session, config.evidence_dir, people.enterprise.id, None, retention)


def test_erasure_removes_what_names_the_enterprise_and_keeps_the_figures(people, sessions, config, filed) -> None:  # noqa: ANN001
    def figures(session) -> list:  # noqa: ANN001
        query = select(Case.right_type, Case.service, Case.status, func.count()).group_by(
            Case.right_type, Case.service, Case.status
        )
        return sorted(session.execute(query).all())

    with sessions.begin() as session:
        session.get(User, people.enterprise.id).is_active = False
        before = figures(session)
    later = utcnow() + timedelta(days=31)
    with sessions.begin() as session:
        done = erase_enterprise(session, config.evidence_dir, people.enterprise.id, None, timedelta(days=30), later)
    assert (done.cases, done.files_removed) == (2, 1)
    with sessions() as session:
        user = session.get(User, people.enterprise.id)
        assert people.enterprise.email != user.email and user.credit_code is None and user.organisation == ""
        cases = session.scalars(select(Case).where(Case.enterprise_id == user.id)).all()
        assert {c.title for c in cases} == {"[erased]"} and all(c.description == "" and c.parties == [] for c in cases)
        assert session.scalars(select(CaseMessage.body)).all() == ["[erased]"]
        assert figures(session) == before, "the statistics are unchanged"
        audit = session.scalars(select(AdminAudit).where(AdminAudit.action == "personal_data_erased")).one()
        assert audit.subject_id == user.id and audit.detail == {"cases": 2, "files_removed": 1}
    assert not path_of(config.evidence_dir, filed["own"]).exists()
    assert path_of(config.evidence_dir, filed["shared"]).exists(), "another enterprise's copy of the same bytes stays"


def test_a_coordinator_exports_and_erases_from_the_accounts_page(client, people, sessions, config, filed) -> None:  # noqa: ANN001
    from tests.test_web import csrf_token, login

    who = people.enterprise
    login(client, people.coordinator.email)
    token = csrf_token(client.get("/coordinator/users").get_data(as_text=True))
    exported = client.post(f"/coordinator/enterprises/{who.id}/export", data={"csrf_token": token})
    assert exported.status_code == 200 and exported.mimetype == "application/zip"
    assert json.loads(zipfile.ZipFile(io.BytesIO(exported.data)).read("data.json"))["account"]["id"] == who.id
    # Erasing needs the email typed, a deactivated account and the retention period passed.
    wrong = client.post(f"/coordinator/enterprises/{who.id}/erase", data={"csrf_token": token, "confirm": "x"})
    assert wrong.status_code == 303
    refused = client.post(f"/coordinator/enterprises/{who.id}/erase", data={"csrf_token": token, "confirm": who.email},
                          follow_redirects=True)  # fmt: skip
    assert "仍然有效" in refused.get_data(as_text=True)
    with sessions() as session:
        assert session.get(User, who.id).email == who.email
    # Not a coordinator: no such page.
    login(other := client.application.test_client(), who.email)
    own_token = csrf_token(other.get("/account").get_data(as_text=True))
    assert other.post(f"/coordinator/enterprises/{who.id}/export", data={"csrf_token": own_token}).status_code == 403
