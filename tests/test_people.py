"""The people's side: who sees what (a matrix), the case page's actions, the queue, confidentiality."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from tests.test_api import PDF
from tests.test_messages import write
from tests.test_web import csrf_token, login
from workers.routing import assign_expert
from workstation.services.models import AccessLog, AdminAudit, Case, CaseMessage, Evidence, Opinion


@pytest.fixture
def world(people, sessions, submit):  # noqa: ANN001, ANN201
    """Two enterprises' cases, each assigned to its own expert; a trainee shadowing one of them."""
    mine = people.add("expert", "expert", capacity=10, profile={"confidential_ok": True})
    people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": mine.id})
    refs = {"own": submit()["reference"], "other": submit("other_enterprise")["reference"]}
    with sessions.begin() as s:
        for ref in refs.values():
            case = s.scalar(select(Case).where(Case.reference == ref))
            assign_expert(s, case)
    people.add("other_expert", "expert", capacity=10)
    with sessions.begin() as s:  # the other enterprise's case belongs to the other expert
        other = s.scalar(select(Case).where(Case.reference == refs["other"]))
        other.assigned_expert_id, other.shadow_expert_id = people.other_expert.id, None
        s.add(Evidence(case_id=other.id, sha256="ab" * 32, filename="x.pdf", content_type="application/pdf", size=3,
                       uploaded_by=people.other_enterprise.id))  # fmt: skip
    return refs


# who -> the case they may see ("own" case: the enterprise's, assigned to `expert`, shadowed by `trainee`)
SEES = {
    "enterprise": {"own"},
    "other_enterprise": {"other"},
    "expert": {"own"},
    "other_expert": {"other"},
    "trainee": {"own"},
    "coordinator": {"own", "other"},
}


@pytest.mark.parametrize("who", sorted(SEES))
@pytest.mark.parametrize("which", ["own", "other"])
def test_every_route_answers_404_for_a_case_the_caller_may_not_see(client, people, world, who: str, which: str) -> None:  # noqa: ANN001, E501
    reference = world[which]
    visible = which in SEES[who]
    api = [
        client.get(f"/api/v1/cases/{reference}", headers=people.headers(who)),
        client.get(f"/api/v1/cases/{reference}/events", headers=people.headers(who)),
        client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "accept"}, headers=people.headers(who)),
        client.get(f"/api/v1/cases/{reference}/messages", headers=people.headers(who)),
        client.post(f"/api/v1/cases/{reference}/messages", json={"body": "你好"}, headers=people.headers(who)),
    ]
    for response in api:
        assert (response.status_code != 404) == visible, (who, which, response.request.path)
        if not visible:
            assert response.get_json() == {"errors": {"_request": ["No such case."]}}
    outcomes = [  # (a 404 for those who see the case too: no opinion yet, no such file on this disk)
        client.get(f"/api/v1/cases/{reference}/opinion", headers=people.headers(who)),
        client.get(f"/api/v1/cases/{reference}/files/{'ab' * 32}", headers=people.headers(who)),
        client.post(f"/api/v1/cases/{reference}/rating", json={"score": 5}, headers=people.headers(who)),
    ]
    for response in outcomes:
        assert visible or response.status_code == 404, (who, which, response.request.path)
    login(client, getattr(people, who).email)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    pages = [
        client.get(f"/cases/{reference}"),
        client.get(f"/cases/{reference}/opinion"),
        client.get(f"/cases/{reference}/files/{'ab' * 32}"),
        client.post(f"/cases/{reference}/actions", data={"csrf_token": token, "action": "withdraw"}),
        client.post(f"/cases/{reference}/documents", data={"csrf_token": token}),
        client.post(f"/cases/{reference}/messages", data={"csrf_token": token, "body": "你好"}),
        client.post(f"/cases/{reference}/rating", data={"csrf_token": token, "score": "5"}),
        client.get(f"/cases/{reference}/opinion/new"),
    ]
    for response in pages:
        if not visible:
            assert response.status_code == 404, (who, which, response.request.path)
        else:
            assert response.status_code != 404 or response.request.path.endswith(("/opinion", "ab" * 32)), (
                who,
                which,
                response.request.path,
            )
    listed = client.get("/").get_data(as_text=True)
    assert (reference in listed) == visible


def test_a_trainee_never_sees_a_confidential_case_and_every_look_at_one_is_logged(
    client, people, sessions, submit
) -> None:  # noqa: ANN001, E501
    supervisor = people.add("expert", "expert", right_types=["trade_secret"], profile={"confidential_ok": True})
    people.add("trainee", "expert", right_types=["trade_secret"],
               profile={"is_trainee": True, "supervisor_id": supervisor.id})  # fmt: skip
    reference = submit(right_type="trade_secret")["reference"]
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        assign_expert(s, case)
        assert case.confidential and case.shadow_expert_id is None
    assert client.get(f"/api/v1/cases/{reference}", headers=people.headers("trainee")).status_code == 404
    assert client.get(f"/api/v1/cases/{reference}", headers=people.headers("expert")).status_code == 200
    login(client, people.expert.email)
    assert client.get(f"/cases/{reference}").status_code == 200
    with sessions() as s:
        log = s.execute(select(AccessLog.user_id, AccessLog.action, AccessLog.target).order_by(AccessLog.id)).all()
    assert log == [(people.expert.id, "view", "api"), (people.expert.id, "view", "page")]
    login(client, people.coordinator.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "访问记录" in page
    assert "<td>expert</td><td>view api</td>" in page and "<td>expert</td><td>view page</td>" in page
    assert "<td>coordinator</td><td>view page</td>" in page, "coordinators' looks are logged too"


def act(client, reference: str, action: str, **fields):  # noqa: ANN001, ANN201
    token = csrf_token(client.get(f"/cases/{reference}").get_data(as_text=True))
    return client.post(f"/cases/{reference}/actions", data={"csrf_token": token, "action": action, **fields})


def test_the_expert_and_the_enterprise_work_a_case_through_its_page(client, people, sessions, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert", language="en")
    reference = submit()["reference"]
    with sessions.begin() as s:
        assign_expert(s, s.scalar(select(Case).where(Case.reference == reference)))

    login(client, people.expert.email)
    queue = client.get("/queue").get_data(as_text=True)
    assert reference in queue and "1 case(s) need your action" in queue
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Accept the case" in page and "Decline the case" in page
    assert act(client, reference, "accept").status_code == 303
    assert act(client, reference, "accept").status_code == 303  # twice: refused with a message, nothing breaks
    assert "no longer possible" in client.get(f"/cases/{reference}").get_data(as_text=True)
    act(client, reference, "start")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert 'value="request_info"' not in page, "the request is a message that asks (the thread's form)"
    assert write(client, reference, body=" ", request_info="true").status_code == 303
    assert "Write something" in client.get(f"/cases/{reference}").get_data(as_text=True)
    write(client, reference, body="请提供销售发票。", request_info="true")
    token = csrf_token(client.get(f"/cases/{reference}").get_data(as_text=True))
    uploaded = client.post(
        f"/cases/{reference}/documents",
        data={"csrf_token": token, "files": (io.BytesIO(PDF), "比对表.pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303
    nothing = client.post(
        f"/cases/{reference}/documents", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert nothing.status_code == 303 and "Choose at least one file." in client.get(f"/cases/{reference}").get_data(
        as_text=True
    )

    login(client, people.enterprise.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "请提供销售发票。" in page and "您的留言即为答复" in page and 'value="provide_info"' not in page
    answered = write(client, reference, body="发票见附件。", files=(io.BytesIO(PDF), "发票.pdf"))
    assert answered.status_code == 303
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        assert case.status == "in_progress"
        assert [(m.kind, m.body) for m in s.scalars(select(CaseMessage))] == [
            ("request", "请提供销售发票。"),
            ("answer", "发票见附件。"),
        ]
        kinds = {(e.kind, e.uploaded_by) for e in s.scalars(select(Evidence).where(Evidence.case_id == case.id))}
        assert kinds == {("document", people.expert.id), ("answer", people.enterprise.id)}
        answer = s.scalar(select(CaseMessage).where(CaseMessage.kind == "answer"))
        assert [f.filename for f in answer.attachments] == ["发票.pdf"], "the answer's files are with it in the thread"
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "比对表.pdf" in page and "工作文件" in page, "the expert's documents are shown to the enterprise"
    timeline = page[page.index("办理进程") :]
    assert "请提供销售发票。" in timeline and "接受了案件" in timeline


def test_the_queue_filters_and_counts_what_needs_action(client, people, sessions, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert", capacity=10, right_types=["trademark", "patent"])
    refs = [submit()["reference"], submit(right_type="patent")["reference"]]
    with sessions.begin() as s:
        for ref in refs:
            assign_expert(s, s.scalar(select(Case).where(Case.reference == ref)))
    data = client.get("/api/v1/queue", headers=people.headers("expert")).get_json()
    assert data["needs_action"] == 2 and [c["reference"] for c in data["cases"]] == refs
    assert all(c["deadlines"] and c["needs_action"] for c in data["cases"])
    patents = client.get("/api/v1/queue?right_type=patent", headers=people.headers("expert")).get_json()
    assert [c["reference"] for c in patents["cases"]] == refs[1:]
    assert client.get("/api/v1/queue?status=accepted", headers=people.headers("expert")).get_json()["cases"] == []
    login(client, people.enterprise.email)
    assert client.get("/queue").status_code == 403


def test_an_opinion_cannot_be_issued_before_work_starts(client, people, sessions, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = submit()["reference"]
    with sessions.begin() as s:
        assign_expert(s, s.scalar(select(Case).where(Case.reference == reference)))
    login(client, people.expert.email)
    assert client.get(f"/cases/{reference}/opinion/new").status_code == 403
    with sessions() as s:
        assert s.scalars(select(Opinion)).all() == []


COMPENSATION = {
    "summary": "被诉产品落入专利权保护范围，建议按法定赔偿主张。",
    "method": "statutory",
    "infringement_start": "2022-01-01",
    "infringement_end": "2022-12-31",
    "statutory_amount": "200,000",
    "reasonable_expenses": "15000",
    "comments": "权利人损失与侵权获利均难以证明。",
}


def test_an_opinion_is_issued_read_closed_and_rated(client, people, sessions, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert", right_types=["patent"])
    reference = submit(right_type="patent", service="compensation_estimate")["reference"]
    with sessions.begin() as s:
        assign_expert(s, s.scalar(select(Case).where(Case.reference == reference)))
    login(client, people.expert.email)
    act(client, reference, "accept")
    act(client, reference, "start")
    form = client.get(f"/cases/{reference}/opinion/new").get_data(as_text=True)
    assert "30,000" in form, "the statutory range for the right type is shown"
    bad = client.post(f"/cases/{reference}/opinion/new",
                      data={**COMPENSATION, "statutory_amount": "9000000", "csrf_token": csrf_token(form)})  # fmt: skip
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    error = bad.get_data(as_text=True).split('id="statutory_amount-error"', 1)[1].split("</", 1)[0]
    assert "专利法" in error and "Patent Law" not in error, "no English inside a Chinese sentence"
    issued = client.post(f"/cases/{reference}/opinion/new", data={**COMPENSATION, "csrf_token": csrf_token(form)})
    assert issued.status_code == 303, issued.get_data(as_text=True)
    with sessions() as s:
        opinion = s.scalar(select(Opinion))
        assert opinion.body["result"]["law"]["article"] == 71
        assert s.scalar(select(Case.status).where(Case.reference == reference)) == "opinion_issued"

    login(client, people.enterprise.email)
    page = client.get(f"/cases/{reference}/opinion").get_data(as_text=True)
    assert "第七十一条" in page and "200,000.00" in page and COMPENSATION["summary"] in page
    act(client, reference, "close")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "您对本次援助服务满意吗" in page
    token = csrf_token(page)
    assert client.post(f"/cases/{reference}/rating", data={"csrf_token": token, "score": "9"}).status_code == 303
    client.post(f"/cases/{reference}/rating", data={"csrf_token": token, "score": "4", "comment": "专业、及时。"})
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "★★★★☆" in page and "专业、及时。" in page and "您对本次援助服务满意吗" not in page
    again = client.post(f"/cases/{reference}/rating", data={"csrf_token": token, "score": "1"})
    assert again.status_code == 403, "one rating per case"


def test_an_opinion_is_issued_only_by_writing_it_never_by_a_plain_button_or_the_transitions_api(
    client, people, sessions, submit
) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = submit()["reference"]
    with sessions.begin() as s:
        assign_expert(s, s.scalar(select(Case).where(Case.reference == reference)))
    url, expert = f"/api/v1/cases/{reference}/transitions", people.headers("expert")
    for action in ("accept", "start"):
        assert client.post(url, json={"action": action}, headers=expert).status_code == 200
    refused = client.post(url, json={"action": "issue_opinion"}, headers=expert)
    assert refused.status_code == 409
    assert "opinion form" in refused.get_json()["errors"]["action"][0]

    login(client, people.expert.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert 'value="issue_opinion"' not in page, "no plain button issues an opinion"
    assert f"/cases/{reference}/opinion/new" in page, "the page links to the opinion form instead"
    assert act(client, reference, "issue_opinion").status_code == 303  # a form posted by hand: refused
    with sessions() as s:
        assert s.scalar(select(Case.status).where(Case.reference == reference)) == "in_progress"
        assert s.scalars(select(Opinion)).all() == []
    assert client.get(f"/cases/{reference}").status_code == 200


@pytest.fixture
def confidential_case(people, submit):  # noqa: ANN001, ANN201
    """A confidential trademark case, and the experts one could give it to by hand."""
    people.add("cleared", "expert", profile={"confidential_ok": True})
    people.add("uncleared", "expert")
    people.add("trainee", "expert", profile={"is_trainee": True, "confidential_ok": True})
    return submit(confidential=True)["reference"]


def overrides(sessions) -> list[tuple]:  # noqa: ANN001
    with sessions() as s:
        return s.execute(
            select(AdminAudit.action, AdminAudit.subject_id, AdminAudit.case_id).where(
                AdminAudit.action == "clearance_override"
            )
        ).all()


def test_the_api_reassigns_a_confidential_case_only_by_routings_rules_unless_clearance_is_overridden(
    client, people, sessions, confidential_case
) -> None:  # noqa: ANN001
    url, coordinator = f"/api/v1/cases/{confidential_case}/transitions", people.headers("coordinator")

    def reassign(who: str, **extra):  # noqa: ANN202
        body = {"action": "reassign", "expert_id": people.users[who].id, **extra}
        return client.post(url, json=body, headers=coordinator)

    for refused in (reassign("trainee"), reassign("trainee", override_clearance=True)):
        assert refused.status_code == 409 and "trainee" in refused.get_json()["errors"]["expert_id"][0]
    refused = reassign("uncleared")
    assert refused.status_code == 409 and "override_clearance" in refused.get_json()["errors"]["expert_id"][0]
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == confidential_case))
        assert (case.status, case.assigned_expert_id) == ("submitted", None)
    assert client.get(f"/api/v1/cases/{confidential_case}", headers=people.headers("trainee")).status_code == 404
    assert overrides(sessions) == []

    assert reassign("cleared").status_code == 200 and overrides(sessions) == []
    overridden = reassign("uncleared", override_clearance=True)
    assert overridden.status_code == 200 and overridden.get_json()["assigned_expert"]["id"] == people.uncleared.id
    case_id = case.id
    assert overrides(sessions) == [("clearance_override", people.uncleared.id, case_id)]


def test_the_case_page_offers_the_eligible_experts_marks_the_uncleared_and_audits_an_override(
    client, people, sessions, confidential_case
) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    page = client.get(f"/cases/{confidential_case}").get_data(as_text=True)
    form = page.split('name="action" value="reassign"', 1)[1].split("</form>", 1)[0]
    options = dict(re.findall(r'<option value="(\d+)"( class="needs-override")?', form))
    assert options == {str(people.cleared.id): "", str(people.uncleared.id): ' class="needs-override"'}
    assert 'name="override_clearance"' in form

    act(client, confidential_case, "reassign", expert_id=str(people.trainee.id), override_clearance="true")
    refused = act(client, confidential_case, "reassign", expert_id=str(people.uncleared.id))
    assert refused.status_code == 303
    assert "未获准办理保密案件" in client.get(f"/cases/{confidential_case}").get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(Case.assigned_expert_id).where(Case.reference == confidential_case)) is None
    act(client, confidential_case, "reassign", expert_id=str(people.uncleared.id), override_clearance="true")
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == confidential_case))
        assert case.assigned_expert_id == people.uncleared.id
    assert overrides(sessions) == [("clearance_override", people.uncleared.id, case.id)]
