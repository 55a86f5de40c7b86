"""Classifying the cases opened by mail (issue 18): the desk lists them first, marked; a coordinator
sets the right type and service (the desk's form, the case page, the API), which is an event with
its outbox row and an audit row; routing then looks at the case again with the new facts."""

from __future__ import annotations

from sqlalchemy import select

from tests import test_batches
from tests.test_audit import audits
from tests.test_batches import outbox, run
from tests.test_web import csrf_token, login
from workers import routing
from workstation import lifecycle
from workstation.services.cases import transition
from workstation.services.models import Case, CaseEvent, ExpertProfile, User
from workstation.services.schemas import case_input_schema
from workstation.services.submission import write_submission

ctx = test_batches.ctx


def opened_by_mail(sessions, people, title: str = "网店仿冒我司商标") -> str:  # noqa: ANN001
    """A case as ``services.mailin.open_case`` writes it (other / consultation, to classify)."""
    data = case_input_schema.load({"right_type": "other", "service": "consultation", "title": title,
                                   "description": "某网店销售带有我司商标的商品，请专家看看。"})  # fmt: skip
    with sessions.begin() as s:
        case = write_submission(s.connection(), data, enterprise_id=people.enterprise.id,
                                detail={"via": "mail", "to_classify": True})  # fmt: skip
    return case.reference


def case_of(sessions, reference: str) -> Case:  # noqa: ANN001
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        s.expunge_all()
        return case


def events_of(sessions, reference: str) -> list[tuple[str, str]]:  # noqa: ANN001
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        return [(e.action, e.to_status) for e in case.events]


def load_of(sessions, *experts: User) -> list[int]:  # noqa: ANN001
    with sessions() as s:
        return [s.get(ExpertProfile, e.id).active_cases for e in experts]


def classify_on_the_desk(client, reference: str, right_type: str, service: str, **extra: str):  # noqa: ANN001, ANN201
    token = csrf_token(client.get("/coordinator/").get_data(as_text=True))
    data = {"csrf_token": token, "right_type": right_type, "service": service, **extra}
    return client.post(f"/coordinator/cases/{reference}/classify", data=data)


def route(ctx, sessions, key: str) -> None:  # noqa: ANN001
    """Hand the routing consumer every event ``key`` (those handled before change nothing)."""
    events = outbox(sessions, key)
    assert run(ctx, routing, events) == ["done"] * len(events)


def test_the_desk_shows_cases_to_classify_first_and_a_coordinator_classifies_one(
    app, client, people, sessions, submit
) -> None:  # noqa: ANN001
    ordinary = submit()["reference"]
    reference = opened_by_mail(sessions, people)
    assert case_of(sessions, reference).to_classify and not case_of(sessions, ordinary).to_classify
    login(client, people.coordinator.email)
    desk = client.get("/coordinator/").get_data(as_text=True)
    pile = desk[desk.index('id="to-classify"') : desk.index('id="pile-title"')]
    assert desk.index('id="to-classify"') < desk.index('id="pile-title"'), "the first pile on the desk"
    assert reference in pile and ordinary not in pile and "待分类" in pile
    assert f'action="/coordinator/cases/{reference}/classify"' in pile

    asked = {"right_type": "trademark", "service": "infringement_judgment"}
    refused = client.post(f"/coordinator/cases/{reference}/classify", data=asked)
    assert refused.status_code == 400, "no CSRF token, no change"
    assert classify_on_the_desk(client, reference, "trademark", "no_such_service").status_code == 303
    assert case_of(sessions, reference).to_classify, "a service that does not exist changes nothing"

    done = classify_on_the_desk(client, reference, "trademark", "infringement_judgment")
    assert done.status_code == 303 and done.headers["Location"].endswith("/coordinator/")
    case = case_of(sessions, reference)
    assert (case.right_type, case.service, case.to_classify) == ("trademark", "infringement_judgment", False)
    with sessions() as s:
        event = s.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "classify"))
    assert (event.from_status, event.to_status, event.actor_id) == ("submitted", "submitted", people.coordinator.id)
    assert event.detail == {"right_type": ["other", "trademark"], "service": ["consultation", "infringement_judgment"],
                            "to_classify": True}  # fmt: skip
    (told,) = [e.body for e in outbox(sessions, "case.classified")]
    assert told == {"case_id": case.id, "reference": reference, "event_id": event.id,
                    "previous": {"right_type": "other", "service": "consultation", "confidential": False}}  # fmt: skip
    (row,) = audits(sessions, "case_classified")
    assert (row.actor_id, row.case_id) == (people.coordinator.id, case.id)
    assert row.detail["changes"]["right_type"] == ["other", "trademark"]

    desk = client.get("/coordinator/").get_data(as_text=True)
    assert f"{reference} 已改为商标、侵权判定，系统正在重新分派。" in desk  # (the flash, in the coordinator's language)
    pile = desk[desk.index('id="to-classify"') : desk.index('id="pile-title"')]
    assert reference not in pile, "classified: off the pile"
    assert classify_on_the_desk(client, reference, "trademark", "infringement_judgment").status_code == 303
    assert len(outbox(sessions, "case.classified")) == 1, "the same facts again: nothing to route"
    login(client, people.enterprise.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "协调员设置了案件的权利类型和服务类型" in page and "/classify" not in page


def test_classifying_on_the_case_page_and_confirming_other_consultation(client, people, sessions) -> None:  # noqa: ANN001
    reference = opened_by_mail(sessions, people)
    login(client, people.coordinator.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "待分类" in page and f'action="/coordinator/cases/{reference}/classify"' in page
    token = csrf_token(page)
    asked = {"csrf_token": token, "right_type": "other", "service": "consultation", "back": "case"}
    kept = client.post(f"/coordinator/cases/{reference}/classify", data=asked)
    assert kept.status_code == 303 and kept.headers["Location"].endswith(f"/cases/{reference}")
    assert not case_of(sessions, reference).to_classify, "confirmed as it is: the mark is cleared"
    assert events_of(sessions, reference)[-1] == ("classify", "submitted")
    assert outbox(sessions, "case.classified") == [], "nothing changed for routing"


def test_routing_again_replaces_an_assigned_expert_who_does_not_handle_the_new_right_type(
    ctx, client, people, sessions
) -> None:  # noqa: ANN001
    generalist = people.add("generalist", "expert", right_types=["other"])
    patents = people.add("patents", "expert", right_types=["patent"])
    reference = opened_by_mail(sessions, people)
    route(ctx, sessions, "case.submitted")
    assert case_of(sessions, reference).assigned_expert_id == generalist.id
    login(client, people.coordinator.email)
    assert classify_on_the_desk(client, reference, "patent", "infringement_judgment").status_code == 303
    route(ctx, sessions, "case.classified")
    case = case_of(sessions, reference)
    assert (case.status, case.assigned_expert_id) == ("assigned", patents.id)
    assert events_of(sessions, reference)[-2:] == [("classify", "assigned"), ("reroute", "assigned")]
    assert load_of(sessions, generalist, patents) == [0, 1], "the slot moved with the case"
    route(ctx, sessions, "case.classified")  # (given again: changes nothing)
    assert len(events_of(sessions, reference)) == 4
    login(client, people.enterprise.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "案件已转交给patents，其办理该案件分类后的权利类型和服务" in page


def test_routing_again_keeps_an_expert_who_still_fits_or_was_placed_by_hand(ctx, client, people, sessions) -> None:  # noqa: ANN001
    both = people.add("both", "expert", right_types=["other", "trademark"])
    marks = people.add("marks", "expert", right_types=["trademark"])
    kept = opened_by_mail(sessions, people)
    placed = opened_by_mail(sessions, people, title="另一封邮件")
    route(ctx, sessions, "case.submitted")
    with sessions.begin() as s:
        for reference in (kept, placed):
            case = s.scalar(select(Case).where(Case.reference == reference))
            transition(s, case, "accept", s.get(User, both.id))
        # A coordinator gave the second to an expert who does not handle "other": on purpose.
        case = s.scalar(select(Case).where(Case.reference == placed))
        transition(s, case, "reassign", s.get(User, people.coordinator.id), expert_id=marks.id)
    login(client, people.coordinator.email)
    classify_on_the_desk(client, kept, "trademark", "consultation")
    classify_on_the_desk(client, placed, "copyright", "consultation")
    route(ctx, sessions, "case.classified")
    assert (case_of(sessions, kept).status, case_of(sessions, kept).assigned_expert_id) == ("accepted", both.id)
    assert (case_of(sessions, placed).status, case_of(sessions, placed).assigned_expert_id) == ("assigned", marks.id)
    assert events_of(sessions, kept)[-1][0] == "classify" and events_of(sessions, placed)[-1][0] == "classify"


def test_a_case_at_work_whose_expert_no_longer_fits_goes_to_the_coordinators_when_nobody_does(
    ctx, client, people, sessions
) -> None:  # noqa: ANN001
    generalist = people.add("generalist", "expert", right_types=["other"])
    people.add("trainee", "expert", right_types=["other"], profile={"is_trainee": True,
                                                                    "supervisor_id": generalist.id})  # fmt: skip
    reference = opened_by_mail(sessions, people)
    route(ctx, sessions, "case.submitted")
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        for action in ("accept", "start"):
            transition(s, case, action, s.get(User, generalist.id))
    assert case_of(sessions, reference).shadow_expert_id == people.trainee.id
    login(client, people.coordinator.email)
    classify_on_the_desk(client, reference, "trade_secret", "litigation_advice")
    case = case_of(sessions, reference)
    assert case.confidential and case.shadow_expert_id is None, "a trade secret: confidential, no trainee"
    route(ctx, sessions, "case.classified")
    case = case_of(sessions, reference)
    assert (case.status, case.assigned_expert_id) == (lifecycle.AWAITING_EXPERT, None)
    assert load_of(sessions, generalist) == [0]
    desk = client.get("/coordinator/").get_data(as_text=True)
    assert reference in desk[desk.index('id="pile-title"') : desk.index('id="breach-title"')]


def test_a_case_waiting_for_an_expert_is_assigned_when_one_fits_its_new_facts(ctx, client, people, sessions) -> None:  # noqa: ANN001
    decliner = people.add("decliner", "expert", right_types=["other", "patent"])
    reference = opened_by_mail(sessions, people)
    route(ctx, sessions, "case.submitted")
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "decline", s.get(User, decliner.id), reason="与申请人有业务往来")
    route(ctx, sessions, "case.declined")  # (nobody else handles "other")
    assert case_of(sessions, reference).status == lifecycle.AWAITING_EXPERT
    login(client, people.coordinator.email)
    classify_on_the_desk(client, reference, "patent", "consultation")
    route(ctx, sessions, "case.classified")
    assert case_of(sessions, reference).status == lifecycle.AWAITING_EXPERT, "not back to who declined it"
    assert [a for a, _ in events_of(sessions, reference)][-2:] == ["escalate", "classify"], "and no new event"
    expert = people.add("expert", "expert", right_types=["patent"])
    classify_on_the_desk(client, reference, "patent", "infringement_judgment")
    route(ctx, sessions, "case.classified")
    case = case_of(sessions, reference)
    assert (case.status, case.assigned_expert_id) == (lifecycle.ASSIGNED, expert.id)


def test_the_api_classifies_for_coordinators_only(client, people, sessions, submit) -> None:  # noqa: ANN001
    reference = opened_by_mail(sessions, people)
    url = f"/api/v1/cases/{reference}/classification"
    body = {"right_type": "copyright", "service": "litigation_advice"}
    for who in ("enterprise", "other_enterprise"):
        refused = client.post(url, json=body, headers=people.headers(who))
        assert refused.status_code == 403 and refused.get_json()["errors"]["_request"]
    coordinator = people.headers("coordinator")
    bad = client.post(url, json={"right_type": "software", "service": "consultation"}, headers=coordinator)
    assert bad.status_code == 400 and list(bad.get_json()["errors"]) == ["right_type"]
    assert client.post(url, json={**body, "x": 1}, headers=coordinator).status_code == 400
    nowhere = client.post("/api/v1/cases/RPA-2026-999999/classification", json=body, headers=coordinator)
    assert nowhere.status_code == 404
    done = client.post(url, json=body, headers=coordinator)
    assert done.status_code == 200, done.get_json()
    shown = done.get_json()
    assert (shown["right_type"], shown["service"], shown["to_classify"]) == ("copyright", "litigation_advice", False)
    read = client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()
    assert read["to_classify"] is False
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "withdraw", s.get(User, people.enterprise.id))
    late = client.post(url, json={"right_type": "patent", "service": "consultation"}, headers=coordinator)
    assert late.status_code == 409, "a withdrawn case is not classified"
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/cases/{reference}/classification"]
