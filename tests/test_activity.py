"""A risk warning's or an IP analysis's activity: the intake schema per kind, the API (both
backends), the web form (which shows every kind's part and takes only the chosen one's), the case
page and the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from tests.test_watch import csrf, login
from workers.routing import case_facts
from workers.sweep import sweep_deadlines
from workstation.services.models import Case, Notice
from workstation.services.schemas import (
    case_errors_to_form,
    case_input_schema,
    form_rows_shown,
    form_to_case_input,
    mark_warning_input_schema,
)
from workstation.web.openapi import openapi_document

CODE = "91610131MA6TXXXX15"  # a valid unified social credit code
BASE = {
    "right_type": "patent",
    "service": "ip_analysis",
    "title": "出口美国前的专利分析",
    "description": "我司拟向美国、德国出口新型电池，请分析专利风险。",
}
ACTIVITIES: dict[str, dict[str, Any]] = {
    "rd": {"kind": "rd", "date": "2027-03-01", "technical_field": "biomedicine", "key_technologies": ["mRNA 递送"]},
    "trade": {"kind": "trade", "date": "2027-03-01", "target_markets": ["US", "DE"]},
    "investment": {
        "kind": "investment",
        "date": "2027-03-01",
        "target_company": {"name": "某某科技", "credit_code": CODE},
    },
    "technology_transfer": {
        "kind": "technology_transfer",
        "date": "2027-03-01",
        "direction": "in",
        "counterparty": {"name": "某大学", "credit_code": None},  # (a foreign or unknown code: None)
        "technology": "固态电解质制备方法",
    },
}


CHECK_CHARACTER = "Not a valid unified social credit code: its last character does not match the others."


def load(activity: Any, **case: Any) -> dict[str, Any]:
    return case_input_schema.load({**BASE, **case, "activity": activity})


def errors_of(activity: Any, **case: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as raised:
        load(activity, **case)
    return raised.value.messages


# --- the schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ACTIVITIES))
def test_each_kind_loads_with_its_fields_and_is_stored_as_given(kind: str) -> None:
    loaded = load(ACTIVITIES[kind])["activity"]
    assert loaded == {**ACTIVITIES[kind], "counterparties": []}


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("rd", "key_technologies"), ("rd", "technical_field"), ("trade", "target_markets"),
     ("investment", "target_company"), ("technology_transfer", "direction"),
     ("technology_transfer", "counterparty"), ("technology_transfer", "technology")],
)  # fmt: skip
def test_each_kind_says_which_of_its_fields_is_missing(kind: str, missing: str) -> None:
    activity = {k: v for k, v in ACTIVITIES[kind].items() if k != missing}
    assert errors_of(activity) == {"activity": {missing: ["Missing data for required field."]}}


def test_another_kinds_field_is_refused_not_stored() -> None:
    activity = {**ACTIVITIES["trade"], "technology": "x", "target_company": {"name": "某某"}}
    assert errors_of(activity) == {
        "activity": {"technology": ["Not used for this kind of activity."],
                     "target_company": ["Not used for this kind of activity."]}
    }  # fmt: skip


@pytest.mark.parametrize(
    ("activity", "field", "message"),
    [
        ({"target_markets": ["us"]}, "target_markets", {0: ["Use two-letter country codes such as US, DE or EU."]}),
        ({"target_markets": []}, "target_markets", ["Length must be between 1 and 50."]),
        ({"date": "2027-02-30"}, "date", ["Not a valid date."]),
        ({"kind": "lobbying"}, "kind", ["Must be one of: rd, trade, investment, technology_transfer."]),
        ({"counterparties": [{"name": "某某", "credit_code": CODE[:-1] + "0"}]}, "counterparties",
         {0: {"credit_code": [CHECK_CHARACTER]}}),
        ({"counterparties": [{"credit_code": CODE}]}, "counterparties",
         {0: {"name": ["Missing data for required field."]}}),
        ({"extra": 1}, "extra", ["Unknown field."]),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_with_what_is_wrong(activity: dict[str, Any], field: str, message: Any) -> None:
    assert errors_of({**ACTIVITIES["trade"], **activity}) == {"activity": {field: message}}


def test_blank_technologies_are_refused_and_markets_named_twice_kept_once() -> None:
    assert errors_of({**ACTIVITIES["rd"], "key_technologies": ["锂电池", " "]}) == {
        "activity": {"key_technologies": {1: ["Must not be blank."]}}  # the item that is blank
    }
    assert load({**ACTIVITIES["trade"], "target_markets": ["US", "DE", "US"]})["activity"]["target_markets"] == [
        "US",
        "DE",
    ]


@pytest.mark.parametrize("service", ["risk_warning", "ip_analysis"])
def test_a_warning_or_an_analysis_must_name_its_activity(service: str) -> None:
    assert errors_of(None, service=service) == {
        "activity": ["Say which activity this concerns: its kind, its date and what that kind asks."]
    }
    assert load(ACTIVITIES["trade"], service=service)["activity"]["kind"] == "trade"


def test_other_services_refuse_an_activity_and_store_none() -> None:
    assert errors_of(ACTIVITIES["trade"], service="consultation") == {
        "activity": ["Only a risk warning or an IP analysis concerns an activity."]
    }
    assert case_input_schema.load({**BASE, "service": "consultation"})["activity"] is None


def test_a_coordinators_warning_from_a_lookalike_match_needs_no_activity() -> None:
    assert mark_warning_input_schema.load({**BASE, "service": "risk_warning"})["activity"] is None
    with pytest.raises(ValidationError):
        mark_warning_input_schema.load({**BASE, "service": "ip_analysis"})


# --- the API, on both backends -----------------------------------------------------------------


def test_an_activity_goes_in_and_comes_back_through_the_api(client, people, sessions) -> None:  # noqa: ANN001
    activity = {**ACTIVITIES["investment"], "counterparties": [{"name": "某某投资基金", "credit_code": CODE}]}
    response = client.post("/api/v1/cases", json={**BASE, "activity": activity}, headers=people.headers("enterprise"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["activity"] == activity
    reference = response.get_json()["reference"]
    got = client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()
    assert got["activity"] == activity
    with sessions() as s:
        assert s.scalars(select(Case.activity).where(Case.reference == reference)).one() == activity
    other = client.post("/api/v1/cases", json={**BASE, "service": "consultation"}, headers=people.headers("enterprise"))
    assert other.status_code == 201 and other.get_json()["activity"] is None
    with sessions() as s:  # NULL, not a JSON null, for a case without one
        found = s.scalars(
            select(Case.id).where(Case.reference == other.get_json()["reference"], Case.activity.is_(None))
        )
        assert found.one_or_none() is not None


def test_the_api_says_which_activity_field_is_wrong(client, people) -> None:  # noqa: ANN001
    bad = {**ACTIVITIES["technology_transfer"], "direction": "sideways", "counterparty": {"name": ""}}
    response = client.post("/api/v1/cases", json={**BASE, "activity": bad}, headers=people.headers("enterprise"))
    assert response.status_code == 400
    assert sorted(response.get_json()["errors"]["activity"]) == [
        "counterparty.name: Length must be between 1 and 200.",
        "direction: Must be one of: in, out.",
    ]
    missing = client.post(
        "/api/v1/cases", json={**BASE, "service": "risk_warning"}, headers=people.headers("enterprise")
    )
    assert missing.status_code == 400 and list(missing.get_json()["errors"]) == ["activity"]


def test_the_openapi_document_describes_the_activity() -> None:
    schemas = openapi_document()["components"]["schemas"]
    activity = schemas["Activity"]
    assert set(activity["properties"]) >= {"kind", "date", "target_markets", "target_company", "counterparties"}
    assert activity["properties"]["kind"]["enum"] == ["rd", "trade", "investment", "technology_transfer"]
    assert "activity" in schemas["CaseInput"]["properties"] and "activity" in schemas["Case"]["properties"]
    assert "ip_analysis" in schemas["CaseInput"]["properties"]["service"]["enum"]


# --- the web form ---------------------------------------------------------------------------------

FORM = {
    "right_type": "patent",
    "service": "risk_warning",
    "title": "出口预警",
    "description": "拟出口欧洲。",
    "activity_kind": "trade",
    "activity_date": "2027-03-01",
    "target_markets": "de, fr；EU",
    # another kind's part, filled in and then left: the form sends every part, only the chosen counts
    "technology": "不相关",
    "target_company_name": "某某科技",
    "counterparty_name_1": "某某进出口有限公司",
    "counterparty_credit_code_1": CODE.lower(),
}


def test_the_form_takes_only_the_chosen_kinds_part() -> None:
    assert form_to_case_input(FORM)["activity"] == {
        "kind": "trade",
        "date": "2027-03-01",
        "target_markets": ["DE", "FR", "EU"],
        "counterparties": [{"name": "某某进出口有限公司", "credit_code": CODE}],
    }
    assert "activity" not in form_to_case_input({**FORM, "activity_kind": ""})
    rd = form_to_case_input({**FORM, "activity_kind": "rd", "activity_technical_field": "biomedicine",
                             "key_technologies": "载体\r\n\r\n 递送 \n"})["activity"]  # fmt: skip
    assert (rd["technical_field"], rd["key_technologies"]) == ("biomedicine", ["载体", "递送"])


def form_errors_of(form: dict[str, str]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        case_input_schema.load(form_to_case_input(form))
    return case_errors_to_form(raised.value.messages, form)


def test_the_schemas_errors_land_on_the_forms_fields() -> None:
    transfer = {**FORM, "activity_kind": "technology_transfer", "transfer_counterparty_credit_code": "123"}
    assert set(form_errors_of(transfer)) == {"transfer_counterparty_name", "transfer_counterparty_credit_code"}
    transfer["transfer_counterparty_name"], transfer["transfer_counterparty_credit_code"] = "某大学", ""
    assert set(form_errors_of(transfer)) == {"transfer_direction"}
    assert set(form_errors_of({**FORM, "activity_date": "", "counterparty_credit_code_1": "X"})) == {
        "activity_date",
        "counterparty_credit_code_1",  # the row it was typed in (row 0, left blank, is skipped)
    }


def test_the_form_takes_counterparties_in_rows_a_script_added_up_to_the_apis_20() -> None:
    # Before, the form read 3 fixed rows and dropped a 4th a user could not add anyway; now its
    # rows are the parties' and rights' machinery: every row sent counts, in order, blanks skipped.
    rows = {f"counterparty_name_{i}": f"某某{i}有限公司" for i in (0, 3, 7, 19)}
    form = {**FORM, "counterparty_name_1": "", "counterparty_credit_code_1": "", **rows,
            "counterparty_credit_code_7": CODE.lower()}  # fmt: skip
    assert form_to_case_input(form)["activity"]["counterparties"] == [
        {"name": "某某0有限公司"}, {"name": "某某3有限公司"}, {"name": "某某7有限公司", "credit_code": CODE},
        {"name": "某某19有限公司"}]  # fmt: skip
    assert form_rows_shown(form, "counterparty") == range(20), "shown again with the rows sent"
    assert form_rows_shown({}, "counterparty") == range(3)
    assert set(form_errors_of({**form, "counterparty_credit_code_19": "X"})) == {"counterparty_credit_code_19"}
    too_many = {f"counterparty_name_{i}": f"某某{i}" for i in range(21)}
    assert "activity" in form_errors_of({**FORM, **too_many}), "21 are refused as the API refuses them"


def test_the_form_shows_every_kinds_part_and_submits_an_activity(app, people, sessions) -> None:  # noqa: ANN001
    browser = app.test_client()
    login(browser, "enterprise")
    page = browser.get("/cases/new").text
    for part in ("activity-rd", "activity-trade", "activity-investment", "activity-technology_transfer"):
        assert f'id="{part}"' in page  # (no script needed to reach any of them)
    token = csrf(page)
    bad = browser.post("/cases/new", data={**FORM, "target_markets": "Germany", "csrf_token": token})
    assert bad.status_code == 400 and 'id="target_markets-error"' in bad.text
    missing = browser.post("/cases/new", data={**FORM, "activity_kind": "", "csrf_token": token})
    assert missing.status_code == 400 and 'id="activity-error"' in missing.text
    response = browser.post("/cases/new", data={**FORM, "csrf_token": token})
    assert response.status_code == 302, response.text
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    with sessions() as s:
        assert s.scalars(select(Case.activity).where(Case.reference == reference)).one()["target_markets"] == [
            "DE",
            "FR",
            "EU",
        ]
    shown = browser.get(f"/cases/{reference}").text
    assert "DE, FR, EU" in shown and "某某进出口有限公司" in shown and "2027-03-01" in shown


def test_the_routing_worker_reads_the_stored_activity(client, people, sessions) -> None:  # noqa: ANN001
    activity = {**ACTIVITIES["trade"], "counterparties": [{"name": "某某进出口有限公司", "credit_code": CODE}]}
    response = client.post("/api/v1/cases", json={**BASE, "activity": activity}, headers=people.headers("enterprise"))
    with sessions() as s:
        case = s.scalars(select(Case).where(Case.reference == response.get_json()["reference"])).one()
        facts = case_facts(case, set())
    assert facts.target_markets == {"US", "DE"}
    assert [(p.names, p.credit_code) for p in facts.parties] == [(frozenset({"某某进出口有限公司"}), CODE)]


def test_the_activitys_date_is_a_deadline_shown_and_warned_of(client, people, sessions) -> None:  # noqa: ANN001
    on = date.today() + timedelta(days=60)
    activity = {**ACTIVITIES["trade"], "date": on.isoformat()}
    response = client.post("/api/v1/cases", json={**BASE, "activity": activity}, headers=people.headers("enterprise"))
    (shown,) = [d for d in response.get_json()["deadlines"] if d["code"] == "activity_date"]
    assert shown["due"] == on.isoformat() and shown["kind"] == "legal"
    sweep_deadlines(sessions, datetime.combine(on - timedelta(days=29), time(4), tzinfo=UTC))
    with sessions() as s:
        raised = s.scalars(select(Notice).where(Notice.kind == "deadline")).all()
        warned = {(n.recipient_id, n.body["threshold"]) for n in raised if n.body["code"] == "activity_date"}
    assert warned == {(people.enterprise.id, "30d")}


def test_the_expert_writes_the_sections_of_the_activitys_kind_and_they_print(client, app, people, sessions) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert")
    response = client.post(
        "/api/v1/cases", json={**BASE, "activity": ACTIVITIES["investment"]}, headers=people.headers("enterprise")
    )
    reference = response.get_json()["reference"]
    with sessions.begin() as s:
        case = s.scalars(select(Case).where(Case.reference == reference)).one()
        case.assigned_expert_id, case.status = expert.id, "in_progress"
    browser = app.test_client()
    login(browser, "expert")
    form = browser.get(f"/cases/{reference}/opinion/new").text
    assert 'name="counterparty_standing"' in form and 'name="ownership_chain_risk"' in form
    assert 'name="freedom_to_operate"' not in form and 'name="trademark_clearance"' not in form
    assert "某某科技" in form  # the activity, for the expert to see while writing
    opinion = {"summary": "可以投资。", "analysis": "目标公司专利权属清晰。", "risk_level": "low",
               "measures": "签约前核实。", "counterparty_standing": "目标公司无未决诉讼。",
               "counterparty_standing_risk": "low"}  # fmt: skip
    missing = browser.post(f"/cases/{reference}/opinion/new", data={**opinion, "csrf_token": csrf(form)})
    assert missing.status_code == 400 and 'id="ownership_chain-error"' in missing.text
    opinion |= {"ownership_chain": "发明人均为目标公司员工，职务发明。", "ownership_chain_risk": "medium"}
    issued = browser.post(f"/cases/{reference}/opinion/new", data={**opinion, "csrf_token": csrf(form)})
    assert issued.status_code == 303, issued.text
    printed = browser.get(f"/cases/{reference}/opinion").text
    assert "发明人均为目标公司员工，职务发明。" in printed and "目标公司无未决诉讼。" in printed
    assert "本项风险等级：中风险" in printed and "某某科技" in printed


@pytest.mark.slow
def test_in_a_browser_the_form_shows_the_chosen_kinds_part_and_submits_it(browser, people) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    b = browser
    b.login(people.enterprise.email)
    b.open("/cases/new")
    shown = lambda css: b.driver.find_element(By.CSS_SELECTOR, css).is_displayed()  # noqa: E731
    assert not shown("#activity")  # the default service has no activity
    Select(b.driver.find_element(By.NAME, "service")).select_by_value("ip_analysis")
    Select(b.driver.find_element(By.NAME, "activity_kind")).select_by_value("rd")
    assert shown("#activity-rd") and shown("#activity-counterparties") and not shown("#activity-trade")
    Select(b.driver.find_element(By.NAME, "right_type")).select_by_value("patent")
    Select(b.driver.find_element(By.NAME, "activity_technical_field")).select_by_value("biomedicine")
    b.fill({"title": "新药研发项目的专利分析", "description": "拟立项研发新型载体。", "activity_date": "2027-05-01",
            "key_technologies": "脂质纳米颗粒\n靶向递送", "counterparty_name_0": "某某大学"})  # fmt: skip
    b.screenshot("activity-intake-form")
    b.click("button.primary")
    assert b.csp_violations() == []
    text = b.text()
    assert "已提交" in text and "脂质纳米颗粒; 靶向递送" in text and "某某大学" in text and "2027-05-01" in text
