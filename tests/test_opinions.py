"""Opinions (pure): each service's schema, the form's shaping, the compensation estimate kept in the
body, and the form, the printable page and the email rendered in Chinese and English."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import render_template
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from workstation.config import Config
from workstation.i18n import Message, translate
from workstation.opinions import (
    CALCULATOR_MESSAGES,
    OPINION_FIELDS,
    OPINION_SCHEMAS,
    PANEL_FIELDS,
    calculator_message,
    form_to_opinion_input,
    issued_on,
    load_opinion,
    opinion_fields,
    statutory_hints,
)
from workstation.services.mail import render_email
from workstation.services.schemas import form_errors
from workstation.vocabulary import SERVICES
from workstation.web import create_app

pytestmark = pytest.mark.pure

TODAY = date(2026, 11, 24)

GOOD: dict[str, dict[str, Any]] = {
    "infringement_judgment": {
        "summary": "被诉产品落入涉案专利权利要求1的保护范围，构成侵权的可能性较大。",
        "rights_relied_on": "ZL202010000001.X 发明专利，权利要求1。",
        "accused_subject": "某网店销售的“星河”牌空气净化器。",
        "comparison": "技术特征A、B、C与权利要求1相同，特征D等同。",
        "conclusion": "likely",
        "next_steps": "公证购买被诉产品，发送律师函。",
    },
    "compensation_estimate": {
        "summary": "按法定赔偿估算，拟主张20万元。",
        "method": "statutory",
        "infringement_start": "2022-01-01",
        "infringement_end": "2022-12-31",
        "statutory_amount": "200000",
        "comments": "被告销售规模有限。",
    },
    "litigation_advice": {
        "summary": "建议先行平台投诉，同时公证保全证据后提起诉讼。",
        "options_considered": ["civil_litigation", "platform_takedown"],
        "recommended_route": "平台投诉 + 民事诉讼",
        "evidence_to_secure": "公证购买、网页保全。",
        "risks": "被告可能提起无效宣告请求。",
        "estimated_cost": "5万至8万元",
        "estimated_time": "一审约6至12个月",
    },
    "consultation": {
        "summary": "可以申请。",
        "question": "我司能否就该外观设计申请专利？",
        "answer": "在申请日前未公开的，可以申请。",
    },
    "risk_warning": {
        "summary": "出口产品存在较高的商标侵权风险。",
        "risks_identified": "目标市场存在在先近似商标。",
        "risk_level": "high",
        "measures": "尽快在目标市场提出商标申请并进行自由实施调查。",
    },
    "ip_analysis": {
        "summary": "技术引进的权属链条完整，可以签约。",
        "analysis": "许可方为专利权人，专利维持有效，无权属纠纷。",
        "risk_level": "low",
        "measures": "在合同中约定权利瑕疵担保条款。",
    },
}


def errors_of(service: str, data: dict[str, Any], right_type: str = "patent") -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        load_opinion(service, data, right_type, TODAY)
    return info.value.messages


# --- the schemas ------------------------------------------------------------------------------


def test_there_is_a_schema_and_a_field_list_for_every_service_and_they_agree() -> None:
    assert set(OPINION_SCHEMAS) == set(OPINION_FIELDS) == set(SERVICES)
    for service, schema_class in OPINION_SCHEMAS.items():
        schema = schema_class()
        # (every service's schema takes the panel's fields; ``load_opinion`` requires the
        # conclusion when a panel sat, and refuses them otherwise)
        specs = (*OPINION_FIELDS[service], *PANEL_FIELDS)
        assert [f.name for f in specs][0] == "summary"
        assert sorted(f.name for f in specs) == sorted(schema.fields), service
        for spec in specs:
            field = schema.fields[spec.name]
            assert field.required == (spec.required and spec not in PANEL_FIELDS), (service, spec.name)
            lengths = [v for v in getattr(field, "validators", []) if hasattr(v, "max") and hasattr(v, "equal")]
            if spec.max_length:
                assert [v.max for v in lengths] == [spec.max_length], (service, spec.name)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_accepts_a_good_opinion(service: str) -> None:
    body = load_opinion(service, GOOD[service], "patent", TODAY)
    assert body["summary"] == GOOD[service]["summary"]
    for name, value in GOOD[service].items():
        assert body[name] == value


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reports_missing_required_fields_and_unknown_ones_by_field(service: str) -> None:
    messages = errors_of(service, {"surprise": "x"})
    assert messages["surprise"] == ["Unknown field."]
    required = {f.name for f in OPINION_FIELDS[service] if f.required}
    assert required <= set(messages)
    assert all(messages[name] == ["Missing data for required field."] for name in required)


@pytest.mark.parametrize("service", SERVICES)
def test_a_blank_summary_and_an_over_long_one_are_refused(service: str) -> None:
    assert errors_of(service, {**GOOD[service], "summary": " \n "})["summary"] == ["Must not be blank."]
    assert errors_of(service, {**GOOD[service], "summary": "长" * 2001})["summary"] == [
        "Longer than maximum length 2000."
    ]


def test_text_is_trimmed_with_unix_line_ends_and_a_blank_optional_text_is_left_out() -> None:
    body = load_opinion(
        "litigation_advice",
        {**GOOD["litigation_advice"], "risks": "  第一，\r\n第二。 ", "estimated_cost": "   "},
        "patent",
        TODAY,
    )
    assert body["risks"] == "第一，\n第二。"
    assert "estimated_cost" not in body


def test_infringement_judgment_conclusion_is_one_of_three() -> None:
    for conclusion in ("likely", "unlikely", "needs_evidence"):
        data = {**GOOD["infringement_judgment"], "conclusion": conclusion}
        assert load_opinion("infringement_judgment", data, "patent")["conclusion"] == conclusion
    messages = errors_of("infringement_judgment", {**GOOD["infringement_judgment"], "conclusion": "certain"})
    assert messages == {"conclusion": ["Choose one of the options."]}


def test_litigation_advice_needs_known_options_and_at_least_one() -> None:
    good = GOOD["litigation_advice"]
    assert errors_of("litigation_advice", {**good, "options_considered": []}) == {
        "options_considered": ["Choose at least one option."]
    }
    messages = errors_of("litigation_advice", {**good, "options_considered": ["civil_litigation", "duel"]})
    assert form_errors(messages) == {"options_considered": ["Choose one of the options."]}
    twice = load_opinion("litigation_advice", {**good, "options_considered": ["mediation", "mediation"]}, "patent")
    assert twice["options_considered"] == ["mediation"]


def test_risk_warning_level_is_low_medium_or_high() -> None:
    assert errors_of("risk_warning", {**GOOD["risk_warning"], "risk_level": "severe"}) == {
        "risk_level": ["Choose one of the options."]
    }


def test_an_unknown_service_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        load_opinion("horoscope", {"summary": "x"}, "patent")


# --- the form ---------------------------------------------------------------------------------


def test_the_form_is_shaped_into_the_schema_input_leaving_empty_fields_out() -> None:
    form = MultiDict(
        [
            ("csrf_token", "abc"),
            ("summary", "  简要结论  "),
            ("method", "statutory"),
            ("infringement_start", "2022-01-01"),
            ("infringement_end", ""),
            ("loss", ""),
            ("statutory_amount", "¥200,000"),
            ("reasonable_expenses", " 12，345.50元 "),
            ("comments", ""),
        ]
    )
    assert form_to_opinion_input("compensation_estimate", form) == {
        "summary": "  简要结论  ",
        "method": "statutory",
        "infringement_start": "2022-01-01",
        "statutory_amount": "200000",
        "reasonable_expenses": "12345.50",
    }


def test_checkboxes_become_a_list_and_a_ticked_box_true() -> None:
    form = MultiDict([("options_considered", "civil_litigation"), ("options_considered", "mediation")])
    assert form_to_opinion_input("litigation_advice", form) == {"options_considered": ["civil_litigation", "mediation"]}
    assert form_to_opinion_input("litigation_advice", {"options_considered": ["arbitration"]}) == {
        "options_considered": ["arbitration"]
    }
    shaped = form_to_opinion_input("compensation_estimate", MultiDict([("wilful_serious", "true")]))
    assert shaped == {"wilful_serious": "true"}
    assert form_to_opinion_input("compensation_estimate", MultiDict([])) == {}


def test_a_shaped_form_loads_like_the_api_body() -> None:
    form = MultiDict([(k, v) for k, values in GOOD["litigation_advice"].items() for v in _as_list(values)])
    form.add("csrf_token", "abc")
    body = load_opinion("litigation_advice", form_to_opinion_input("litigation_advice", form), "patent")
    assert body == load_opinion("litigation_advice", GOOD["litigation_advice"], "patent")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- compensation -----------------------------------------------------------------------------


def test_a_patent_statutory_estimate_keeps_the_calculators_result_in_the_body() -> None:
    body = load_opinion("compensation_estimate", GOOD["compensation_estimate"], "patent", TODAY)
    # the input, as entered
    assert body["method"] == "statutory"
    assert (body["infringement_start"], body["infringement_end"]) == ("2022-01-01", "2022-12-31")
    assert body["statutory_amount"] == "200000"
    assert body["wilful_serious"] is False
    result = body["result"]
    # the 2020 Patent Law (in force 2021-06-01) governs conduct in 2022: art. 71, 30,000 to 5,000,000
    assert result["law"]["key"] == "patent_2021"
    assert result["law"]["article"] == 71
    assert result["law"]["zh"] == "《中华人民共和国专利法》（2020年修正）第七十一条"
    assert result["law"]["en"] == "Patent Law of the PRC (2020 amendment), Art. 71"
    assert result["low"] == result["high"] == result["amount"] == "200000.00"
    assert 30_000 <= float(result["amount"]) <= 5_000_000
    assert result["total"] == {"zh": "人民币200,000.00元", "en": "¥200,000.00"}
    assert any("人民币30,000.00元以上人民币5,000,000.00元以下" in line for line in result["working"]["zh"])
    assert any("from ¥30,000.00 to ¥5,000,000.00" in line for line in result["working"]["en"])
    assert result["working"]["en"][-1] == "Estimated compensation: ¥200,000.00."
    assert result["calculated_on"] == "2026-11-24"


def test_the_stored_body_is_plain_json() -> None:
    import json

    body = load_opinion(
        "compensation_estimate",
        {
            "summary": "故意侵权，情节严重。",
            "method": "rights_holder_loss",
            "infringement_start": "2022-03-01",
            "loss": "100000",
            "wilful_serious": True,
            "punitive_multiple": "2.5",
            "reasonable_expenses": "20000",
        },
        "trademark",
        TODAY,
    )
    assert json.loads(json.dumps(body)) == body
    assert "infringement_end" not in body  # still going on
    assert body["result"]["amount"] == "270000.00"  # 100,000 x 2.5 + 20,000 expenses
    assert body["result"]["law"]["key"] == "trademark_2019"


def test_without_a_proposed_amount_the_estimate_is_the_whole_statutory_range() -> None:
    data = {k: v for k, v in GOOD["compensation_estimate"].items() if k != "statutory_amount"}
    result = load_opinion("compensation_estimate", data, "patent", TODAY)["result"]
    assert (result["low"], result["high"], result["amount"]) == ("30000.00", "5000000.00", None)
    assert result["total"]["zh"] == "人民币30,000.00元至人民币5,000,000.00元"


def test_a_calculator_error_becomes_a_field_error_the_page_can_translate() -> None:
    messages = errors_of("compensation_estimate", {**GOOD["compensation_estimate"], "statutory_amount": "6000000"})
    assert list(messages) == ["statutory_amount"]
    [message] = messages["statutory_amount"]
    law = "Patent Law of the PRC (2020 amendment), Art. 71"
    assert message == f"Must be between ¥30,000.00 and ¥5,000,000.00 under {law}."
    assert isinstance(message, Message)
    assert translate(message, lambda template, **params: "ZH " + template % params).startswith("ZH Must be")


LOSS_OF_ONE = {"method": "rights_holder_loss", "statutory_amount": None, "loss": "1"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"infringement_start": "2027-01-01", "infringement_end": None}, "infringement_start"),
        ({"infringement_start": "2022-12-31", "infringement_end": "2022-01-01"}, "infringement_end"),
        ({"method": "rights_holder_loss", "statutory_amount": None}, "loss"),
        ({"wilful_serious": False, "punitive_multiple": "2"}, "punitive_multiple"),
        ({**LOSS_OF_ONE, "wilful_serious": True, "punitive_multiple": "9"}, "punitive_multiple"),
        ({"infringement_start": "2005-01-01", "infringement_end": "2005-12-31"}, "infringement_end"),
        ({"method": "licence_fee_multiple", "statutory_amount": None, "profit": "5", "licence_fee": "5"}, "method"),
    ],
)
def test_calculator_errors_land_on_their_field_in_a_translatable_form(data: dict[str, Any], field: str) -> None:
    messages = errors_of("compensation_estimate", {**GOOD["compensation_estimate"], **data})
    assert list(messages) == [field]
    [message] = messages[field]
    assert isinstance(message, Message) or message in CALCULATOR_MESSAGES, message


def test_the_schema_refuses_bad_amounts_and_amounts_the_method_does_not_use() -> None:
    good = GOOD["compensation_estimate"]
    assert errors_of("compensation_estimate", {**good, "statutory_amount": "abc"}) == {
        "statutory_amount": ["Enter an amount."]
    }
    assert errors_of("compensation_estimate", {**good, "statutory_amount": "-1"}) == {
        "statutory_amount": ["Must not be negative."]
    }
    assert errors_of("compensation_estimate", {**good, "statutory_amount": "NaN"}) == {
        "statutory_amount": ["Enter an amount."]
    }
    assert errors_of("compensation_estimate", {**good, "infringement_start": "2022-02-30"}) == {
        "infringement_start": ["Enter a date as YYYY-MM-DD."]
    }
    assert errors_of("compensation_estimate", {**good, "method": "guess"}) == {"method": ["Choose one of the options."]}
    assert errors_of("compensation_estimate", {**good, "method": "rights_holder_loss", "loss": "1"}) == {
        "statutory_amount": ["Only used with statutory damages: leave it blank."]
    }
    assert errors_of("compensation_estimate", {**good, "licence_multiple": "2"}) == {
        "licence_multiple": ["Only used with the licence-fee method: leave it blank."]
    }
    assert errors_of("compensation_estimate", {**good, "punitive_base": "2"}) == {
        "punitive_base": ["Only used for wilful infringement with serious circumstances: leave it blank."]
    }


def test_an_unknown_right_type_is_an_error_of_the_whole_opinion() -> None:
    assert list(errors_of("compensation_estimate", GOOD["compensation_estimate"], right_type="plant_variety")) == [
        "_schema"
    ]


def test_calculator_messages_with_values_keep_their_english_and_gain_a_template() -> None:
    message = calculator_message("The infringement began before punitive damages existed (2019-11-01): state the "
                                 "part of the base that comes from conduct on or after that date.")  # fmt: skip
    assert isinstance(message, Message) and message.params == {"date": "2019-11-01"}
    assert calculator_message("Cannot exceed the base.") == "Cannot exceed the base."


def test_statutory_hints_list_each_text_newest_first_in_both_languages() -> None:
    zh, en = statutory_hints("patent", "zh"), statutory_hints("patent", "en")
    assert len(zh) == len(en) == 2
    assert "第七十一条" in zh[0] and "人民币30,000.00元以上人民币5,000,000.00元以下" in zh[0] and "1至5倍" in zh[0]
    assert en[0].startswith("Patent Law of the PRC (2020 amendment), Art. 71, for infringement ending on or after")
    assert "up to ¥5,000,000.00" in statutory_hints("geographical_indication", "en")[0]
    assert statutory_hints("other", "en")[0].endswith("no statutory range.")


def test_a_gi_products_estimate_and_hints_cite_the_anti_unfair_competition_law() -> None:
    # The case's rights name a GI and no mark: a GI product. 2022 conduct: AUCL (2019) art. 17,
    # confusion art. 6; as a mark (or nothing said), the Trademark Law's art. 63.
    data = GOOD["compensation_estimate"]
    product = load_opinion("compensation_estimate", data, "geographical_indication", TODAY, right_kinds=["gi"])
    assert product["result"]["law"]["key"] == "gi_product_2019" and product["result"]["gi_route"] == "product"
    assert "第六条" in product["result"]["working"]["zh"][2] and "第十七条" in product["result"]["law"]["zh"]
    kinds = ["gi", "trademark"]
    mark = load_opinion("compensation_estimate", data, "geographical_indication", TODAY, right_kinds=kinds)
    assert mark["result"]["law"]["key"] == "trademark_2019"
    assert load_opinion("compensation_estimate", data, "geographical_indication", TODAY)["result"]["gi_route"] == "mark"
    hints = statutory_hints("geographical_indication", "en", ["gi"])
    assert hints[0].startswith("Anti-Unfair Competition Law of the PRC (2025 revision), Art. 22") and len(hints) == 3
    assert "punitive" not in " ".join(hints)


def test_an_opinion_bears_the_date_in_china() -> None:
    assert issued_on(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == date(2026, 11, 24)
    assert issued_on(datetime(2026, 11, 23, 15, 59)) == date(2026, 11, 23)


# --- rendering --------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201 - no database is touched: the templates only
    app = create_app(
        Config.from_env({"WORKSTATION_INSTANCE_PATH": str(tmp_path), "WORKSTATION_SECRET_KEY": "test-secret"})
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["workstation"]["engine"].dispose()


CASE = SimpleNamespace(
    reference="RPA-2026-000042",
    title="“星河”专利侵权 <script>",
    service="compensation_estimate",
    right_type="patent",
)
EXPERT = SimpleNamespace(name="王律师", organisation="陕西某某律师事务所")


def opinion_for(service: str, **overrides: Any) -> SimpleNamespace:
    body = load_opinion(service, {**GOOD[service], **overrides}, "patent", TODAY)
    return SimpleNamespace(
        service=service, body=body, issued_at=datetime(2026, 11, 23, 17, 30, tzinfo=UTC), expert=EXPERT
    )


def render(app, language: str, template: str, **context: Any) -> str:  # noqa: ANN001
    with app.test_request_context(f"/cases/{CASE.reference}/opinion?lang={language}"):
        return render_template(template, **context)


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("service", SERVICES)
def test_the_opinion_form_renders_every_field_with_a_label(app, language: str, service: str) -> None:  # noqa: ANN001
    case = SimpleNamespace(**{**vars(CASE), "service": service})
    html = render(
        app,
        language,
        "opinion_form.html",
        case=case,
        service=service,
        fields=OPINION_FIELDS[service],
        form=MultiDict(),
        errors={},
        today=TODAY,
        rule_hint=statutory_hints("patent", language) if service == "compensation_estimate" else None,
    )
    assert 'name="csrf_token"' in html and 'method="post"' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    for spec in OPINION_FIELDS[service]:
        assert f'name="{spec.name}"' in html, spec.name
        if spec.kind not in ("choice", "choices", "boolean"):
            assert f'<label for="{spec.name}">' in html, spec.name
    if service == "compensation_estimate":
        assert ("第七十一条" if language == "zh" else "Art. 71") in html
    if language == "zh":
        assert "专利" in html  # the right type's label, from the catalog


def test_the_opinion_form_shows_errors_beside_their_field_and_keeps_what_was_typed(app) -> None:  # noqa: ANN001
    form = MultiDict(
        [
            ("summary", "原文 & 保留"),
            ("method", "statutory"),
            ("infringement_start", "2022-01-01"),
            ("statutory_amount", "6000000"),
            ("wilful_serious", "true"),
        ]
    )
    try:
        load_opinion("compensation_estimate", form_to_opinion_input("compensation_estimate", form), "patent", TODAY)
    except ValidationError as err:
        errors = form_errors(err.messages)
    html = render(
        app,
        "en",
        "opinion_form.html",
        case=CASE,
        service="compensation_estimate",
        fields=OPINION_FIELDS["compensation_estimate"],
        form=form,
        errors={**errors, "_schema": ["Unknown field."]},
        today=TODAY,
    )
    assert re.search(r'id="statutory_amount"[^>]*aria-describedby="statutory_amount-hint statutory_amount-error"', html)
    assert 'aria-invalid="true"' in html
    assert '<p class="error" id="statutory_amount-error">Must be between ¥30,000.00 and ¥5,000,000.00' in html
    assert "原文 &amp; 保留</textarea>" in html
    assert 'value="statutory" checked' in html and 'name="wilful_serious" value="true" checked' in html
    assert 'max="2026-11-24"' in html


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("service", SERVICES)
def test_the_printable_opinion_renders_in_both_languages(app, language: str, service: str) -> None:  # noqa: ANN001
    opinion = opinion_for(service)
    html = render(
        app, language, "opinion.html", case=CASE, opinion=opinion, fields=OPINION_FIELDS[service], issued_on=None
    )
    assert "@media print" in html and "window.print()" in html
    assert CASE.reference in html and "&lt;script&gt;" in html
    assert EXPERT.name in html and EXPERT.organisation in html
    assert opinion.body["summary"] in html
    assert "2026-11-23 17:30 UTC" in html
    for spec in OPINION_FIELDS[service]:
        value = opinion.body.get(spec.name)
        if spec.kind in ("text", "line") and value:
            assert value in html, spec.name


@pytest.mark.parametrize(
    ("language", "law", "day", "working"),
    [
        ("zh", "《中华人民共和国专利法》（2020年修正）第七十一条", "2026年11月24日", "拟定法定赔偿数额：人民币"),
        ("en", "Patent Law of the PRC (2020 amendment), Art. 71", "2026-11-24", "Proposed statutory damages: ¥"),
    ],
)  # fmt: skip
def test_the_compensation_opinion_shows_the_law_the_amount_and_the_working_in_the_page_language(  # noqa: ANN001
    app, language: str, law: str, day: str, working: str
) -> None:
    opinion = opinion_for("compensation_estimate", reasonable_expenses="12345.5")
    html = render(
        app,
        language,
        "opinion.html",
        case=CASE,
        opinion=opinion,
        fields=OPINION_FIELDS["compensation_estimate"],
        issued_on=issued_on(opinion.issued_at),
    )
    assert law in html and working in html and day in html
    assert ("人民币212,345.50元" if language == "zh" else "¥212,345.50") in html  # with the expenses
    assert ("人民币12,345.50元" if language == "zh" else "¥12,345.50") in html  # the input, formatted
    other = "Proposed statutory damages: ¥" if language == "zh" else "拟定法定赔偿数额：人民币"
    assert other not in html  # the working in the page's language only


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_opinion_email_has_the_summary_and_the_link(app, language: str) -> None:  # noqa: ANN001
    opinion = opinion_for("risk_warning")
    config = app.extensions["workstation"]["config"]
    message = render_email(
        "enterprise_opinion_issued",
        language,
        "企业 <ent@example.cn>",
        config,
        "9:1:opinion",
        case=CASE,
        recipient=SimpleNamespace(name="陕西星河科技有限公司"),
        opinion=opinion,
    )
    subject = str(make_header(decode_header(message["Subject"])))
    assert CASE.reference in subject
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    link = f"{config.base_url}/cases/{CASE.reference}/opinion"
    for part in (text, html):
        assert opinion.body["summary"] in part and link in part and EXPERT.name in part
    assert "&lt;script&gt;" in html
    if language == "zh":
        assert "案件编号" in text  # "Reference", from the catalog


def test_the_templates_refuse_to_render_without_the_field_list(app) -> None:  # noqa: ANN001
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError, match="fields"):
        render(app, "zh", "opinion_form.html", case=CASE, service="consultation", form={}, errors={}, today=TODAY)
    with pytest.raises(UndefinedError, match="fields"):
        render(app, "zh", "opinion.html", case=CASE, opinion=opinion_for("consultation"))


# --- a risk warning's or an IP analysis's sections per activity -------------------------------------

SECTIONS = {
    "freedom_to_operate": "美国有两件在先专利可能覆盖该电池结构。",
    "freedom_to_operate_risk": "high",
    "trademark_clearance": "德国存在近似的在先商标。",
    "trademark_clearance_risk": "medium",
}


@pytest.mark.parametrize(
    ("kind", "sections"),
    [("rd", ["freedom_to_operate"]), ("trade", ["freedom_to_operate", "trademark_clearance"]),
     ("investment", ["counterparty_standing", "ownership_chain"]),
     ("technology_transfer", ["freedom_to_operate", "counterparty_standing", "ownership_chain"]), (None, [])],
)  # fmt: skip
def test_each_kind_of_activity_has_its_sections_each_with_a_risk_level(kind: str | None, sections: list) -> None:
    for service in ("risk_warning", "ip_analysis"):
        fields = opinion_fields(service, kind)
        shown = [f.name for f in fields if f.activity_kinds]
        assert shown == [name for section in sections for name in (section, f"{section}_risk")]
        assert all(f.required for f in fields if f.activity_kinds)
        assert [f.name for f in fields if not f.activity_kinds] == [f.name for f in OPINION_FIELDS[service]
                                                                    if not f.activity_kinds]  # fmt: skip


def test_the_sections_of_the_cases_kind_are_required_and_the_others_refused() -> None:
    body = load_opinion("risk_warning", {**GOOD["risk_warning"], **SECTIONS}, "patent", TODAY, activity_kind="trade")
    assert {k: body[k] for k in SECTIONS} == SECTIONS
    with pytest.raises(ValidationError) as missing:
        load_opinion("ip_analysis", {**GOOD["ip_analysis"], "freedom_to_operate": "无"}, "patent", TODAY, "trade")
    assert missing.value.messages == {
        "freedom_to_operate_risk": ["Choose one of the options."],
        "trademark_clearance": ["Missing data for required field."],
        "trademark_clearance_risk": ["Choose one of the options."],
    }
    with pytest.raises(ValidationError) as refused:
        load_opinion("risk_warning", {**GOOD["risk_warning"], **SECTIONS}, "patent", TODAY, activity_kind="rd")
    assert refused.value.messages == {
        "trademark_clearance": ["Not a section for this kind of activity."],
        "trademark_clearance_risk": ["Not a section for this kind of activity."],
    }
    # a warning a coordinator opened from a look-alike match has no activity: no sections
    assert load_opinion("risk_warning", GOOD["risk_warning"], "patent", TODAY)["risk_level"] == "high"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_printed_opinion_has_the_activity_and_a_section_per_finding_with_its_risk(app, language: str) -> None:  # noqa: ANN001
    activity = {"kind": "trade", "date": "2027-03-01", "target_markets": ["US", "DE"], "counterparties": []}
    case = SimpleNamespace(**{**vars(CASE), "service": "risk_warning", "activity": activity})
    body = load_opinion("risk_warning", {**GOOD["risk_warning"], **SECTIONS}, "patent", TODAY, activity_kind="trade")
    opinion = SimpleNamespace(service="risk_warning", body=body, issued_at=datetime(2026, 11, 23, 17, 30, tzinfo=UTC),
                              expert=EXPERT)  # fmt: skip
    html = render(
        app, language, "opinion.html", case=case, opinion=opinion, fields=opinion_fields("risk_warning", "trade")
    )
    assert "US, DE" in html and SECTIONS["freedom_to_operate"] in html and SECTIONS["trademark_clearance"] in html
    heading = "商标在目标市场的可用性检索" if language == "zh" else "Trademark clearance in the target markets"
    risk = "本项风险等级：中风险" if language == "zh" else "Risk level of this finding: Medium risk"
    assert heading in html and risk in html
    # the section's risk level is printed with its finding, not among the key points
    assert html.index(heading) < html.index(risk) < html.index(SECTIONS["trademark_clearance"])
