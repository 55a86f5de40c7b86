"""The compensation calculator (pure): worked examples on both sides of each change of law, the
punitive and statutory limits, input errors, the working in both languages, and properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.compensation import (
    GI_AS_MARK,
    GI_AS_PRODUCT,
    LICENCE,
    LOSS,
    METHODS,
    PROFIT,
    PUNITIVE_SINCE,
    STATUTORY,
    CompensationError,
    CompensationInput,
    Estimate,
    applicable_rule,
    estimate,
    render_working,
)
from workstation.vocabulary import RIGHT_TYPES, gi_protected_as_product

pytestmark = pytest.mark.pure

TODAY = date(2026, 11, 24)
D = Decimal


def est(right_type: str, method: str, start: date, end: date | None, **kw) -> Estimate:  # noqa: ANN003
    return estimate(CompensationInput(right_type, method, start, end, **kw), TODAY)


def error(right_type: str, method: str, start: date, end: date | None, **kw) -> CompensationError:  # noqa: ANN003
    with pytest.raises(CompensationError) as info:
        est(right_type, method, start, end, **kw)
    return info.value


def codes(e: Estimate) -> list[str]:
    return [step.code for step in e.working]


# --- trademark: 2014-05-01 and 2019-11-01 ------------------------------------------------------


def test_trademark_statutory_ceiling_is_3m_for_conduct_ending_before_2019_11_01() -> None:
    e = est("trademark", STATUTORY, date(2019, 6, 1), date(2019, 10, 31))
    assert (e.law.key, e.law.article) == ("trademark_2014", 63)
    assert (e.low, e.high) == (D("0.00"), D("3000000.00"))
    assert error("trademark", STATUTORY, date(2019, 6, 1), date(2019, 10, 31), statutory_amount=D(4_000_000)).field == (
        "statutory_amount"
    )


def test_trademark_statutory_ceiling_is_5m_when_the_conduct_continues_past_2019_11_01() -> None:
    e = est("trademark", STATUTORY, date(2019, 6, 1), date(2019, 12, 1), statutory_amount=D(4_000_000))
    assert (e.law.key, e.law.article, e.law.effective) == ("trademark_2019", 63, date(2019, 11, 1))
    assert e.amount == D("4000000.00")
    continuing = next(s for s in e.working if s.code == "law_continuing")
    assert continuing.params == {"began_under": "trademark_2014", "effective": date(2019, 11, 1)}


def test_the_change_applies_from_its_effective_day() -> None:
    assert applicable_rule("trademark", date(2019, 1, 1), date(2019, 11, 1)).key == "trademark_2019"
    assert applicable_rule("trademark", date(2019, 1, 1), date(2019, 10, 31)).key == "trademark_2014"
    assert applicable_rule("trademark", date(2014, 5, 1), date(2014, 5, 1)).key == "trademark_2014"
    assert applicable_rule("trademark", date(2014, 4, 1), date(2014, 4, 30)).key == "trademark_2001"


def test_trademark_punitive_multiple_is_1_to_3_before_2019_11_01() -> None:
    e = est(
        "trademark",
        LOSS,
        date(2019, 6, 1),
        date(2019, 10, 31),
        loss=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(3),
    )
    assert e.amount == D("3000000.00")
    err = error(
        "trademark",
        LOSS,
        date(2019, 6, 1),
        date(2019, 10, 31),
        loss=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(4),
    )
    assert err.field == "punitive_multiple" and "between 1 and 3" in err.message and "Art. 63" in err.message


def test_trademark_punitive_multiple_is_1_to_5_when_the_conduct_continues_past_2019_11_01() -> None:
    e = est(
        "trademark",
        LOSS,
        date(2019, 6, 1),
        date(2019, 12, 1),
        loss=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(4),
    )
    assert e.amount == D("4000000.00") and e.base == D("1000000.00")
    err = error(
        "trademark",
        LOSS,
        date(2019, 6, 1),
        date(2019, 12, 1),
        loss=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(6),
    )
    assert err.field == "punitive_multiple" and "between 1 and 5" in err.message


def test_trademark_before_2014_05_01_art_56_statutory_500k_no_punitive_no_licence_method() -> None:
    e = est("trademark", STATUTORY, date(2012, 1, 1), date(2013, 12, 31))
    assert (e.law.key, e.law.article, e.high) == ("trademark_2001", 56, D("500000.00"))
    assert (
        error(
            "trademark",
            PROFIT,
            date(2012, 1, 1),
            date(2013, 12, 31),
            profit=D(10),
            wilful_serious=True,
            punitive_multiple=D(2),
        ).field
        == "punitive_multiple"
    )
    assert (
        error(
            "trademark", LICENCE, date(2012, 1, 1), date(2013, 12, 31), licence_fee=D(10), licence_multiple=D(2)
        ).field
        == "method"
    )
    # art. 56 lets the holder choose between the profit and the loss
    assert est("trademark", PROFIT, date(2012, 1, 1), date(2013, 12, 31), loss=D(5), profit=D(10)).amount == D("10.00")


def test_trademark_methods_are_ranked_under_art_63() -> None:
    err = error("trademark", PROFIT, date(2020, 1, 1), date(2020, 6, 1), loss=D(100), profit=D(200))
    assert err.field == "method" and "comes before" in err.message
    e = est("trademark", LICENCE, date(2020, 1, 1), date(2020, 6, 1), licence_fee=D(100_000), licence_multiple=D(3))
    assert e.amount == D("300000.00")
    order = next(s for s in e.working if s.code == "method_order")
    assert order.params["before"] == (LOSS, PROFIT)
    assert error("trademark", STATUTORY, date(2020, 1, 1), date(2020, 6, 1), licence_fee=D(100)).field == "method"


# --- patent: 2021-06-01 ------------------------------------------------------------------------


def test_patent_statutory_floor_is_10k_before_2021_06_01_and_30k_after() -> None:
    old = est("patent", STATUTORY, date(2020, 1, 1), date(2021, 5, 31))
    assert (old.law.key, old.law.article, old.low, old.high) == ("patent_2009", 65, D("10000.00"), D("1000000.00"))
    new = est("patent", STATUTORY, date(2020, 1, 1), date(2021, 6, 1))
    assert (new.law.key, new.law.article, new.low, new.high) == ("patent_2021", 71, D("30000.00"), D("5000000.00"))
    assert est("patent", STATUTORY, date(2020, 1, 1), date(2021, 5, 31), statutory_amount=D(20_000)).amount == D(
        "20000.00"
    )
    err = error("patent", STATUTORY, date(2020, 1, 1), date(2021, 6, 1), statutory_amount=D(20_000))
    assert err.field == "statutory_amount" and "¥30,000.00" in err.message


def test_patent_punitive_only_for_conduct_continuing_into_the_2020_law() -> None:
    kw = {"loss": D(500_000), "wilful_serious": True}
    assert error("patent", LOSS, date(2020, 1, 1), date(2021, 5, 31), punitive_multiple=D(2), **kw).field == (
        "punitive_multiple"
    )
    noted = est("patent", LOSS, date(2020, 1, 1), date(2021, 5, 31), **kw)
    assert noted.amount == D("500000.00") and "punitive_not_in_law" in codes(noted)
    # began before punitive damages existed: the expert states the part of the base from 2021-06-01
    assert error("patent", LOSS, date(2020, 1, 1), date(2021, 12, 31), punitive_multiple=D(2), **kw).field == (
        "punitive_base"
    )
    split = est(
        "patent", LOSS, date(2020, 1, 1), date(2021, 12, 31), punitive_multiple=D(2), punitive_base=D(200_000), **kw
    )
    assert split.amount == D("700000.00")  # 300,000 once + 200,000 x 2
    whole = est("patent", LOSS, date(2021, 6, 1), None, punitive_multiple=D("2.5"), **kw)
    assert whole.amount == D("1250000.00")


def test_patent_order_ranked_in_2008_text_choice_in_2020_text() -> None:
    assert error("patent", PROFIT, date(2015, 1, 1), date(2016, 1, 1), loss=D(1), profit=D(2)).field == "method"
    e = est("patent", PROFIT, date(2022, 1, 1), date(2023, 1, 1), loss=D(1), profit=D(2))
    assert e.amount == D("2.00") and "method_choice" in codes(e)


def test_patent_before_2009_10_01_is_outside_the_calculator() -> None:
    err = error("patent", LOSS, date(2008, 1, 1), date(2009, 9, 30), loss=D(1))
    assert err.field == "infringement_end" and "2009-10-01" in err.message


# --- copyright: 2021-06-01 ---------------------------------------------------------------------


def test_copyright_statutory_ceiling_500k_before_2021_06_01_5m_after() -> None:
    old = est("copyright", STATUTORY, date(2020, 1, 1), date(2021, 5, 31))
    assert (old.law.key, old.law.article, old.high) == ("copyright_2010", 49, D("500000.00"))
    new = est("copyright", STATUTORY, date(2020, 1, 1), date(2021, 7, 1))
    assert (new.law.key, new.law.article, new.low, new.high) == ("copyright_2021", 54, D("500.00"), D("5000000.00"))
    assert est("copyright", STATUTORY, date(2008, 1, 1), date(2009, 1, 1)).law.article == 48
    assert error("copyright", STATUTORY, date(2020, 1, 1), date(2021, 7, 1), statutory_amount=D(400)).field == (
        "statutory_amount"
    )


def test_copyright_licence_fee_is_taken_as_is_from_2021_and_not_a_method_before() -> None:
    e = est("copyright", LICENCE, date(2022, 1, 1), date(2022, 6, 1), licence_fee=D(80_000))
    assert e.amount == D("80000.00")
    assert (
        error(
            "copyright", LICENCE, date(2022, 1, 1), date(2022, 6, 1), licence_fee=D(80_000), licence_multiple=D(2)
        ).field
        == "licence_multiple"
    )
    assert error("copyright", LICENCE, date(2019, 1, 1), date(2020, 1, 1), licence_fee=D(80_000)).field == "method"
    punished = est(
        "copyright",
        PROFIT,
        date(2021, 6, 1),
        date(2022, 6, 1),
        profit=D(100_000),
        wilful_serious=True,
        punitive_multiple=D(5),
    )
    assert punished.amount == D("500000.00")


# --- trade secrets: 2018-01-01, 2019-04-23, 2025-10-15 -----------------------------------------


def test_trade_secret_statutory_3m_without_punitive_before_2019_04_23() -> None:
    e = est("trade_secret", STATUTORY, date(2018, 6, 1), date(2019, 4, 22))
    assert (e.law.key, e.law.article, e.high) == ("trade_secret_2018", 17, D("3000000.00"))
    assert (
        error(
            "trade_secret",
            LOSS,
            date(2018, 6, 1),
            date(2019, 4, 22),
            loss=D(1),
            wilful_serious=True,
            punitive_multiple=D(1),
        ).field
        == "punitive_multiple"
    )


def test_trade_secret_statutory_5m_and_punitive_from_2019_04_23() -> None:
    e = est("trade_secret", STATUTORY, date(2019, 4, 23), date(2019, 4, 23))
    assert (e.law.key, e.high) == ("trade_secret_2019", D("5000000.00"))
    p = est(
        "trade_secret",
        PROFIT,
        date(2019, 5, 1),
        date(2020, 1, 1),
        profit=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(5),
    )
    assert p.amount == D("5000000.00")
    assert est("trade_secret", LOSS, date(2025, 1, 1), None, loss=D(1)).law.key == "trade_secret_2025"


def test_trade_secret_has_no_licence_fee_method_and_rules_start_2018() -> None:
    assert error("trade_secret", LICENCE, date(2020, 1, 1), None, licence_fee=D(1), licence_multiple=D(1)).field == (
        "method"
    )
    assert error("trade_secret", LOSS, date(2016, 1, 1), date(2017, 12, 31), loss=D(1)).field == "infringement_end"


# --- geographical indications and other rights -------------------------------------------------


def test_a_gi_registered_as_a_mark_uses_the_trademark_rules() -> None:
    e = est("geographical_indication", STATUTORY, date(2019, 6, 1), date(2019, 10, 31))
    assert e.law.key == "trademark_2014" and e.high == D("3000000.00") and "gi_as_trademark" in codes(e)
    assert PUNITIVE_SINCE["trademark"] == date(2014, 5, 1)
    # Worked example: profit 1,000,000, wilful and serious, 3x (2019 Trademark Law art. 63: 1-5x),
    # expenses 50,000: 3,050,000.
    e = est("geographical_indication", PROFIT, date(2024, 3, 1), date(2024, 9, 30), profit=D(1_000_000),
            wilful_serious=True, punitive_multiple=D(3), reasonable_expenses=D(50_000))  # fmt: skip
    assert (e.law.key, e.amount) == ("trademark_2019", D("3050000.00"))
    assert "collective or certification mark" in render_working(e, "en")[2]


def test_a_gi_product_is_compensated_under_the_anti_unfair_competition_law_not_the_trademark_law() -> None:
    # Passing goods off as a GI product in 2024: confusion, AUCL (2019) art. 6; damages art. 17,
    # statutory up to 5,000,000 where neither the loss nor the profit can be determined.
    e = est("geographical_indication", STATUTORY, date(2024, 3, 1), date(2024, 9, 30),
            statutory_amount=D(800_000), reasonable_expenses=D(20_000), gi_route=GI_AS_PRODUCT)  # fmt: skip
    assert (e.law.key, e.amount) == ("gi_product_2019", D("820000.00"))
    assert e.law.cite() == "Anti-Unfair Competition Law of the PRC (2019 amendment), Art. 17"
    en, zh = render_working(e, "en"), render_working(e, "zh")
    assert "Art. 6" in en[2] and "Measures for the Protection of Geographical Indication Products" in en[2]
    assert "not legal advice" in en[2] and "Trademark Law art. 16" not in " ".join(en)
    assert "第六条" in zh[2] and "第十七条" in zh[2]
    assert "up to ¥5,000,000.00" in " ".join(en)
    # The same case as a mark: the trademark rules (and their 5,000,000 too, but art. 63).
    mark = est("geographical_indication", STATUTORY, date(2024, 3, 1), date(2024, 9, 30),
               statutory_amount=D(800_000), gi_route=GI_AS_MARK)  # fmt: skip
    assert mark.law.key == "trademark_2019"


def test_a_gi_product_under_the_2017_text_is_capped_at_3m_and_the_2025_text_cites_arts_7_and_22() -> None:
    # Conduct ended 2018-12-31: AUCL (2017 revision) art. 17, up to 3,000,000 (for arts. 6 and 9).
    assert "3,000,000.00" in error("geographical_indication", STATUTORY, date(2018, 6, 1), date(2018, 12, 31),
                                   statutory_amount=D(4_000_000), gi_route=GI_AS_PRODUCT).message  # fmt: skip
    # Ongoing into the 2025 revision (in force 2025-10-15): confusion art. 7, damages art. 22.
    e = est("geographical_indication", LOSS, date(2025, 6, 1), None, loss=D(300_000), gi_route=GI_AS_PRODUCT)
    assert (e.law.key, e.law.article, e.amount) == ("gi_product_2025", 22, D("300000.00"))
    assert "Art. 7" in render_working(e, "en")[3] and "第七条" in render_working(e, "zh")[3]


def test_a_gi_product_has_no_punitive_multiple_and_its_methods_are_ranked() -> None:
    # Wilful and serious: noted, compensated once (the AUCL's punitive damages are for trade secrets).
    e = est("geographical_indication", PROFIT, date(2024, 3, 1), date(2024, 9, 30), profit=D(1_000_000),
            wilful_serious=True, reasonable_expenses=D(50_000), gi_route=GI_AS_PRODUCT)  # fmt: skip
    assert e.amount == D("1050000.00") and "punitive_not_for_confusion" in codes(e)
    assert "trade-secret infringement only" in " ".join(render_working(e, "en"))
    refused = error("geographical_indication", PROFIT, date(2024, 3, 1), date(2024, 9, 30), profit=D(1_000_000),
                    wilful_serious=True, punitive_multiple=D(2), gi_route=GI_AS_PRODUCT)  # fmt: skip
    assert refused.field == "punitive_multiple" and "trade-secret" in refused.message
    # The profit only where the loss cannot be determined; no licence-fee method.
    assert error("geographical_indication", PROFIT, date(2024, 3, 1), None, loss=D(1), profit=D(2),
                 gi_route=GI_AS_PRODUCT).field == "method"  # fmt: skip
    assert error("geographical_indication", LICENCE, date(2024, 3, 1), None, licence_fee=D(1),
                 licence_multiple=D(1), gi_route=GI_AS_PRODUCT).field == "method"  # fmt: skip


def test_the_case_rights_tell_the_gi_route() -> None:
    assert gi_protected_as_product(["gi"]) and gi_protected_as_product(["gi", "patent"])
    assert not gi_protected_as_product(["gi", "trademark"]), "a GI registered as a mark is a mark"
    assert not gi_protected_as_product([]), "nothing said: a collective or certification mark, as before"


def test_other_rights_take_only_the_loss_or_the_profit() -> None:
    e = est("other", PROFIT, date(2022, 1, 1), date(2022, 12, 31), profit=D(12_345), wilful_serious=True)
    assert e.law.key == "other_2021" and e.amount == D("12345.00")
    assert "other_general" in codes(e) and "punitive_not_modelled" in codes(e)
    assert error("other", STATUTORY, date(2022, 1, 1), None).field == "method"
    assert error("other", LICENCE, date(2022, 1, 1), None, licence_fee=D(1), licence_multiple=D(1)).field == "method"
    assert (
        error("other", LOSS, date(2022, 1, 1), None, loss=D(1), wilful_serious=True, punitive_multiple=D(2)).field
        == "punitive_multiple"
    )


# --- punitive damages: the base, the range, statutory damages ----------------------------------


def test_punitive_multiple_is_refused_on_statutory_damages() -> None:
    err = error("trademark", STATUTORY, date(2020, 1, 1), None, wilful_serious=True, punitive_multiple=D(2))
    assert err.field == "punitive_multiple" and "Fa Shi [2021] No. 4" in err.message
    # the finding alone is recorded, and the statutory range is not multiplied
    e = est("trademark", STATUTORY, date(2020, 1, 1), None, wilful_serious=True)
    assert e.high == D("5000000.00") and "punitive_not_on_statutory" in codes(e)


def test_without_a_proposed_multiple_the_whole_legal_range_is_shown() -> None:
    e = est("trademark", LOSS, date(2020, 1, 1), None, loss=D(100_000), wilful_serious=True)
    assert (e.low, e.high, e.amount) == (D("100000.00"), D("500000.00"), None)
    old = est("trademark", LOSS, date(2015, 1, 1), date(2016, 1, 1), loss=D(100_000), wilful_serious=True)
    assert (old.low, old.high) == (D("100000.00"), D("300000.00"))


@pytest.mark.parametrize("multiple", [D(0), D("0.5"), D("0.99"), D("5.01"), D(10)])
def test_a_multiple_outside_1_to_5_is_refused_not_clamped(multiple: Decimal) -> None:
    err = error("patent", LOSS, date(2022, 1, 1), None, loss=D(1000), wilful_serious=True, punitive_multiple=multiple)
    assert err.field == "punitive_multiple"


@pytest.mark.parametrize("multiple", [D(1), D("1.5"), D(5)])
def test_the_multiple_may_be_any_value_within_the_range(multiple: Decimal) -> None:
    e = est("patent", LOSS, date(2022, 1, 1), None, loss=D(1000), wilful_serious=True, punitive_multiple=multiple)
    assert e.amount == (D(1000) * multiple).quantize(D("0.01"))


def test_a_multiple_needs_the_finding_of_wilful_serious_infringement() -> None:
    err = error("patent", LOSS, date(2022, 1, 1), None, loss=D(1000), punitive_multiple=D(2))
    assert err.field == "punitive_multiple" and "wilful" in err.message


def test_punitive_base_cannot_exceed_the_base() -> None:
    err = error("trademark", LOSS, date(2013, 1, 1), None, loss=D(1000), wilful_serious=True, punitive_base=D(1001))
    assert err.field == "punitive_base"
    e = est("trademark", LOSS, date(2013, 1, 1), None, loss=D(1000), wilful_serious=True, punitive_base=D(600))
    assert (e.low, e.high) == (D("1000.00"), D("3400.00"))  # 400 once + 600 x 1..5
    assert "punitive_partial" in codes(e)


# --- expenses, rounding, input ------------------------------------------------------------------


def test_reasonable_expenses_are_added_after_the_multiple_and_outside_the_statutory_range() -> None:
    e = est(
        "trademark",
        LOSS,
        date(2020, 1, 1),
        None,
        loss=D(100_000),
        wilful_serious=True,
        punitive_multiple=D(2),
        reasonable_expenses=D(30_000),
    )
    assert e.amount == D("230000.00") and e.expenses == D("30000.00")
    s = est(
        "copyright", STATUTORY, date(2022, 1, 1), None, statutory_amount=D(5_000_000), reasonable_expenses=D("12345.6")
    )
    assert s.amount == D("5012345.60")
    r = est("patent", STATUTORY, date(2022, 1, 1), None, reasonable_expenses=D(1000))
    assert (r.low, r.high) == (D("31000.00"), D("5001000.00"))


def test_amounts_are_quantized_to_the_fen_half_up() -> None:
    assert est("patent", LOSS, date(2022, 1, 1), None, loss=D("1234.565")).amount == D("1234.57")
    e = est("patent", LICENCE, date(2022, 1, 1), None, licence_fee=D("333.33"), licence_multiple=D("1.5"))
    assert e.amount == D("500.00")  # 499.995 -> 500.00
    assert e.amount.as_tuple().exponent == -2


def test_amounts_from_a_form_may_be_strings_or_ints() -> None:
    e = est("patent", LOSS, date(2022, 1, 1), None, loss="1,000,000", reasonable_expenses=5000)
    assert e.amount == D("1005000.00")
    assert error("patent", LOSS, date(2022, 1, 1), None, loss="lots").field == "loss"
    assert error("patent", LOSS, date(2022, 1, 1), None, loss=D("NaN")).field == "loss"


@pytest.mark.parametrize(
    "field",
    [
        "loss",
        "profit",
        "licence_fee",
        "licence_multiple",
        "statutory_amount",
        "punitive_multiple",
        "punitive_base",
        "reasonable_expenses",
    ],
)
def test_negative_amounts_are_refused_on_their_field(field: str) -> None:
    err = error("patent", LOSS, date(2022, 1, 1), None, **{"loss": D(1), field: D(-1)})
    assert err.field == field and "negative" in err.message


def test_dates_are_checked() -> None:
    assert error("patent", LOSS, date(2022, 2, 1), date(2022, 1, 1), loss=D(1)).field == "infringement_end"
    assert error("patent", LOSS, date(2022, 2, 1), TODAY + timedelta(days=1), loss=D(1)).field == "infringement_end"
    assert error("patent", LOSS, TODAY + timedelta(days=1), None, loss=D(1)).field == "infringement_start"


def test_unknown_codes_and_missing_amounts_are_refused() -> None:
    assert error("design", LOSS, date(2022, 1, 1), None, loss=D(1)).field == "right_type"
    assert error("patent", "guess", date(2022, 1, 1), None).field == "method"
    assert error("patent", LOSS, date(2022, 1, 1), None).field == "loss"
    assert error("patent", LICENCE, date(2022, 1, 1), None, licence_fee=D(1)).field == "licence_multiple"
    assert error("patent", LICENCE, date(2022, 1, 1), None, licence_fee=D(1), licence_multiple=D("0.5")).field == (
        "licence_multiple"
    )


def test_ongoing_infringement_is_judged_by_the_law_in_force_today() -> None:
    inp = CompensationInput("copyright", STATUTORY, date(2020, 1, 1), None)
    assert estimate(inp, date(2021, 5, 31)).law.key == "copyright_2010"
    assert estimate(inp, date(2021, 6, 1)).law.key == "copyright_2021"


def test_compensation_error_is_a_value_error_naming_the_field() -> None:
    err = error("patent", LOSS, date(2022, 1, 1), None, loss=D(-5))
    assert isinstance(err, ValueError) and err.field == "loss" and str(err).startswith("loss: ")


# --- the working -------------------------------------------------------------------------------


def test_working_renders_in_chinese_and_english_with_amounts_and_article() -> None:
    e = est(
        "trademark",
        LOSS,
        date(2019, 6, 1),
        date(2019, 12, 1),
        loss=D(1_000_000),
        wilful_serious=True,
        punitive_multiple=D(4),
        reasonable_expenses=D(50_000),
    )
    assert e.amount == D("4050000.00")
    zh, en = render_working(e, "zh"), render_working(e, "en")
    assert len(zh) == len(en) == len(e.working)
    zh_text, en_text = "\n".join(zh), "\n".join(en)
    for text in (
        "第六十三条",
        "《中华人民共和国商标法》（2019年修正）",
        "2019年11月1日",
        "人民币1,000,000.00元",
        "人民币50,000.00元",
        "4倍",
        "法释〔2021〕4号",
    ):
        assert text in zh_text
    assert zh[-1] == "赔偿估算总额：人民币4,050,000.00元。"
    for text in (
        "Art. 63",
        "Trademark Law of the PRC (2019 amendment)",
        "2019-11-01",
        "¥1,000,000.00",
        "¥50,000.00",
        "4 x the base",
        "Fa Shi [2021] No. 4",
    ):
        assert text in en_text
    assert en[-1] == "Estimated compensation: ¥4,050,000.00."
    assert render_working(e) == zh  # Chinese is the default


def test_working_of_a_range_and_of_the_statutory_method() -> None:
    e = est("patent", STATUTORY, date(2015, 6, 1), date(2021, 12, 1), wilful_serious=True)
    en = render_working(e, "en")
    assert en[-1] == "Estimated compensation: ¥30,000.00 to ¥5,000,000.00."
    assert any("Art. 71 allows from ¥30,000.00 to ¥5,000,000.00" in line for line in en)
    assert any("Patent Law of the PRC (2008 amendment), Art. 65" in line for line in en)  # where it began
    zh = render_working(e, "zh")
    assert zh[-1] == "赔偿估算总额：人民币30,000.00元至人民币5,000,000.00元。"
    assert any("第七十一条" in line and "人民币30,000.00元以上人民币5,000,000.00元以下" in line for line in zh)
    with pytest.raises(ValueError, match="language"):
        render_working(e, "fr")


# --- properties --------------------------------------------------------------------------------

_amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def inputs(draw: st.DrawFn) -> CompensationInput:
    method = draw(st.sampled_from(METHODS))
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=TODAY))
    end = draw(st.none() | st.dates(min_value=start, max_value=TODAY))
    wilful = draw(st.booleans())
    amount = draw(_amounts)
    return CompensationInput(
        right_type=draw(st.sampled_from(RIGHT_TYPES)),
        method=method,
        infringement_start=start,
        infringement_end=end,
        loss=amount if method == LOSS else None,
        profit=amount if method == PROFIT else None,
        licence_fee=amount if method == LICENCE else None,
        licence_multiple=draw(st.sampled_from([None, D(1), D("1.5"), D(3)])),
        statutory_amount=draw(st.none() | st.decimals(min_value=0, max_value=6_000_000, places=2)),
        wilful_serious=wilful,
        punitive_multiple=draw(st.sampled_from([None, D(1), D("2.5"), D(3), D(5)])) if wilful else None,
        punitive_base=draw(st.none() | st.decimals(min_value=0, max_value=amount, places=2)),
        reasonable_expenses=draw(st.decimals(min_value=0, max_value=10**6, places=2)),
        gi_route=draw(st.sampled_from([GI_AS_MARK, GI_AS_PRODUCT])),
    )


@settings(max_examples=500, deadline=None)
@given(inp=inputs())
def test_the_total_stays_within_what_the_law_allows(inp: CompensationInput) -> None:
    try:
        e = estimate(inp, TODAY)
    except CompensationError as err:
        assert err.field in CompensationInput.__dataclass_fields__
        return
    assert e.law == applicable_rule(inp.right_type, inp.infringement_start, inp.infringement_end, TODAY, inp.gi_route)
    assert D(0) <= e.low <= e.high
    assert e.low.as_tuple().exponent == e.high.as_tuple().exponent == -2
    expenses = e.expenses
    if e.method == STATUTORY:
        assert e.law.statutory is not None
        lowest, highest = e.law.statutory
        assert lowest + expenses <= e.low <= e.high <= highest + expenses
    else:
        assert e.base is not None
        most = e.law.punitive[1] if inp.wilful_serious and e.law.punitive else D(1)
        assert e.base + expenses <= e.low
        assert e.high <= e.base * most + expenses
        if e.law.punitive is None:
            assert e.low == e.high == e.base + expenses
    for language in ("zh", "en"):
        lines = render_working(e, language)
        assert len(lines) == len(e.working)
        total = f"{e.high:,.2f}"
        assert total in lines[-1]


@settings(max_examples=300, deadline=None)
@given(
    right_type=st.sampled_from(["patent", "trademark", "copyright", "trade_secret", "geographical_indication"]),
    end=st.dates(min_value=date(2010, 4, 1), max_value=TODAY),
    proposed=st.none() | st.decimals(min_value=0, max_value=6_000_000, places=2),
)
def test_statutory_results_stay_in_the_statutory_range(right_type: str, end: date, proposed: Decimal | None) -> None:
    inp = CompensationInput(right_type, STATUTORY, end - timedelta(days=30), end, statutory_amount=proposed)
    try:
        e = estimate(inp, TODAY)
    except CompensationError as err:
        if err.field == "infringement_end":  # the trade-secret rules start with the 2017 revision
            assert right_type == "trade_secret" and end < date(2018, 1, 1)
            return
        lowest, highest = applicable_rule(right_type, inp.infringement_start, end, TODAY).statutory or (None, None)
        assert err.field == "statutory_amount" and proposed is not None and not lowest <= proposed <= highest
        return
    lowest, highest = e.law.statutory
    assert lowest <= e.low <= e.high <= highest
    if proposed is not None:
        assert e.amount == proposed
