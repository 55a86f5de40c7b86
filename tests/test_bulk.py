"""Bulk actions (issue 20 item 3), on both databases: one action on many cases, each case through
the single action's own rules, event, outbox row and audit, in a savepoint of its own; a case
refused is reported with why and undoes nothing of the others; coordinators only; the cases named
by references, a saved view or a search, at most ``MAX_CASES``; the desk's form and result page in
both languages; ``POST /api/v1/bulk-actions`` with an Idempotency-Key."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import People
from tests.test_web import csrf_token, login
from workstation import bulk as rules
from workstation.i18n import Message, translate, translations
from workstation.services.models import AccessLog, AdminAudit, Case, CaseEvent, OutboxMessage, Referral

URL = "/api/v1/bulk-actions"


@pytest.fixture
def cases(people: People, submit) -> list[str]:  # noqa: ANN001
    """Three submitted cases (the newest first, as a search lists them) and an expert to give them to."""
    people.add("expert", "expert")
    return [submit(title=f"案件{n}")["reference"] for n in range(3)][::-1]


def bulk(client, people: People, who: str = "coordinator", status: int = 200, **body: Any) -> dict:  # noqa: ANN001
    answer = client.post(URL, json=body, headers=people.headers(who))
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def events(sessions, action: str) -> dict[str, int]:  # noqa: ANN001
    """How many events of ``action`` each case has, by reference."""
    with sessions() as s:
        rows = s.execute(select(Case.reference, func.count()).join(CaseEvent, CaseEvent.case_id == Case.id)
                         .where(CaseEvent.action == action).group_by(Case.reference)).all()  # fmt: skip
    return dict(rows)


def outbox(sessions, routing_key: str) -> list[str]:  # noqa: ANN001
    with sessions() as s:
        return sorted(p["reference"] for p in s.scalars(select(OutboxMessage.payload)
                                                        .where(OutboxMessage.routing_key == routing_key)))  # fmt: skip


def set_status(sessions, reference: str, status: str) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.scalar(select(Case).where(Case.reference == reference)).status = status


def test_a_refused_case_is_reported_with_why_and_the_others_are_each_moved_with_their_own_event(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    withdrawn = client.post(f"/api/v1/cases/{cases[1]}/transitions", json={"action": "withdraw"},
                            headers=people.headers("enterprise"))  # fmt: skip
    assert withdrawn.status_code == 200
    asked = [cases[0], cases[1], "RPA-2000-000000", cases[2], cases[0]]
    answer = bulk(client, people, action="reassign", expert_id=people.expert.id, references=asked, reason="集中处理")
    assert answer["action"] == "reassign" and (answer["total"], answer["done"], answer["failed"]) == (4, 2, 2)
    results = answer["results"]
    assert [r["reference"] for r in results] == [cases[0], cases[1], "RPA-2000-000000", cases[2]]
    assert [r["done"] for r in results] == [True, False, False, True]
    assert results[1]["problem"] == "Not possible while the case is Withdrawn."
    assert results[2]["problem"] == "No such case."
    assert results[0]["problem"] is None
    # each case moved has its own event and its own outbox row; the refused one has neither
    assert events(sessions, "reassign") == {cases[0]: 1, cases[2]: 1}
    assert outbox(sessions, "case.assigned") == sorted([cases[0], cases[2]])
    with sessions() as s:
        held = dict(s.execute(select(Case.reference, Case.assigned_expert_id)).all())
        assert held[cases[0]] == held[cases[2]] == people.expert.id and held[cases[1]] is None
        reassigned = s.scalars(select(AdminAudit).where(AdminAudit.action == "case_reassigned")).all()
        assert len(reassigned) == 2  # the single action's own audit, case by case
        summary = s.scalar(select(AdminAudit).where(AdminAudit.action == "bulk_action"))
        assert summary.detail["done"] == [cases[0], cases[2]]
        assert summary.detail["failed"] == [cases[1], "RPA-2000-000000"]


def test_close_gives_each_case_its_own_close_event_and_refuses_a_case_without_an_opinion(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    for reference in cases[:2]:
        set_status(sessions, reference, "opinion_issued")
    answer = bulk(client, people, action="close", references=cases)
    assert [r["done"] for r in answer["results"]] == [True, True, False]
    assert answer["results"][2]["problem"] == "Not possible while the case is Submitted."
    assert events(sessions, "close") == {cases[0]: 1, cases[1]: 1}
    assert outbox(sessions, "case.closed") == sorted(cases[:2])


def test_classify_re_routes_each_case_and_a_case_already_so_is_reported_unchanged(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    set_status(sessions, cases[2], "closed")
    answer = bulk(client, people, action="classify", references=cases, right_type="patent", service="consultation")
    assert [r["done"] for r in answer["results"]] == [True, True, False]
    assert "Closed" in answer["results"][2]["problem"]
    assert outbox(sessions, "case.classified") == sorted(cases[:2])
    again = bulk(client, people, action="classify", references=cases[:1], right_type="patent", service="consultation")
    assert again["results"][0] == {"reference": cases[0], "done": False,
                                   "problem": "Nothing to change: the case already is so."}  # fmt: skip
    assert events(sessions, "classify") == {cases[0]: 1, cases[1]: 1}


def test_mark_difficult_and_refer_are_the_single_actions_case_by_case(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    bulk(client, people, action="reassign", expert_id=people.expert.id, references=cases[:2])
    marked = bulk(client, people, action="mark_difficult", references=cases, reason="涉及多个被诉侵权人")
    assert [r["done"] for r in marked["results"]] == [True, True, False]  # (the third has no expert working it)
    assert outbox(sessions, "case.marked_difficult") == sorted(cases[:2])
    partner = client.post("/api/v1/partners", json={"name": "西安市市场监督管理局", "kind": "market_supervision"},
                          headers=people.headers("coordinator")).get_json()  # fmt: skip
    referred = bulk(client, people, action="refer", references=cases, partner_id=partner["id"], question="请协助查处")
    assert referred["done"] == 3
    with sessions() as s:
        assert sorted(s.scalars(select(Referral.case_id))) == sorted(s.scalars(select(Case.id)))
    assert events(sessions, "refer") == dict.fromkeys(cases, 1)


def test_the_same_panel_is_convened_on_each_difficult_case_and_each_refusal_names_the_expert(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    members = [people.add(key, "expert", capacity=cap).id for key, cap in (("li", 5), ("zhao", 1))]
    bulk(client, people, action="reassign", expert_id=people.expert.id, references=cases)
    bulk(client, people, action="mark_difficult", references=cases[:2], reason="多个被诉侵权人")
    answer = bulk(client, people, action="convene_panel", references=cases, expert_ids=members)
    # (cases are taken in the order they came) the older difficult case takes zhao's only slot; the
    # newer finds zhao full; the oldest is not difficult
    assert [r["done"] for r in answer["results"]] == [False, True, False]
    assert answer["results"][0]["problem"] == "Not convened: zhao: at capacity"
    assert answer["results"][2]["problem"] == "Mark the case difficult before convening a panel."
    assert events(sessions, "convene_panel") == {cases[1]: 1}
    assert outbox(sessions, "case.panel_convened") == [cases[1]]
    twice = bulk(client, people, status=400, action="convene_panel", references=cases, expert_ids=[members[0]] * 2)
    assert twice["errors"] == {"expert_ids": ["Name each expert once."]}


def test_only_coordinators_act_in_bulk_and_nothing_is_done_for_the_others(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    body = {"action": "reassign", "expert_id": people.expert.id, "references": cases}
    for who in ("enterprise", "expert"):
        assert bulk(client, people, who, 403, **body)["errors"]["_request"]
    assert events(sessions, "reassign") == {}
    login(client, people.expert.email)
    token = csrf_token(client.get("/queue").get_data(as_text=True))
    page = client.post("/coordinator/bulk", data={"csrf_token": token, "action": "close", "references": cases})
    assert page.status_code == 403
    assert events(sessions, "close") == {}


def test_a_request_that_cannot_be_run_does_nothing(client, people: People, cases: list[str], sessions) -> None:  # noqa: ANN001
    refused = [
        ({"action": "reassign", "expert_id": 999999, "references": cases}, 409, "expert_id"),
        ({"action": "refer", "partner_id": 999999, "question": "?", "references": cases}, 409, "partner_id"),
        ({"action": "mark_difficult", "reason": "  ", "references": cases}, 400, "reason"),
        ({"action": "close", "references": cases, "query": "type:patent"}, 400, "_request"),
        ({"action": "close"}, 400, "_request"),
        ({"action": "explode", "references": cases}, 400, "action"),
        ({"action": "close", "references": cases, "expert_id": 1}, 400, "expert_id"),
        ({"action": "close", "query": "status:nonsense"}, 400, "query"),
        ({"action": "close", "view_id": 999999}, 404, "view_id"),
        ({"action": "close", "references": []}, 400, "references"),
    ]
    for body, status, field in refused:
        assert field in bulk(client, people, status=status, **body)["errors"], body
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AdminAudit).where(AdminAudit.action == "bulk_action")) == 0


def test_a_search_or_a_view_selects_the_cases_and_more_than_the_most_is_refused_whole(
    client,
    people: People,
    submit,
    cases: list[str],
    sessions,
    monkeypatch,  # noqa: ANN001
) -> None:
    patent = submit(right_type="patent")["reference"]
    nothing = bulk(client, people, action="close", query="type:copyright")
    assert nothing == {"action": "close", "total": 0, "done": 0, "failed": 0, "results": []}
    by_search = bulk(client, people, action="reassign", expert_id=people.expert.id, query="type:patent")
    assert [r["reference"] for r in by_search["results"]] == [patent]
    view = client.post("/api/v1/views", json={"name": "商标", "query": "type:trademark"},
                       headers=people.headers("coordinator")).get_json()  # fmt: skip
    by_view = bulk(client, people, action="reassign", expert_id=people.expert.id, view_id=view["id"])
    assert [r["reference"] for r in by_view["results"]] == cases
    # an expert's own view is not a coordinator's to use
    mine = client.post("/api/v1/views", json={"name": "我的", "query": ""}, headers=people.headers("expert"))
    bulk(client, people, status=404, action="close", view_id=mine.get_json()["id"])
    monkeypatch.setattr(rules, "MAX_CASES", 2)
    before = events(sessions, "reassign")
    too_many = bulk(client, people, status=413, action="reassign", expert_id=people.expert.id, query="")
    assert too_many["errors"]["_request"] == ["The selection holds 4 cases; at most 2 at a time: narrow it down."]
    assert events(sessions, "reassign") == before


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_moves_nothing_again(
    client,
    people: People,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    body = {"action": "reassign", "expert_id": people.expert.id, "references": cases}
    headers = {**people.headers("coordinator"), "Idempotency-Key": "bulk-1"}
    first = client.post(URL, json=body, headers=headers)
    again = client.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert events(sessions, "reassign") == dict.fromkeys(cases, 1)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_desk_acts_on_the_cases_ticked_or_the_whole_view_and_lists_what_was_not_done(
    client,
    people: People,
    submit,
    cases: list[str],
    sessions,
    language: str,  # noqa: ANN001
) -> None:
    people.add("desk", "coordinator", language=language)
    set_status(sessions, cases[1], "withdrawn")
    login(client, people.desk.email)
    desk = client.get("/coordinator/").get_data(as_text=True)
    assert f'name="references" value="{cases[0]}"' in desk and 'name="whole_view"' in desk
    form = {"csrf_token": csrf_token(desk), "action": "reassign", "expert_id": str(people.expert.id),
            "references": cases[:2], "reason": "", "right_type": "patent", "partner_id": ""}  # fmt: skip
    page = client.post("/coordinator/bulk", data=form)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    said = translations(language).gettext
    summary = said("%(done)d of %(total)d cases done; %(failed)d not done.") % {"done": 1, "total": 2, "failed": 1}
    assert summary in text
    why = said(rules.CONFLICT) % {"status": said("Withdrawn")}
    assert why in text and cases[1] in text
    assert events(sessions, "reassign") == {cases[0]: 1}
    # the whole view: the search the desk shows (the view's fields come with the form)
    patent = submit(right_type="patent")["reference"]
    whole = {**form, "references": [], "whole_view": "true", "q": "type:patent"}
    client.post("/coordinator/bulk", data=whole)
    assert events(sessions, "reassign") == {cases[0]: 1, patent: 1}
    # nothing ticked: back to the desk saying so
    empty = client.post("/coordinator/bulk", data={**form, "references": []})
    assert empty.status_code == 303 and "/coordinator/" in empty.headers["Location"]


def test_a_confidential_case_acted_on_in_bulk_is_a_read_in_the_access_log(
    client,
    people: People,
    submit,
    cases: list[str],
    sessions,  # noqa: ANN001
) -> None:
    secret = submit(right_type="trade_secret", title="配方泄露")["reference"]
    bulk(client, people, action="close", references=[secret, cases[0]])
    with sessions() as s:
        reads = s.execute(select(Case.reference, AccessLog.target).join(Case, Case.id == AccessLog.case_id)).all()
    assert [tuple(r) for r in reads] == [(secret, "bulk action")]


def test_the_whole_view_over_the_most_is_refused_on_the_desk_saying_so(
    client,
    people: People,
    cases: list[str],
    sessions,
    monkeypatch,  # noqa: ANN001
) -> None:
    monkeypatch.setattr(rules, "MAX_CASES", 2)
    login(client, people.coordinator.email)
    token = csrf_token(client.get("/coordinator/").get_data(as_text=True))
    page = client.post("/coordinator/bulk", data={"csrf_token": token, "action": "close", "whole_view": "true",
                                                  "q": "type:trademark"}, follow_redirects=True)  # fmt: skip
    assert "所选范围有 3 件案件，每次最多 2 件：请缩小范围。" in page.get_data(as_text=True)
    assert events(sessions, "close") == {}


def test_the_pure_rules() -> None:
    assert rules.unique([" A ", "B", "A", ""]) == ["A", "B"]
    assert rules.too_many(0) is None and rules.too_many(rules.MAX_CASES) is None
    assert rules.too_many(rules.MAX_CASES + 1).params == {"n": rules.MAX_CASES + 1, "most": rules.MAX_CASES}
    outcomes = [rules.Outcome("A", True), rules.Outcome("B", False, Message(rules.NOT_FOUND))]
    assert rules.summary(outcomes) == {"total": 2, "done": 1, "failed": 1}
    conflict = rules.refusal("conflict", "Cannot close a case that is submitted.", "submitted")
    assert conflict == "Not possible while the case is Submitted."
    in_chinese = translate(conflict, lambda text, **params: translations("zh").gettext(text) % params, "zh")
    assert in_chinese == "案件当前为“已提交”，无法执行此操作。"
    assert rules.refusal("forbidden", "whatever", "submitted") == rules.FORBIDDEN
