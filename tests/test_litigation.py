"""Litigation advice against an abuse of IP rights (squatting, a malicious suit, an abusive
warning) and for a declaration of non-infringement: the waiting period after the written demand
(worked examples on the official calendar), the suit's defence period, the intake schema per kind,
the API (both backends), the web form, routing (the opponent in the conflict check, a squatting
case's trademark expert), the opinion's sections per matter and the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from tests.test_watch import csrf, login
from workers.notify import notice_emails
from workers.routing import case_facts
from workers.sweep import sweep_deadlines
from workstation.deadlines import DECLARATION_WAIT, SUIT_DEFENCE, declaration_wait, legal_deadlines
from workstation.opinions import load_opinion, opinion_fields
from workstation.routing import CaseFacts, ExpertFacts, Organisation, choose_expert, litigation_facts
from workstation.services.mail import render_email
from workstation.services.models import Case, Notice, User
from workstation.services.schemas import case_errors_to_form, case_input_schema, error_status, form_to_case_input
from workstation.web.openapi import openapi_document

CODE = "91610131MA6TXXXX15"  # a valid unified social credit code
BASE = {
    "right_type": "patent",
    "service": "litigation_advice",
    "title": "收到专利侵权警告函",
    "description": "竞争对手向我司客户发函称我司产品侵犯其专利权。",
}
MATTERS: dict[str, dict[str, Any]] = {
    "squatting": {"kind": "abuse_defence", "abuse": "squatting", "opponent": {"name": "某某商贸有限公司",
                  "credit_code": CODE}, "squatted_mark": "秦川", "mark_number": "61234567"},
    "malicious_suit": {"kind": "abuse_defence", "abuse": "malicious_suit", "opponent": {"name": "某某科技有限公司",
                       "credit_code": None}, "court": "西安市中级人民法院", "case_number": "(2026)陕01知民初123号",
                       "served_on": "2026-09-28"},
    "abusive_warning": {"kind": "abuse_defence", "abuse": "abusive_warning", "opponent": {"name": "某某电子有限公司",
                        "credit_code": None}, "warning_received_on": "2026-02-10"},
    "non_infringement_declaration": {"kind": "non_infringement_declaration", "opponent": {"name": "某某电子有限公司",
                                     "credit_code": CODE}, "warning_received_on": "2026-02-10",
                                     "accused_subject": "X1 型充电器", "demand_sent_on": "2026-03-02",
                                     "demand_received_on": "2026-03-05"},
}  # fmt: skip


# --- the waiting period after the written demand (Fa Shi [2009] No. 21 art. 18) ------------------


def test_one_month_from_receipt_ends_first_and_moves_off_qingming() -> None:
    # Sent Monday 2 March 2026, received Thursday 5 March. 1 month from receipt: 5 April 2026, a
    # Sunday in the Qingming holiday (4-6 April), so the holder's time runs to Tuesday 7 April;
    # 2 months from dispatch: 2 May, in the Labour Day holiday (1-5 May), so 6 May. The earlier,
    # 7 April, is the last day; the declaratory action may be filed from 8 April.
    wait = declaration_wait(date(2026, 3, 2), date(2026, 3, 5))
    assert (wait.counted_from, wait.extended_from, wait.last_day) == ("demand_received_on", date(2026, 4, 5),
                                                                       date(2026, 4, 7))  # fmt: skip
    assert wait.may_sue_from == date(2026, 4, 8)


def test_two_months_from_dispatch_ends_first_when_the_demand_came_late() -> None:
    # Sent 1 June 2026, received only on 20 July: 1 month from receipt is 20 August, 2 months from
    # dispatch 1 August (a Saturday), moved to Monday 3 August, the earlier: filing from 4 August.
    wait = declaration_wait(date(2026, 6, 1), date(2026, 7, 20))
    assert (wait.counted_from, wait.last_day, wait.may_sue_from) == ("demand_sent_on", date(2026, 8, 3),
                                                                      date(2026, 8, 4))  # fmt: skip


def test_without_proof_of_receipt_two_months_from_dispatch_count() -> None:
    # Sent Thursday 15 January 2026: 15 March is a Sunday, so Monday 16 March; filing from 17 March.
    wait = declaration_wait(date(2026, 1, 15), None)
    assert (wait.counted_from, wait.last_day, wait.may_sue_from) == ("demand_sent_on", date(2026, 3, 16),
                                                                      date(2026, 3, 17))  # fmt: skip
    # Received on the 31st: one month later is the last day of the shorter month (Civil Code art. 202).
    assert declaration_wait(None, date(2026, 8, 31)).last_day == date(2026, 9, 30)
    assert declaration_wait(None, None) is None  # no demand yet: no period runs


def test_the_waiting_period_is_a_deadline_citing_art_18_and_by_analogy_for_a_trademark() -> None:
    matter = MATTERS["non_infringement_declaration"]
    (patent,) = legal_deadlines("patent", {}, litigation=matter)
    assert (patent.code, patent.due, patent.starts_from) == (DECLARATION_WAIT, date(2026, 4, 7), "demand_received_on")
    assert "Fa Shi [2009] No. 21" in patent.basis["en"] and "法释〔2009〕21号" in patent.basis["zh"]
    assert "2026-04-08" in patent.note["en"] and "analogy" not in patent.note["en"]
    (trademark,) = legal_deadlines("trademark", {}, litigation=matter)
    assert "by analogy" in trademark.note["en"] and "参照" in trademark.note["zh"]
    assert (
        legal_deadlines("patent", {}, litigation={**matter, "demand_sent_on": None, "demand_received_on": None}) == []
    )


def test_a_malicious_suits_defence_period_is_15_days_from_service_in_china_only() -> None:
    # Served Monday 28 September 2026: the 15th day is Tuesday 13 October (after the National Day holiday).
    (defence,) = legal_deadlines("trademark", {}, litigation=MATTERS["malicious_suit"])
    assert (defence.code, defence.due) == (SUIT_DEFENCE, date(2026, 10, 13))
    assert "128" in defence.basis["en"] and "法释〔2021〕11号" in defence.note["zh"]
    assert legal_deadlines("trademark", {}, jurisdiction="US", litigation=MATTERS["malicious_suit"]) == []
    assert legal_deadlines("trademark", {}, litigation=MATTERS["squatting"]) == []


# --- the schema ---------------------------------------------------------------------------------


def load(matter: Any, **case: Any) -> dict[str, Any]:
    return case_input_schema.load({**BASE, **case, "litigation": matter})


def errors_of(matter: Any, **case: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as raised:
        load(matter, **case)
    return raised.value.messages


@pytest.mark.parametrize("facet", sorted(MATTERS))
def test_each_matter_loads_with_its_fields_and_is_stored_as_given(facet: str) -> None:
    assert load(MATTERS[facet])["litigation"] == MATTERS[facet]


@pytest.mark.parametrize(
    ("facet", "missing"),
    [("squatting", "squatted_mark"), ("squatting", "abuse"), ("abusive_warning", "warning_received_on"),
     ("non_infringement_declaration", "accused_subject"), ("malicious_suit", "opponent")],
)  # fmt: skip
def test_each_matter_says_what_is_missing(facet: str, missing: str) -> None:
    matter = {k: v for k, v in MATTERS[facet].items() if k != missing}
    assert errors_of(matter) == {"litigation": {missing: ["Missing data for required field."]}}


def test_another_matters_field_is_refused_and_the_dates_must_be_in_order() -> None:
    assert errors_of({**MATTERS["squatting"], "court": "某法院", "demand_sent_on": "2026-01-01"}) == {
        "litigation": {"court": ["Not used for this kind of matter."],
                       "demand_sent_on": ["Not used for this kind of matter."]}
    }  # fmt: skip
    assert errors_of({**MATTERS["non_infringement_declaration"], "abuse": "squatting"}) == {
        "litigation": {"abuse": ["Not used for this kind of matter."]}
    }
    early = errors_of({**MATTERS["non_infringement_declaration"], "demand_sent_on": "2026-02-01"})
    assert early == {"litigation": {"demand_sent_on": ["The written demand cannot be sent before the warning was "
                                                        "received."]}}  # fmt: skip
    assert error_status(early) == 422  # (no JSON Schema can state it)
    before = errors_of({**MATTERS["non_infringement_declaration"], "demand_received_on": "2026-03-01"})
    assert before == {
        "litigation": {"demand_received_on": ["The written demand cannot be received before it was sent."]}
    }


def test_only_litigation_advice_takes_a_matter_and_it_is_optional_there() -> None:
    assert errors_of(MATTERS["squatting"], service="consultation") == {
        "litigation": ["Only litigation advice is about an abuse of rights or a declaration of non-infringement."]
    }
    assert case_input_schema.load(BASE)["litigation"] is None


# --- routing ------------------------------------------------------------------------------------


def test_an_expert_working_for_the_opponent_has_a_conflict_and_squatting_needs_trademarks() -> None:
    today = date(2026, 11, 24)
    case = CaseFacts(right_type="copyright", service="litigation_advice", parties=(Organisation.of("某某商贸", CODE),),
                     **litigation_facts(MATTERS["squatting"]))  # fmt: skip
    opponents = ExpertFacts(
        1, frozenset({"copyright", "trademark"}), 5, 0, organisation=Organisation.of("某某商贸", None)
    )
    copyright_only = ExpertFacts(2, frozenset({"copyright"}), 5, 0)
    both = ExpertFacts(3, frozenset({"copyright", "trademark"}), 5, 1)
    decision = choose_expert(case, [opponents, copyright_only, both], today)
    assert decision.expert_id == 3
    assert "does not handle the matter's right type" in choose_expert(case, [copyright_only], today).reasons[-1]
    assert litigation_facts(MATTERS["malicious_suit"]) == {}


def test_the_routing_worker_reads_the_stored_opponent(client, people, sessions) -> None:  # noqa: ANN001
    response = client.post(
        "/api/v1/cases", json={**BASE, "litigation": MATTERS["squatting"]}, headers=people.headers("enterprise")
    )
    with sessions() as s:
        case = s.scalars(select(Case).where(Case.reference == response.get_json()["reference"])).one()
        facts = case_facts(case, set())
    assert [(p.names, p.credit_code) for p in facts.parties] == [(frozenset({"某某商贸有限公司"}), CODE)]
    assert facts.matter_right_types == {"trademark"}


# --- the API, on both backends -----------------------------------------------------------------


def test_a_matter_goes_in_and_comes_back_through_the_api(client, app, people, sessions) -> None:  # noqa: ANN001
    matter = MATTERS["non_infringement_declaration"]
    response = client.post("/api/v1/cases", json={**BASE, "litigation": matter}, headers=people.headers("enterprise"))
    assert response.status_code == 201, response.get_json()
    reference = response.get_json()["reference"]
    got = client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()
    assert got["litigation"] == matter
    (wait,) = [d for d in got["deadlines"] if d["code"] == DECLARATION_WAIT]
    assert wait["due"] == "2026-04-07" and wait["kind"] == "legal"
    assert "2026-04-08" in wait["note"]["en"] and "2026-04-08" in wait["note"]["zh"], "from when it may be filed"
    page = app.test_client()
    login(page, "enterprise")
    assert wait["note"]["zh"] in page.get(f"/cases/{reference}").get_data(as_text=True), "the page says it too"
    with sessions() as s:
        assert s.scalars(select(Case.litigation).where(Case.reference == reference)).one() == matter
    other = client.post("/api/v1/cases", json=BASE, headers=people.headers("enterprise"))
    assert other.status_code == 201 and other.get_json()["litigation"] is None
    with sessions() as s:  # NULL, not a JSON null
        found = s.scalars(select(Case.id).where(Case.reference == other.get_json()["reference"],
                                                Case.litigation.is_(None)))  # fmt: skip
        assert found.one_or_none() is not None


def test_the_api_says_what_is_wrong_with_a_matter(client, people) -> None:  # noqa: ANN001
    bad = {**MATTERS["malicious_suit"], "abuse": "trolling", "opponent": {"name": "x", "credit_code": CODE[:-1] + "0"}}
    response = client.post("/api/v1/cases", json={**BASE, "litigation": bad}, headers=people.headers("enterprise"))
    assert response.status_code == 400
    assert sorted(response.get_json()["errors"]["litigation"]) == [
        "abuse: Must be one of: squatting, malicious_suit, abusive_warning.",
        "opponent.credit_code: Not a valid unified social credit code: its last character does not match the others.",
    ]
    late = {**MATTERS["non_infringement_declaration"], "demand_received_on": "2026-03-01"}
    refused = client.post("/api/v1/cases", json={**BASE, "litigation": late}, headers=people.headers("enterprise"))
    assert refused.status_code == 422 and list(refused.get_json()["errors"]) == ["litigation"]


def test_the_waiting_periods_end_is_warned_of_by_mail_in_both_languages(client, people, sessions, config) -> None:  # noqa: ANN001
    sent = date.today()
    matter = {**MATTERS["non_infringement_declaration"], "warning_received_on": sent.isoformat(),
              "demand_sent_on": sent.isoformat(), "demand_received_on": sent.isoformat()}  # fmt: skip
    response = client.post("/api/v1/cases", json={**BASE, "litigation": matter}, headers=people.headers("enterprise"))
    (shown,) = [d for d in response.get_json()["deadlines"] if d["code"] == DECLARATION_WAIT]
    last_day = date.fromisoformat(shown["due"])
    sweep_deadlines(sessions, datetime.combine(last_day - timedelta(days=6), time(4), tzinfo=UTC))
    with sessions() as s:
        raised = s.scalars(select(Notice).where(Notice.kind == "deadline")).all()
        mine = [n for n in raised if n.body["code"] == DECLARATION_WAIT]
        warned = {(n.recipient_id, n.body["threshold"]) for n in mine}
    assert (people.enterprise.id, "7d") in warned
    # the mail says from when the action may be filed, in both languages
    may_sue_from = (last_day + timedelta(days=1)).isoformat()
    assert may_sue_from in mine[0].body["note"]["zh"] and may_sue_from in mine[0].body["note"]["en"]
    with sessions() as s:
        for language, words in (("zh", f"自{may_sue_from}起可以起诉"), ("en", f"may be filed from {may_sue_from}")):
            user = s.get(User, people.enterprise.id)
            user.language = language
            ((recipient, template, extra),) = notice_emails(s, {"notice_ids": [mine[0].id]})
            message = render_email(template, language, user.email, config, "k", recipient=recipient, **extra)
            texts = [
                part.get_payload(decode=True).decode()
                for part in message.walk()
                if part.get_content_maintype() == "text"
            ]
            assert texts and all(words in text for text in texts), texts


def test_the_openapi_document_describes_the_matter() -> None:
    schemas = openapi_document()["components"]["schemas"]
    litigation = schemas["Litigation"]
    assert litigation["properties"]["kind"]["enum"] == ["abuse_defence", "non_infringement_declaration"]
    assert len(litigation["anyOf"]) == 4  # each abuse's fields, and the declaration's
    assert "litigation" in schemas["CaseInput"]["properties"] and "litigation" in schemas["Case"]["properties"]


# --- the web form ---------------------------------------------------------------------------------

FORM = {
    **{k: v for k, v in BASE.items()},
    "litigation_kind": "non_infringement_declaration",
    "opponent_name": "某某电子有限公司",
    "opponent_credit_code": CODE.lower(),
    "warning_received_on": "2026-02-10",
    "accused_subject": " X1 型充电器 ",
    "demand_sent_on": "2026-03-02",
    "demand_received_on": "2026-03-05",
    # another kind's part, filled in and then left: only the chosen one's counts
    "abuse_kind": "squatting",
    "squatted_mark": "不相关",
    "suit_court": "某法院",
}


def test_the_form_takes_only_the_chosen_matters_part() -> None:
    assert case_input_schema.load(form_to_case_input(FORM))["litigation"] == MATTERS["non_infringement_declaration"]
    assert "litigation" not in form_to_case_input({**FORM, "litigation_kind": ""})
    squatting = form_to_case_input({**FORM, "litigation_kind": "abuse_defence"})["litigation"]
    assert squatting == {"kind": "abuse_defence", "abuse": "squatting", "squatted_mark": "不相关",
                         "opponent": {"name": "某某电子有限公司", "credit_code": CODE}}  # fmt: skip


def form_errors_of(form: dict[str, str]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        case_input_schema.load(form_to_case_input(form))
    return case_errors_to_form(raised.value.messages, form)


def test_the_schemas_errors_land_on_the_forms_fields() -> None:
    suit = {**FORM, "litigation_kind": "abuse_defence", "abuse_kind": "malicious_suit", "suit_served_on": "2026-02-30"}
    assert set(form_errors_of({**suit, "opponent_name": ""})) == {"suit_served_on", "opponent_name"}
    assert set(form_errors_of({**FORM, "abuse_kind": "", "litigation_kind": "abuse_defence"})) == {"abuse_kind"}
    assert set(form_errors_of({**FORM, "opponent_credit_code": "123"})) == {"opponent_credit_code"}


def test_the_form_shows_every_part_and_submits_a_matter(app, people, sessions) -> None:  # noqa: ANN001
    browser = app.test_client()
    login(browser, "enterprise")
    page = browser.get("/cases/new").text
    for part in ("litigation-abuse", "litigation-squatting", "litigation-malicious_suit", "litigation-warning",
                 "litigation-demand"):  # fmt: skip
        assert f'id="{part}"' in page  # (no script needed to reach any of them)
    token = csrf(page)
    bad = browser.post("/cases/new", data={**FORM, "demand_sent_on": "2026-01-01", "csrf_token": token})
    assert bad.status_code == 400 and 'id="demand_sent_on-error"' in bad.text
    response = browser.post("/cases/new", data={**FORM, "csrf_token": token})
    assert response.status_code == 302, response.text
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    with sessions() as s:
        stored = s.scalars(select(Case.litigation).where(Case.reference == reference)).one()
    assert stored == MATTERS["non_infringement_declaration"]
    shown = browser.get(f"/cases/{reference}").text
    assert "X1 型充电器" in shown and "某某电子有限公司" in shown and "2026-03-05" in shown
    assert "确认不侵权" in shown and "权利人答复书面催告的期限届满" in shown  # the matter and its deadline


# --- the opinion --------------------------------------------------------------------------------

ADVICE = {"summary": "可以起诉。", "options_considered": ["civil_litigation"],
          "recommended_route": "提起确认不侵权之诉。", "evidence_to_secure": "警告函原件、催告函及邮寄凭证。",
          "risks": "权利人可能反诉。"}  # fmt: skip


def test_each_matter_has_its_sections_required_and_no_others() -> None:
    names = lambda facet: {f.name for f in opinion_fields("litigation_advice", litigation_facet=facet)}  # noqa: E731
    assert {"abuse_findings", "squatting_route"} <= names("squatting") and "suit_defence" not in names("squatting")
    assert {"abuse_findings", "suit_defence"} <= names("malicious_suit")
    assert {"abuse_findings", "warning_response"} <= names("abusive_warning")
    assert {"warning_step", "non_infringement_analysis"} <= names("non_infringement_declaration")
    assert "abuse_findings" not in names("non_infringement_declaration") and "warning_step" not in names(None)
    with pytest.raises(ValidationError) as missing:
        load_opinion("litigation_advice", ADVICE, "patent", litigation_facet="non_infringement_declaration")
    assert set(missing.value.messages) == {"warning_step", "non_infringement_analysis"}
    with pytest.raises(ValidationError) as refused:
        load_opinion("litigation_advice", {**ADVICE, "squatting_route": "x"}, "patent")
    assert refused.value.messages == {"squatting_route": ["Not a section for this kind of matter."]}


def test_the_expert_writes_the_matters_sections_and_they_print(client, app, people, sessions) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert")
    response = client.post(
        "/api/v1/cases", json={**BASE, "litigation": MATTERS["non_infringement_declaration"]},
        headers=people.headers("enterprise"),
    )  # fmt: skip
    reference = response.get_json()["reference"]
    with sessions.begin() as s:
        case = s.scalars(select(Case).where(Case.reference == reference)).one()
        case.assigned_expert_id, case.status = expert.id, "in_progress"
    browser = app.test_client()
    login(browser, "expert")
    form = browser.get(f"/cases/{reference}/opinion/new").text
    assert 'name="warning_step"' in form and 'name="non_infringement_analysis"' in form
    assert 'name="abuse_findings"' not in form and "X1 型充电器" in form  # the matter, while writing
    missing = browser.post(f"/cases/{reference}/opinion/new", data={**ADVICE, "csrf_token": csrf(form)})
    assert missing.status_code == 400 and 'id="warning_step-error"' in missing.text
    opinion = {**ADVICE, "warning_step": "催告函已于3月5日送达，4月8日起可起诉。",
               "non_infringement_analysis": "被控产品缺少权利要求1的特征C。"}  # fmt: skip
    issued = browser.post(f"/cases/{reference}/opinion/new", data={**opinion, "csrf_token": csrf(form)})
    assert issued.status_code == 303, issued.text
    printed = browser.get(f"/cases/{reference}/opinion").text
    assert "侵权警告、书面催告与等待期" in printed and "被控产品缺少权利要求1的特征C。" in printed
    assert "某某电子有限公司" in printed


@pytest.mark.slow
def test_in_a_browser_the_form_shows_the_chosen_matters_part_and_submits_it(browser, people) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    b = browser
    b.login(people.enterprise.email)
    b.open("/cases/new")
    shown = lambda css: b.driver.find_element(By.CSS_SELECTOR, css).is_displayed()  # noqa: E731
    assert not shown("#litigation")  # the default service has no matter
    Select(b.driver.find_element(By.NAME, "service")).select_by_value("litigation_advice")
    Select(b.driver.find_element(By.NAME, "litigation_kind")).select_by_value("abuse_defence")
    assert shown("#litigation-abuse") and not shown("#litigation-squatting") and not shown("#litigation-demand")
    Select(b.driver.find_element(By.NAME, "abuse_kind")).select_by_value("squatting")
    assert shown("#litigation-squatting") and not shown("#litigation-warning")
    Select(b.driver.find_element(By.NAME, "right_type")).select_by_value("trademark")
    b.fill({"title": "我司字号被抢注为商标", "description": "对方抢注了我司字号。", "opponent_name": "某某商贸有限公司",
            "squatted_mark": "秦川", "mark_number": "61234567"})  # fmt: skip
    b.screenshot("litigation-intake-form")
    b.click("button.primary")
    assert b.csp_violations() == []
    text = b.text()
    assert "已提交" in text and "商标恶意抢注" in text and "某某商贸有限公司" in text and "61234567" in text
