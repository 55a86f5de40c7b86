"""Writing the opinion through the API (``POST /api/v1/cases/<reference>/opinion``): the same
rules as the opinion form (``services.opinions.issue_opinion``), the same lifecycle move, the same
email to the enterprise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.conftest import CASE
from tests.test_accounts import mails, send_mail
from tests.test_activity import ACTIVITIES
from tests.test_activity import BASE as ACTIVITY_BASE
from tests.test_litigation import ADVICE, MATTERS
from tests.test_litigation import BASE as LITIGATION_BASE
from tests.test_opinions import GOOD
from tests.test_panels import api, team, worked_by  # noqa: F401 (team: the panels' fixture)
from workstation.services.models import Case, CaseEvent, OutboxMessage, PanelSeat, utcnow


def in_progress(client, people, sessions, case: dict[str, Any], expert: str = "expert") -> str:  # noqa: ANN001
    """A case the enterprise submitted, assigned to ``expert`` and in progress: its reference."""
    response = client.post("/api/v1/cases", json=case, headers=people.headers("enterprise"))
    assert response.status_code == 201, response.get_json()
    reference = response.get_json()["reference"]
    with sessions.begin() as s:
        row = s.scalars(select(Case).where(Case.reference == reference)).one()
        row.assigned_expert_id, row.status = getattr(people, expert).id, "in_progress"
    return reference


def write(client, people, reference: str, body: Any, who: str = "expert"):  # noqa: ANN001, ANN201
    return client.post(f"/api/v1/cases/{reference}/opinion", json=body, headers=people.headers(who))


def read_back(client, people, reference: str) -> dict[str, Any]:  # noqa: ANN001
    response = client.get(f"/api/v1/cases/{reference}/opinion", headers=people.headers("enterprise"))
    assert response.status_code == 200
    return response.get_json()


def test_an_infringement_judgment_is_issued_read_back_by_the_enterprise_and_mailed_to_it(  # noqa: ANN001
    client, people, sessions, config
) -> None:
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, CASE)
    issued = write(client, people, reference, {**GOOD["infringement_judgment"], "summary": "  构成侵权。\r\n"})
    assert issued.status_code == 201, issued.get_json()
    assert issued.headers["Location"].endswith(f"/api/v1/cases/{reference}/opinion")
    answer = issued.get_json()
    assert answer == read_back(client, people, reference), "the answer is the opinion as GET shows it"
    assert answer["body"]["summary"] == "构成侵权。" and answer["body"]["conclusion"] == "likely"
    assert answer["expert"]["id"] == people.expert.id and answer["service"] == "infringement_judgment"
    with sessions() as s:
        assert s.scalar(select(Case.status).where(Case.reference == reference)) == "opinion_issued"
        event = s.scalar(select(CaseEvent).where(CaseEvent.action == "issue_opinion"))
        assert event.actor_id == people.expert.id
        assert s.scalar(select(func.count()).where(OutboxMessage.routing_key == "case.opinion_issued")) == 1
    send_mail(config, sessions, "case.opinion_issued")
    (mail,) = mails(config, "enterprise_opinion_issued")
    assert people.enterprise.email in mail["To"]
    again = write(client, people, reference, GOOD["infringement_judgment"])
    assert again.status_code == 409, "an issued case takes no second opinion"


def test_a_risk_warning_takes_its_activitys_sections(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    case = {**ACTIVITY_BASE, "service": "risk_warning", "activity": ACTIVITIES["trade"]}
    reference = in_progress(client, people, sessions, case)
    missing = write(client, people, reference, GOOD["risk_warning"])
    assert missing.status_code == 422, "the fields fit a risk warning; the case's kind asks for more"
    assert set(missing.get_json()["errors"]) == {"freedom_to_operate", "freedom_to_operate_risk",
                                                 "trademark_clearance", "trademark_clearance_risk"}  # fmt: skip
    sections = {"freedom_to_operate": "美国有两项相关专利。", "freedom_to_operate_risk": "high",
                "trademark_clearance": "德国有在先近似商标。", "trademark_clearance_risk": "medium"}  # fmt: skip
    other = write(client, people, reference, {**GOOD["risk_warning"], **sections, "ownership_chain": "x"})
    assert other.status_code == 422
    assert other.get_json()["errors"] == {"ownership_chain": ["Not a section for this kind of activity."]}
    issued = write(client, people, reference, {**GOOD["risk_warning"], **sections})
    assert issued.status_code == 201, issued.get_json()
    assert read_back(client, people, reference)["body"]["trademark_clearance_risk"] == "medium"


def test_an_abuse_defence_takes_its_matters_sections(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, {**LITIGATION_BASE, "litigation": MATTERS["malicious_suit"]})
    missing = write(client, people, reference, ADVICE)
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"abuse_findings", "suit_defence"}
    opinion = {**ADVICE, "abuse_findings": "原告明知专利无效仍起诉。", "suit_defence": "主张合理开支。"}
    issued = write(client, people, reference, opinion)
    assert issued.status_code == 201, issued.get_json()
    assert read_back(client, people, reference)["body"]["suit_defence"] == "主张合理开支。"


def test_where_a_panel_sat_its_conclusion_and_dissent_are_written(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    member = people.add("member", "expert")
    reference = in_progress(client, people, sessions, CASE)
    with sessions.begin() as s:
        case = s.scalars(select(Case).where(Case.reference == reference)).one()
        s.add(PanelSeat(case_id=case.id, expert_id=member.id, convened_by=people.coordinator.id,
                        released_at=utcnow()))  # fmt: skip
    missing = write(client, people, reference, GOOD["infringement_judgment"])
    assert missing.status_code == 422 and missing.get_json()["errors"] == {
        "panel_conclusion": ["Missing data for required field."]
    }
    panel = {"panel_conclusion": "专家组多数认为构成侵权。", "panel_dissent": "李专家认为不近似。"}
    assert write(client, people, reference, {**GOOD["infringement_judgment"], **panel}, who="member").status_code == 403
    issued = write(client, people, reference, {**GOOD["infringement_judgment"], **panel})
    assert issued.status_code == 201, issued.get_json()
    body = read_back(client, people, reference)["body"]
    assert body["panel_conclusion"] == panel["panel_conclusion"] and body["panel_dissent"] == panel["panel_dissent"]


def test_a_compensation_estimate_keeps_the_calculators_result(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, {**CASE, "right_type": "patent",
                                                       "service": "compensation_estimate"})  # fmt: skip
    wrong = write(client, people, reference, {**GOOD["compensation_estimate"], "method": "rights_holder_loss"})
    assert wrong.status_code == 400, "an amount the method does not use: the document says so"
    assert wrong.get_json()["errors"] == {"statutory_amount": ["Only used with statutory damages: leave it blank."]}
    issued = write(client, people, reference, {**GOOD["compensation_estimate"], "statutory_amount": 200000})
    assert issued.status_code == 201, issued.get_json()
    assert issued.get_json()["body"]["result"]["law"]["article"] == 71


def test_only_the_cases_expert_writes_it_while_it_is_in_progress(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    people.add("other", "expert")
    trainee = people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": people.expert.id})
    reference = in_progress(client, people, sessions, CASE)
    with sessions.begin() as s:
        s.scalars(select(Case).where(Case.reference == reference)).one().shadow_expert_id = trainee.id
    body = GOOD["infringement_judgment"]
    statuses = {who: write(client, people, reference, body, who=who).status_code
                for who in ("enterprise", "coordinator", "trainee", "other")}  # fmt: skip
    assert statuses == {"enterprise": 403, "coordinator": 403, "trainee": 403, "other": 404}
    assert write(client, people, "RPA-2026-9999", body).status_code == 404
    assert write(client, people, reference, body, who="other_enterprise").status_code == 404
    with sessions.begin() as s:
        s.scalars(select(Case).where(Case.reference == reference)).one().status = "accepted"
    early = write(client, people, reference, body)
    assert early.status_code == 409 and "accepted" in early.get_json()["errors"]["_request"][0]
    with sessions() as s:
        assert s.scalar(select(Case.status).where(Case.reference == reference)) == "accepted"
        assert s.scalar(select(func.count()).where(OutboxMessage.routing_key == "case.opinion_issued")) == 0


def test_the_transitions_api_points_to_the_opinions_post(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, CASE)
    moved = client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "issue_opinion"},
                        headers=people.headers("expert"))  # fmt: skip
    assert moved.status_code == 409
    assert moved.get_json()["errors"]["action"][0].endswith(f"POST /api/v1/cases/{reference}/opinion")


def test_bad_input_is_refused_naming_the_field(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, CASE)
    another = write(client, people, reference, GOOD["consultation"])
    assert another.status_code == 422, "a consultation's fields, on an infringement judgment"
    assert set(another.get_json()["errors"]) >= {"question", "answer", "rights_relied_on"}
    unknown = write(client, people, reference, {**GOOD["infringement_judgment"], "risk_level": "high"})
    assert unknown.status_code == 400 and unknown.get_json()["errors"] == {"risk_level": ["Unknown field."]}
    blank = write(client, people, reference, {**GOOD["infringement_judgment"], "conclusion": "maybe"})
    assert blank.status_code == 400 and set(blank.get_json()["errors"]) == {"conclusion"}
    assert write(client, people, reference, ["not", "an", "object"]).status_code == 400
    with sessions() as s:
        assert s.scalar(select(Case.status).where(Case.reference == reference)) == "in_progress"


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = in_progress(client, people, sessions, CASE)
    headers = {**people.headers("expert"), "Idempotency-Key": "opinion-1"}
    first = client.post(f"/api/v1/cases/{reference}/opinion", json=GOOD["infringement_judgment"], headers=headers)
    retry = client.post(f"/api/v1/cases/{reference}/opinion", json=GOOD["infringement_judgment"], headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.get_json() == first.get_json() and retry.headers["Idempotent-Replayed"] == "true"


# --- the panel's candidates (``GET /api/v1/cases/<reference>/panel/candidates``) -----------------


def test_a_coordinator_lists_the_panels_candidates_with_their_load_and_why_not(client, team, sessions) -> None:  # noqa: ANN001, F811
    people = team
    reference = worked_by(client, people, sessions, people.lead)
    path = f"/api/v1/cases/{reference}/panel/candidates"
    listed = api(client, people, "coordinator", "GET", path)
    assert listed.status_code == 200 and listed.get_json()["reference"] == reference
    by_id = {c["id"]: c for c in listed.get_json()["candidates"]}
    assert people.lead.id not in by_id and people.trainee.id not in by_id, "not its own expert, never a trainee"
    assert by_id[people.member.id] == {"id": people.member.id, "name": "member", "active_cases": 0, "capacity": 5,
                                       "refusal": None}  # fmt: skip
    assert by_id[people.conflicted.id]["refusal"] == "conflict of interest: works for a party to the case"
    assert by_id[people.english_only.id]["refusal"] == "speaks none of the case's languages"
    for who in ("enterprise", "lead", "member"):
        assert api(client, people, who, "GET", path).status_code == 403, who
    assert api(client, people, "coordinator", "GET", "/api/v1/cases/RPA-2026-9999/panel/candidates").status_code == 404
