"""Difficult cases and their panel (issue 19, item 2): marking a case difficult, convening a panel
of further experts held to the conflict, clearance, language and capacity rules, seats counted as
load while the panel sits and given back after, members who see the case and write internal
views, mail in each member's language, the opinion's conclusion and dissent, the desk and digest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from marshmallow import ValidationError
from sqlalchemy import select, update

from tests.test_accounts import send_mail, subject
from tests.test_audit import audits
from tests.test_status_mail import act, mailed
from tests.test_web import csrf_token, login
from workstation.opinions import form_to_opinion_input, load_opinion, opinion_fields
from workstation.services.cases import transition
from workstation.services.digest import build_digest, digest_period
from workstation.services.models import Case, ExpertProfile, PanelSeat, User, utcnow
from workstation.services.panels import PanelError, convene_panel

RESPONDENT = "深圳仿冒贸易有限公司"
CASE = {
    "right_type": "trademark",
    "service": "infringement_judgment",
    "title": "仿冒“星河”商标的商品",
    "description": "某网店销售带有与我司注册商标近似标志的商品。",
    "parties": [{"role": "respondent", "name": RESPONDENT}],
}


def submit(client, people, **overrides: object) -> str:  # noqa: ANN001
    response = client.post("/api/v1/cases", json={**CASE, **overrides}, headers=people.headers("enterprise"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def worked_by(client, people, sessions, lead: User, **overrides: object) -> str:  # noqa: ANN001
    """A case ``lead`` holds and works (assigned, accepted, started)."""
    reference = submit(client, people, **overrides)
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "assign", None, expert_id=lead.id)
    act(client, people, reference, lead.name, "accept")
    act(client, people, reference, lead.name, "start")
    return reference


def loads(sessions, *experts: User) -> list[int]:  # noqa: ANN001
    with sessions() as s:
        return [s.get(ExpertProfile, e.id).active_cases for e in experts]


def api(client, people, who: str, method: str, path: str, **body: object):  # noqa: ANN001, ANN201
    return client.open(path, method=method, json=body if body else None, headers=people.headers(who))


@pytest.fixture
def team(people):  # noqa: ANN001, ANN201
    people.add("lead", "expert")
    people.add("member", "expert", language="en", profile={"languages": ["zh", "en"]})
    people.add("second", "expert")
    people.add("conflicted", "expert", organisation=RESPONDENT)
    people.add("english_only", "expert", profile={"languages": ["en"]})
    people.add("trainee", "expert", profile={"is_trainee": True})
    return people


def test_a_panel_is_held_to_the_rules_counted_as_load_and_given_back(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    reference = worked_by(client, people, sessions, people.lead)
    panel = f"/api/v1/cases/{reference}/panel"
    members = [people.member.id, people.second.id]
    refused = api(client, people, "coordinator", "POST", panel, expert_ids=members)
    assert refused.status_code == 409 and "difficult" in refused.get_json()["errors"]["_request"][0]
    assert api(client, people, "member", "POST", f"/api/v1/cases/{reference}/difficult", reason="x").status_code == 404
    assert (
        api(client, people, "enterprise", "POST", f"/api/v1/cases/{reference}/difficult", reason="x").status_code == 403
    )
    marked = api(
        client, people, "lead", "POST", f"/api/v1/cases/{reference}/difficult", reason="涉及外观设计与商标交叉"
    )
    assert marked.status_code == 200 and marked.get_json()["reason"] == "涉及外观设计与商标交叉"
    assert api(client, people, "lead", "POST", panel, expert_ids=members).status_code == 403, "coordinators convene"

    # Every rule, with its reason; nobody is seated when one is refused.
    ineligible = [people.conflicted.id, people.english_only.id, people.trainee.id]
    refused = api(client, people, "coordinator", "POST", panel, expert_ids=ineligible)
    assert refused.status_code == 400
    reasons = refused.get_json()["errors"]["expert_ids"]
    assert f"{people.conflicted.id}: conflict of interest: works for a party to the case" in reasons
    assert f"{people.english_only.id}: speaks none of the case's languages" in reasons
    assert any(r.startswith(f"{people.trainee.id}: trainees") for r in reasons)
    assert api(client, people, "coordinator", "POST", panel, expert_ids=[people.member.id]).status_code == 400
    lead_too = api(client, people, "coordinator", "POST", panel, expert_ids=[people.member.id, people.lead.id])
    assert lead_too.status_code == 400 and "own expert" in lead_too.get_json()["errors"]["_request"][0]
    assert loads(sessions, people.member, people.second) == [0, 0]

    convened = api(client, people, "coordinator", "POST", panel, expert_ids=members)
    assert convened.status_code == 201, convened.get_json()
    assert convened.get_json()["sitting"] and [m["id"] for m in convened.get_json()["members"]] == members
    assert loads(sessions, people.member, people.second) == [1, 1], "a seat counts against capacity"
    assert api(client, people, "coordinator", "POST", panel, expert_ids=[people.conflicted.id, people.trainee.id]
               ).status_code == 409, "one panel at a time"  # fmt: skip
    assert [a.action for a in audits(sessions)][-1:] == ["panel_convened"]

    # Members see the case and write views; the enterprise never sees them.
    assert api(client, people, "member", "GET", f"/api/v1/cases/{reference}").status_code == 200
    view = api(client, people, "member", "POST", f"{panel}/views", body="我认为构成近似，但需补充证据。")
    assert view.status_code == 201 and view.get_json()["views"][0]["body"] == "我认为构成近似，但需补充证据。"
    assert api(client, people, "lead", "POST", f"{panel}/views", body="not a member").status_code == 403
    assert api(client, people, "enterprise", "GET", panel).status_code == 403
    thread = api(client, people, "enterprise", "GET", f"/api/v1/cases/{reference}/messages").get_json()
    events = api(client, people, "enterprise", "GET", f"/api/v1/cases/{reference}/events").get_json()
    seen = str(thread) + str(events)
    assert "构成近似" not in seen and "convene_panel" not in seen and "mark_difficult" not in seen
    assert "构成近似" in str(api(client, people, "lead", "GET", f"/api/v1/cases/{reference}/messages").get_json())

    dissolved = api(client, people, "coordinator", "DELETE", panel)
    assert dissolved.status_code == 200 and not dissolved.get_json()["sitting"]
    assert loads(sessions, people.member, people.second) == [0, 0], "seats given back"
    assert api(client, people, "member", "POST", f"{panel}/views", body="late").status_code == 409
    assert api(client, people, "coordinator", "DELETE", panel).status_code == 409
    assert [a.action for a in audits(sessions)][-1:] == ["panel_dissolved"]


def test_a_full_expert_is_refused_even_when_the_last_slot_goes_meanwhile(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    full = people.add("full", "expert", capacity=1)
    reference = worked_by(client, people, sessions, people.lead)
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/difficult", reason="疑难")
    other = worked_by(client, people, sessions, full)  # its one slot taken
    assert other
    refused = api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/panel",
                  expert_ids=[people.member.id, full.id])  # fmt: skip
    assert refused.status_code == 400 and refused.get_json()["errors"]["expert_ids"] == [f"{full.id}: at capacity"]

    # Read with room, filled by someone else before the seat is taken: the conditional update refuses.
    roomy = people.add("roomy", "expert", capacity=1)
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        s.get(ExpertProfile, roomy.id)  # (as read before the other transaction committed)
        s.execute(update(ExpertProfile).where(ExpertProfile.user_id == roomy.id).values(active_cases=1),
                  execution_options={"synchronize_session": False})  # fmt: skip
        with pytest.raises(PanelError) as err:
            convene_panel(s, case, s.get(User, people.coordinator.id), [people.member.id, roomy.id])
        assert err.value.refused == {roomy.id: "at capacity"}
        s.rollback()
    assert loads(sessions, people.member) == [0], "a refused panel takes nobody's slot"


def test_seats_are_given_back_when_the_case_is_withdrawn_or_its_opinion_issued(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    for end in ("withdraw", "issue_opinion"):
        reference = worked_by(client, people, sessions, people.lead)
        api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/difficult", reason="疑难")
        members = [people.member.id, people.second.id]
        assert api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/panel",
                   expert_ids=members).status_code == 201  # fmt: skip
        assert loads(sessions, people.member, people.second) == [1, 1]
        with sessions.begin() as s:
            case = s.scalar(select(Case).where(Case.reference == reference))
            actor = s.get(User, people.enterprise.id if end == "withdraw" else people.lead.id)
            transition(s, case, end, actor)
        assert loads(sessions, people.member, people.second) == [0, 0], end
        with sessions() as s:
            seats = s.scalars(select(PanelSeat).join(Case).where(Case.reference == reference)).all()
            assert len(seats) == 2 and all(seat.released_at is not None for seat in seats)
        # Members still read the case their view is part of.
        assert api(client, people, "member", "GET", f"/api/v1/cases/{reference}").status_code == 200


def test_a_confidential_case_s_panel_is_cleared_members_only(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    cleared = [people.add(key, "expert", profile={"confidential_ok": True}) for key in ("cleared", "cleared_too")]
    reference = worked_by(client, people, sessions, people.lead, right_type="trade_secret")
    api(client, people, "lead", "POST", f"/api/v1/cases/{reference}/difficult", reason="技术秘密范围难以界定")
    panel = f"/api/v1/cases/{reference}/panel"
    refused = api(client, people, "coordinator", "POST", panel, expert_ids=[cleared[0].id, people.member.id])
    assert refused.get_json()["errors"]["expert_ids"] == [f"{people.member.id}: not cleared for confidential cases"]
    assert api(client, people, "coordinator", "POST", panel, expert_ids=[e.id for e in cleared]).status_code == 201
    assert api(client, people, "cleared", "GET", f"/api/v1/cases/{reference}").status_code == 200
    with sessions.begin() as s:
        s.get(ExpertProfile, cleared[0].id).confidential_ok = False
    assert api(client, people, "cleared", "GET", f"/api/v1/cases/{reference}").status_code == 404, "clearance withdrawn"


def test_members_and_the_lead_are_mailed_in_their_language(client, team, sessions, config) -> None:  # noqa: ANN001
    people = team
    reference = worked_by(client, people, sessions, people.lead)
    api(client, people, "lead", "POST", f"/api/v1/cases/{reference}/difficult", reason="跨类别近似判断")
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/panel",
        expert_ids=[people.member.id, people.second.id])  # fmt: skip
    assert send_mail(config, sessions, "case.marked_difficult") == ["done"]
    assert send_mail(config, sessions, "case.panel_convened") == ["done"]
    difficult = mailed(config, "case_marked_difficult")
    assert people.coordinator.email in difficult and people.lead.email not in difficult, "not to who marked it"
    convened = mailed(config, "panel_convened")
    assert set(convened) == {people.member.email, people.second.email, people.lead.email}
    assert subject(convened[people.member.email]) == f"You are on the panel of the difficult case {reference}"
    assert subject(convened[people.second.email]) == f"您已加入疑难案件 {reference} 的专家组"
    assert "专家组" in subject(convened[people.lead.email])
    assert people.enterprise.email not in convened
    api(client, people, "coordinator", "DELETE", f"/api/v1/cases/{reference}/panel")
    assert send_mail(config, sessions, "case.panel_dissolved") == ["done"]
    assert set(mailed(config, "panel_dissolved")) == {people.member.email, people.second.email}


def test_the_opinion_records_the_panel_s_conclusion_and_any_dissent() -> None:
    body = {"summary": "构成侵权的可能性较大。", "question": "是否构成侵权？", "answer": "标志近似，商品相同。"}
    with pytest.raises(ValidationError) as err:
        load_opinion("consultation", body, "trademark", panel_sat=True)
    assert set(err.value.messages) == {"panel_conclusion"}, "required when a panel sat"
    with pytest.raises(ValidationError) as err:
        load_opinion("consultation", {**body, "panel_conclusion": "x"}, "trademark")
    assert set(err.value.messages) == {"panel_conclusion"}, "no panel, no conclusion of one"
    form = {**body, "panel_conclusion": "专家组多数认为构成侵权。", "panel_dissent": "一位专家认为证据不足。"}
    stored = load_opinion("consultation", form_to_opinion_input("consultation", form), "trademark",
                          panel_sat=True)  # fmt: skip
    assert (
        stored["panel_conclusion"] == "专家组多数认为构成侵权。" and stored["panel_dissent"] == "一位专家认为证据不足。"
    )
    names = [f.name for f in opinion_fields("consultation", panel_sat=True)]
    assert names[-2:] == ["panel_conclusion", "panel_dissent"]
    assert "panel_conclusion" not in [f.name for f in opinion_fields("consultation")]


def page_form(client, path: str) -> tuple[str, str]:  # noqa: ANN001
    page = client.get(path).get_data(as_text=True)
    return page, csrf_token(page)


def test_on_the_web_a_panel_is_convened_its_views_written_and_its_conclusion_issued(app, team, sessions) -> None:  # noqa: ANN001
    people = team
    reference = worked_by(app.test_client(), people, sessions, people.lead)
    lead, coordinator, member, enterprise = (app.test_client() for _ in range(4))
    login(lead, people.lead.email)
    page, token = page_form(lead, f"/cases/{reference}")
    assert 'id="difficult-reason"' in page and "组建专家组" not in page, "the expert marks, coordinators convene"
    marked = lead.post(f"/cases/{reference}/difficult", data={"csrf_token": token, "reason": "商标与著作权交叉"})
    assert marked.status_code == 303

    login(coordinator, people.coordinator.email)
    page, token = page_form(coordinator, f"/cases/{reference}")
    assert "商标与著作权交叉" in page and 'name="expert_id"' in page
    assert "利益冲突：任职于案件一方" in page, "a refused expert is listed with the reason"
    convene = page[page.index('id="panel-title"') :]
    assert f'name="expert_id" value="{people.conflicted.id}" disabled' in convene
    assert f'name="expert_id" value="{people.lead.id}"' not in convene, "the lead is not on their own panel"
    chosen = {"csrf_token": token, "expert_id": [str(people.member.id), str(people.conflicted.id)]}
    coordinator.post(f"/cases/{reference}/panel", data=chosen)
    assert "未能组建" in coordinator.get(f"/cases/{reference}").get_data(as_text=True)
    chosen["expert_id"] = [str(people.member.id), str(people.second.id)]
    assert coordinator.post(f"/cases/{reference}/panel", data=chosen).status_code == 303
    desk = coordinator.get("/coordinator/").get_data(as_text=True)
    pile = desk[desk.index('id="difficult"') : desk.index('id="panel-load"')]
    assert reference in pile and "2 人在组" in pile
    load = desk[desk.index('id="panel-load"') : desk.index("</section>", desk.index('id="panel-load"'))]
    assert people.member.name in load and people.second.name in load and people.lead.name not in load

    login(member, people.member.email)
    page, token = page_form(member, f"/cases/{reference}")
    assert 'id="panel-view"' in page and "商标与著作权交叉" in page
    queue = member.get("/queue").get_data(as_text=True)
    assert reference in queue and "on its panel" in queue and "shadowing" not in queue
    member.post(f"/cases/{reference}/panel/views", data={"csrf_token": token, "body": "我倾向于认定构成侵权。"})
    assert "我倾向于认定构成侵权。" in lead.get(f"/cases/{reference}").get_data(as_text=True)

    login(enterprise, people.enterprise.email)
    seen = enterprise.get(f"/cases/{reference}").get_data(as_text=True)
    assert "我倾向于认定构成侵权" not in seen and "商标与著作权交叉" not in seen and "专家组" not in seen

    form, token = page_form(lead, f"/cases/{reference}/opinion/new")
    assert 'name="panel_conclusion"' in form and 'name="panel_dissent"' in form
    opinion = {"csrf_token": token, "summary": "构成侵权。", "rights_relied_on": "第123号商标",
               "accused_subject": "网店商品", "comparison": "标志近似，商品相同。", "conclusion": "likely",
               "next_steps": "发送律师函。"}  # fmt: skip
    assert lead.post(f"/cases/{reference}/opinion/new", data=opinion).status_code == 400, "the conclusion is required"
    opinion |= {"panel_conclusion": "专家组一致认为构成侵权。", "panel_dissent": ""}
    assert lead.post(f"/cases/{reference}/opinion/new", data=opinion).status_code == 303
    printed = enterprise.get(f"/cases/{reference}/opinion").get_data(as_text=True)
    dissent = printed[printed.index("不同意见") :]
    assert "专家组一致认为构成侵权。" in printed and dissent.index("无") < dissent.index("</div>"), "none, said"
    assert loads(sessions, people.member, people.second) == [0, 0], "the opinion ends the panel"


def test_the_digest_counts_difficult_cases_and_panels(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    first, second = (worked_by(client, people, sessions, people.lead) for _ in range(2))
    for reference in (first, second):
        api(client, people, "lead", "POST", f"/api/v1/cases/{reference}/difficult", reason="疑难")
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{first}/panel",
        expert_ids=[people.member.id, people.second.id])  # fmt: skip
    now = utcnow()
    with sessions() as s:
        digest = build_digest(s, digest_period("daily", 8, "Asia/Shanghai", now + timedelta(days=1)), now)
    assert (digest.difficult_total, digest.panels_sitting, digest.panel_seats, digest.panels_convened) == (2, 1, 2, 1)


def test_a_member_given_the_case_leaves_the_panel_and_holds_one_slot(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    reference = worked_by(client, people, sessions, people.lead)
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/difficult", reason="疑难")
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/panel",
        expert_ids=[people.member.id, people.second.id])  # fmt: skip
    act(client, people, reference, "coordinator", "reassign", expert_id=people.member.id)
    assert loads(sessions, people.lead, people.member, people.second) == [0, 1, 1]
    members = api(client, people, "coordinator", "GET", f"/api/v1/cases/{reference}/panel").get_json()["members"]
    assert [m["released_at"] is None for m in members] == [False, True]


def test_a_view_in_the_thread_is_a_message_kind_the_openapi_document_names(client, team, sessions) -> None:  # noqa: ANN001
    from workstation.web.openapi import openapi_document

    people = team
    reference = worked_by(client, people, sessions, people.lead)
    api(client, people, "lead", "POST", f"/api/v1/cases/{reference}/difficult", reason="跨类别近似判断")
    api(client, people, "coordinator", "POST", f"/api/v1/cases/{reference}/panel",
        expert_ids=[people.member.id, people.second.id])  # fmt: skip
    api(client, people, "member", "POST", f"/api/v1/cases/{reference}/panel/views", body="我倾向于认定构成侵权。")
    thread = api(client, people, "lead", "GET", f"/api/v1/cases/{reference}/messages").get_json()["messages"]
    assert [(m["kind"], m["internal"]) for m in thread] == [("panel_view", True)]
    kinds = openapi_document()["components"]["schemas"]["Message"]["properties"]["kind"]["enum"]
    assert {m["kind"] for m in thread} <= set(kinds)
    assert api(client, people, "enterprise", "GET", f"/api/v1/cases/{reference}/messages").get_json()["messages"] == []
