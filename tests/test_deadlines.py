"""Deadlines (pure): worked examples on China's real 2017-2027 calendars, legal periods and SLA clocks.

Calendar facts are the State Council's notices (2026: 国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04):
Spring Festival off 15-23 February 2026 with Saturdays 14 and 28 February worked; National Day off 1-7
October 2026 with Sunday 20 September and Saturday 10 October worked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.deadlines import (
    KEY_DATES,
    LEGAL,
    OFFICIAL_CALENDAR,
    SLA,
    ChinaCalendar,
    SlaConfig,
    add_months,
    case_deadlines,
    first_working_day_from,
    intervals_from_transitions,
    legal_deadlines,
    notice_thresholds,
    parse_key_dates,
    period_last_day,
    sla_deadlines,
    zone,
)

pytestmark = pytest.mark.pure

SHANGHAI = zone("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A moment in Shanghai."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def only(deadlines: list, code: str):  # noqa: ANN001, ANN201
    (found,) = [d for d in deadlines if d.code == code]
    return found


def slas(submitted: datetime, intervals=(), now: datetime | None = None, **config) -> dict:  # noqa: ANN001, ANN003
    cfg = SlaConfig(**config) if config else None
    return {d.code: d for d in sla_deadlines(submitted, list(intervals), now or submitted, cfg)}


# --- the official calendar ---------------------------------------------------------------------


def test_the_2026_notice_adjusted_weekends_are_working_days_and_the_golden_weeks_are_not() -> None:
    working = OFFICIAL_CALENDAR.is_working_day
    # Weekend days turned into working days (调休).
    for day in (date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20)):
        assert working(day), day
    assert working(date(2026, 10, 10))
    # Weekdays off: Spring Festival 16-20 and 23 February, National Day 1-7 October.
    for day in (date(2026, 2, 16), date(2026, 2, 20), date(2026, 2, 23), date(2026, 10, 6), date(2026, 10, 7)):
        assert not working(day), day
    assert working(date(2026, 2, 24)) and working(date(2026, 10, 8))
    # An ordinary weekend is off, an ordinary weekday is a working day.
    assert not working(date(2026, 3, 7)) and working(date(2026, 3, 9))


def test_a_year_whose_notice_is_not_in_the_package_is_not_official() -> None:
    assert OFFICIAL_CALENDAR.is_official(2026)
    assert not OFFICIAL_CALENDAR.is_official(2027)
    # Its statutory holidays are still known: New Year's Day 2027 is off.
    assert not OFFICIAL_CALENDAR.is_working_day(date(2027, 1, 1))


def test_a_published_notice_can_be_supplied_before_the_package_has_it() -> None:
    calendar = ChinaCalendar(
        extra_days_off=[date(2027, 1, 4)], extra_workdays=[date(2027, 1, 9)], official_through=2027
    )
    assert calendar.is_official(2027)
    assert not calendar.is_working_day(date(2027, 1, 4))  # a Monday
    assert calendar.is_working_day(date(2027, 1, 9))  # a Saturday
    assert first_working_day_from(date(2027, 1, 1), calendar) == date(2027, 1, 5)


# --- counting a period ---------------------------------------------------------------------------


def test_months_clamp_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)  # leap year
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 8, 31), 1) == date(2026, 9, 30)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_the_start_day_is_not_counted() -> None:
    assert period_last_day(date(2026, 1, 13), months=3) == date(2026, 4, 13)
    assert period_last_day(date(2026, 9, 21), days=15) == date(2026, 10, 6)
    assert period_last_day(date(2021, 6, 14), years=5) == date(2026, 6, 14)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), st.integers(min_value=0, max_value=120))
def test_adding_months_keeps_the_day_unless_the_month_is_shorter(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == start.day or (end.day < start.day and (end + timedelta(days=1)).day == 1)


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 6, 30)))
def test_a_legal_deadline_always_falls_on_a_working_day_on_or_after_its_last_day(published: date) -> None:
    (d,) = legal_deadlines("trademark", {"published_on": published.isoformat()})
    assert OFFICIAL_CALENDAR.is_working_day(d.due)
    raw = add_months(published, 3)
    assert d.due >= raw and (d.extended_from is None) == (d.due == raw)
    assert all(not OFFICIAL_CALENDAR.is_working_day(raw + timedelta(days=i)) for i in range((d.due - raw).days))


# --- legal deadlines -------------------------------------------------------------------------------


def test_opposition_window_is_three_months_from_publication() -> None:
    (d,) = legal_deadlines("trademark", {"published_on": "2026-01-13"})
    assert (d.code, d.kind, d.due, d.extended_from) == ("trademark_opposition", LEGAL, date(2026, 4, 13), None)
    assert d.starts_from == "published_on" and d.start == date(2026, 1, 13)
    assert "art. 33" in d.basis["en"] and "第三十三条" in d.basis["zh"]
    assert d.due_at == at(2026, 4, 14)  # the last day ends at 24:00 Shanghai time
    assert d.last_day == date(2026, 4, 13) and not d.provisional


def test_a_period_ending_on_a_month_end_and_an_adjusted_working_saturday_is_not_extended() -> None:
    # 30 November + 3 months: no 30 February, so 28 February 2026, a Saturday the notice made a working day.
    (d,) = legal_deadlines("trademark", {"published_on": "2025-11-30"})
    assert d.due == date(2026, 2, 28) and d.extended_from is None


def test_a_period_ending_in_the_spring_festival_moves_to_the_first_working_day_after_it() -> None:
    (d,) = legal_deadlines("trademark", {"published_on": "2025-11-20"})
    assert d.extended_from == date(2026, 2, 20)  # a Friday, a day off moved from 14 February
    assert d.due == date(2026, 2, 24)  # 21-23 February off too


def test_a_period_ending_in_the_national_day_week_moves_past_it() -> None:
    (d,) = legal_deadlines("trademark", {"published_on": "2026-07-06"})
    assert (d.extended_from, d.due) == (date(2026, 10, 6), date(2026, 10, 8))


def test_a_period_ending_on_an_ordinary_sunday_moves_to_monday() -> None:
    (d,) = legal_deadlines("trademark", {"published_on": "2026-06-27"})
    assert (d.extended_from, d.due) == (date(2026, 9, 27), date(2026, 9, 28))


def test_invalidation_on_relative_grounds_is_five_years_from_registration_and_2027_is_provisional() -> None:
    (d,) = [d for d in legal_deadlines("trademark", {"registered_on": "2022-01-01"}) if "invalidation" in d.code]
    assert d.code == "trademark_invalidation_relative" and "art. 45" in d.basis["en"]
    # 1 January 2027 is New Year's Day (a Friday): the first working day after is Monday 4 January,
    # but the 2027 arrangement is not in the package yet, so the date may still move.
    assert (d.extended_from, d.due, d.provisional) == (date(2027, 1, 1), date(2027, 1, 4), True)
    assert "驰名商标" in d.note["zh"] and "well-known" in d.note["en"]


def test_trademark_periods_only_for_trademark_cases() -> None:
    dates = {"published_on": "2026-01-13", "registered_on": "2022-01-05"}
    assert legal_deadlines("patent", dates) == []
    # The case-level registered_on is the contested mark's: its invalidation, never a renewal
    # (the enterprise's own registration is its right's registered_on, tested below).
    assert {d.code for d in legal_deadlines("trademark", dates)} == {
        "trademark_opposition",
        "trademark_invalidation_relative",
    }


def test_limitation_is_three_years_under_the_civil_code() -> None:
    (d,) = legal_deadlines("copyright", {"known_on": "2023-10-01"})
    assert d.code == "infringement_limitation" and d.starts_from == "known_on"
    assert (d.extended_from, d.due) == (date(2026, 10, 1), date(2026, 10, 8))
    assert d.basis["en"].startswith("Civil Code art. 188") and "第一百八十八条" in d.basis["zh"]
    assert d.rule_from == date(2021, 1, 1) and "art. 195" in d.note["en"]


def test_limitation_was_two_years_for_a_period_that_ran_out_before_2017_10_01() -> None:
    (d,) = legal_deadlines("trademark", {"known_on": "2015-03-01"})
    assert d.due == date(2017, 3, 1) and d.rule_from == date(1987, 1, 1)
    assert "General Principles of the Civil Law" in d.basis["en"] and "民法通则" in d.basis["zh"]


def test_a_two_year_period_ending_on_the_adjusted_working_saturday_before_the_change_stays_two_years() -> None:
    # 30 September 2017 was a Saturday worked for National Day: the period ended that day, before 1 October.
    (d,) = legal_deadlines("trademark", {"known_on": "2015-09-30"})
    assert (d.due, d.extended_from, d.rule_from) == (date(2017, 9, 30), None, date(1987, 1, 1))


def test_a_two_year_period_still_running_on_2017_10_01_became_three_years() -> None:
    (d,) = legal_deadlines("trademark", {"known_on": "2015-10-01"})
    # 1 October 2018 is National Day: 1-7 October off, so Monday 8 October.
    assert (d.extended_from, d.due, d.rule_from) == (date(2018, 10, 1), date(2018, 10, 8), date(2017, 10, 1))
    assert "Fa Shi [2018] No. 12" in d.basis["en"] and "诉讼时效制度若干问题的解释" in d.basis["zh"]


def test_limitation_under_the_general_provisions_and_its_continuation_in_the_civil_code() -> None:
    (before,) = legal_deadlines("trademark", {"known_on": "2017-10-01"})
    assert (before.due, before.rule_from) == (date(2020, 10, 9), date(2017, 10, 1))  # 1-8 October 2020 off
    assert "General Provisions of the Civil Law art. 188" in before.basis["en"]
    (running,) = legal_deadlines("trademark", {"known_on": "2018-03-01"})
    assert (running.due, running.rule_from) == (date(2021, 3, 1), date(2021, 1, 1))
    assert running.basis["en"].startswith("Civil Code art. 188")


def test_patent_limitation_before_the_2020_patent_law_carries_a_caveat() -> None:
    (d,) = legal_deadlines("patent", {"known_on": "2019-05-06"})
    assert d.due == date(2022, 5, 6) and "Patent Law (2008) art. 68" in d.note["en"]
    (later,) = legal_deadlines("patent", {"known_on": "2021-06-01"})
    assert "Patent Law" not in later.note["en"]


def test_a_notice_starts_a_period_only_when_its_kind_is_known() -> None:
    dates = {"notice_received_on": "2026-09-21"}
    assert legal_deadlines("trademark", dates) == []
    (d,) = legal_deadlines("trademark", dates, notice_kind="trademark_refusal")
    # 15 days from 21 September 2026 is 6 October, in the National Day week.
    assert (d.code, d.extended_from, d.due) == ("notice_trademark_refusal", date(2026, 10, 6), date(2026, 10, 8))
    assert "art. 34" in d.basis["en"]
    (p,) = legal_deadlines("patent", {"notice_received_on": "2026-03-31"}, notice_kind="patent_rejection")
    assert p.due == date(2026, 6, 30) and "art. 41" in p.basis["en"]
    with pytest.raises(ValueError, match="notice kind"):
        legal_deadlines("trademark", dates, notice_kind="warning_letter")


@pytest.mark.parametrize(
    ("right_type", "kind", "received", "due", "extended_from", "article"),
    [
        # Implementing Regulations art. 27: 30 days to answer an opposition; 2026-02-04 a Wednesday.
        ("trademark", "trademark_opposition", "2026-01-05", date(2026, 2, 4), None, "art. 27"),
        # art. 35(3): 15 days; 2026-05-05 is the last day of the Labour Day holiday (1-5 May).
        ("trademark", "trademark_non_registration", "2026-04-20", date(2026, 5, 6), date(2026, 5, 5), "art. 35(3)"),
        # arts. 44(3), 45(2): 30 days; 2026-02-15 is the first day of the Spring Festival (15-23 February).
        (
            "trademark",
            "trademark_invalidation_ruling",
            "2026-01-16",
            date(2026, 2, 24),
            date(2026, 2, 15),
            "arts. 44(3) and 45(2)",
        ),
        # Patent Law art. 46(2): 3 months; February has no 30th: its last day, the 28th, a Saturday
        # the State Council made a working day (调休), so the period is not extended.
        ("patent", "patent_invalidation_decision", "2025-11-30", date(2026, 2, 28), None, "art. 46(2)"),
    ],
)
def test_every_kind_of_notice_starts_its_period_from_the_day_it_was_received(
    right_type: str, kind: str, received: str, due: date, extended_from: date | None, article: str
) -> None:
    (d,) = legal_deadlines(right_type, {"notice_received_on": received}, notice_kind=kind)
    assert (d.code, d.due, d.extended_from, d.provisional) == (f"notice_{kind}", due, extended_from, False)
    assert article in d.basis["en"] and d.basis["zh"] and d.label["zh"]


def test_key_dates_are_the_intake_schemas_and_are_checked() -> None:
    from workstation.vocabulary import KEY_DATES as SCHEMA_KEY_DATES

    assert set(KEY_DATES) == set(SCHEMA_KEY_DATES)
    assert parse_key_dates({"known_on": "2026-09-15", "published_on": date(2026, 1, 13)}) == {
        "known_on": date(2026, 9, 15),
        "published_on": date(2026, 1, 13),
    }
    with pytest.raises(ValueError, match="birthday"):
        parse_key_dates({"birthday": "2026-01-01"})
    with pytest.raises(ValueError, match="known_on"):
        parse_key_dates({"known_on": "2026-13-40"})


def test_every_deadline_speaks_both_languages() -> None:
    dates = {"published_on": "2026-01-13", "registered_on": "2022-01-05", "known_on": "2026-02-01"}
    found = case_deadlines(
        "trademark", dates, submitted_at=at(2026, 3, 2, 10), now=at(2026, 3, 2, 10), notice_kind=None
    )
    assert len(found) == 6  # 3 SLAs; opposition, invalidation, limitation (no right's own date: no renewal)
    for d in found:
        for text in (d.label, d.basis):
            assert set(text) == {"zh", "en"} and all(text.values()), d.code


# --- SLAs --------------------------------------------------------------------------------------


def test_sla_clocks_end_at_midnight_after_the_nth_working_day_after_submission() -> None:
    got = slas(at(2026, 3, 2, 10))  # a Monday in an ordinary March
    assert got["sla_assignment"].due == at(2026, 3, 4)  # end of Tuesday
    assert got["sla_acceptance"].due == at(2026, 3, 5)  # end of Wednesday
    assert got["sla_opinion"].due == at(2026, 3, 24)  # end of Monday 23 March, 15 working days on
    assert got["sla_opinion"].last_day == date(2026, 3, 23)
    assert all(d.kind == SLA and not d.breached and d.running and not d.provisional for d in got.values())
    assert "1 working day" in got["sla_assignment"].basis["en"] and "15" in got["sla_opinion"].basis["zh"]


def test_sla_clocks_count_the_adjusted_saturday_and_skip_the_spring_festival() -> None:
    got = slas(at(2026, 2, 13, 16))  # Friday before the Spring Festival
    assert got["sla_assignment"].due == at(2026, 2, 15)  # Saturday 14 February is a working day
    assert got["sla_acceptance"].due == at(2026, 2, 25)  # then 15-23 February off: Tuesday 24
    # 14, 24-28 February (28 is a worked Saturday), 2-6 and 9-12 March: 15 working days.
    assert got["sla_opinion"].due == at(2026, 3, 13)


def test_the_day_of_submission_never_counts_whatever_the_hour_or_day() -> None:
    assert slas(at(2026, 3, 2, 0, 5))["sla_assignment"].due == at(2026, 3, 4)
    assert slas(at(2026, 3, 1, 23, 55))["sla_assignment"].due == at(2026, 3, 3)  # Sunday: Monday counts
    assert slas(at(2026, 3, 7, 9))["sla_assignment"].due == at(2026, 3, 10)  # Saturday: Monday counts


def test_the_submission_day_is_the_enterprises_local_day() -> None:
    # 17:30 UTC on Monday 2 March is 01:30 on Tuesday 3 March in Shanghai.
    got = slas(datetime(2026, 3, 2, 17, 30, tzinfo=UTC))
    assert got["sla_assignment"].due == at(2026, 3, 5)
    assert got["sla_assignment"].due.utcoffset() == timedelta(hours=8)
    assert got["sla_assignment"].due_at == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


def test_an_sla_is_met_by_entering_its_status_and_breached_once_its_time_is_up() -> None:
    submitted = at(2026, 3, 2, 10)
    history = intervals_from_transitions([("submitted", submitted), ("assigned", at(2026, 3, 3, 9))])
    got = slas(submitted, history, now=at(2026, 3, 5, 10))
    assert got["sla_assignment"].met_at == at(2026, 3, 3, 9) and not got["sla_assignment"].breached
    assert not got["sla_assignment"].running
    assert got["sla_acceptance"].met_at is None and got["sla_acceptance"].breached  # due at the start of 5 March
    assert not got["sla_opinion"].breached
    late = slas(submitted, intervals_from_transitions([("submitted", submitted), ("assigned", at(2026, 3, 4, 0))]))
    assert late["sla_assignment"].breached  # met at the very moment it ran out: too late


def test_waiting_for_the_applicant_stops_the_clock_to_the_second() -> None:
    submitted = at(2026, 3, 2, 10)
    history = intervals_from_transitions(
        [
            ("submitted", submitted),
            ("assigned", at(2026, 3, 2, 11)),
            ("accepted", at(2026, 3, 2, 12)),
            ("in_progress", at(2026, 3, 2, 13)),
            ("awaiting_applicant", at(2026, 3, 10, 15)),  # Tuesday 15:00
            ("in_progress", at(2026, 3, 12, 10)),  # Thursday 10:00: 9 + 24 + 10 = 43 hours paused
        ]
    )
    opinion = slas(submitted, history, now=at(2026, 3, 20))["sla_opinion"]
    # Without the pause: end of Monday 23 March. 43 hours later in working time: 24 on Tuesday, 19 on Wednesday.
    assert opinion.due == at(2026, 3, 25, 19) and not opinion.paused and opinion.running


def test_a_pause_over_a_weekend_costs_only_its_working_hours() -> None:
    submitted = at(2026, 3, 2, 10)
    history = intervals_from_transitions(
        [
            ("in_progress", submitted),
            ("awaiting_applicant", at(2026, 3, 6, 12)),  # Friday noon
            ("in_progress", at(2026, 3, 9, 12)),  # Monday noon: 12 + 12 working hours
        ]
    )
    assert slas(submitted, history, now=at(2026, 3, 20))["sla_opinion"].due == at(2026, 3, 25)  # one day later


def test_while_still_waiting_the_due_moment_assumes_the_wait_ends_now() -> None:
    submitted = at(2026, 3, 2, 10)
    history = intervals_from_transitions([("in_progress", submitted), ("awaiting_applicant", at(2026, 3, 10, 15))])
    opinion = slas(submitted, history, now=at(2026, 3, 11, 15))["sla_opinion"]
    assert opinion.paused and opinion.due == at(2026, 3, 25)  # 24 hours paused so far
    assert notice_thresholds(opinion, at(2026, 3, 11, 15)) == ()
    later = slas(submitted, history, now=at(2026, 3, 12, 15))["sla_opinion"]
    assert later.due == at(2026, 3, 26)  # a day later for every further day of waiting


def test_a_withdrawn_case_stops_its_clocks() -> None:
    submitted = at(2026, 3, 2, 10)
    history = intervals_from_transitions([("submitted", submitted), ("withdrawn", at(2026, 3, 2, 18))])
    got = slas(submitted, history, now=at(2026, 4, 1))
    for d in got.values():
        assert d.stopped_at == at(2026, 3, 2, 18) and d.met_at is None and not d.breached and not d.running
        assert notice_thresholds(d, at(2026, 4, 1)) == ()


def test_sla_working_days_are_configurable() -> None:
    got = slas(at(2026, 3, 2, 10), working_days={"assignment": 2, "acceptance": 3})
    assert set(got) == {"sla_assignment", "sla_acceptance"}
    assert got["sla_assignment"].due == at(2026, 3, 5) and "2" in got["sla_assignment"].basis["en"]
    with pytest.raises(ValueError, match="unknown SLA"):
        SlaConfig(working_days={"triage": 1})
    with pytest.raises(ValueError, match="at least 1"):
        SlaConfig(working_days={"opinion": 0})


def test_an_sla_reaching_into_an_unpublished_year_is_provisional() -> None:
    got = slas(at(2026, 12, 21, 10))
    assert not got["sla_assignment"].provisional
    assert got["sla_opinion"].provisional  # 15 working days on is in January 2027


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sla_deadlines(datetime(2026, 3, 2, 10), [], at(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="now"):
        case_deadlines("trademark", {}, submitted_at=at(2026, 3, 2, 10))


def test_shanghai_time_works_without_a_tz_database(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoneinfo

    import workstation.deadlines as deadlines

    def missing(name: str) -> None:
        raise zoneinfo.ZoneInfoNotFoundError(name)

    monkeypatch.setattr(deadlines, "ZoneInfo", missing)
    assert zone("Asia/Shanghai").utcoffset(None) == timedelta(hours=8)  # no daylight saving since 1991
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        zone("Asia/Hong_Kong")


# --- notices ---------------------------------------------------------------------------------


def test_notice_thresholds_for_a_legal_deadline_in_local_days() -> None:
    (d,) = legal_deadlines("trademark", {"published_on": "2026-07-06"})  # last day 8 October 2026
    assert notice_thresholds(d, at(2026, 9, 7, 10)) == ()
    assert notice_thresholds(d, at(2026, 9, 8, 0)) == ("30d",)
    assert notice_thresholds(d, at(2026, 10, 1, 9)) == ("30d", "7d")
    assert notice_thresholds(d, at(2026, 10, 7, 9)) == ("30d", "7d", "1d")
    assert notice_thresholds(d, at(2026, 10, 8, 23, 59)) == ("30d", "7d", "1d")
    # 16:00 UTC on 8 October is midnight in Shanghai: the last day is over.
    assert notice_thresholds(d, datetime(2026, 10, 8, 15, 59, tzinfo=UTC)) == ("30d", "7d", "1d")
    assert notice_thresholds(d, datetime(2026, 10, 8, 16, 0, tzinfo=UTC)) == ("30d", "7d", "1d", "overdue")


def test_notice_thresholds_longer_than_the_period_are_skipped() -> None:
    got = slas(at(2026, 3, 2, 10))
    opinion, assignment = got["sla_opinion"], got["sla_assignment"]
    assert notice_thresholds(opinion, at(2026, 3, 2, 10)) == ()  # no "30d" for a 3-week clock
    assert notice_thresholds(opinion, at(2026, 3, 16, 10)) == ("7d",)
    assert notice_thresholds(opinion, at(2026, 3, 22, 10)) == ("7d", "1d")
    assert notice_thresholds(assignment, at(2026, 3, 3, 10)) == ()  # a one-day clock: only "overdue"
    assert notice_thresholds(assignment, at(2026, 3, 4, 0)) == ("overdue",)
    with pytest.raises(ValueError, match="timezone-aware"):
        notice_thresholds(opinion, datetime(2026, 3, 16, 10))


def test_case_deadlines_come_soonest_first() -> None:
    submitted = at(2026, 3, 2, 10)
    found = case_deadlines(
        "trademark",
        {"published_on": "2026-01-13", "known_on": "2026-02-01"},
        submitted_at=submitted,
        intervals=intervals_from_transitions([("submitted", submitted)]),
        now=at(2026, 3, 2, 11),
    )
    assert [d.code for d in found] == [
        "sla_assignment",
        "sla_acceptance",
        "sla_opinion",
        "trademark_opposition",
        "infringement_limitation",
    ]
    assert [d.due_at for d in found] == sorted(d.due_at for d in found)
    assert only(found, "infringement_limitation").due == date(2029, 2, 1)


# --- renewals, annual fees, geographical indications, other offices (issue 19) -------------------


def _by_code(found: list) -> dict:
    return {d.code: d for d in found}


MY_MARK = {"kind": "trademark", "number": "12345678", "mark_text": "鼎盛", "registered_on": "2016-03-07"}


def test_a_trademark_registration_is_renewed_every_ten_years_with_six_months_grace() -> None:
    # Registered 2016-03-07: the term runs to 2026-03-06 (Trademark Law art. 39: 10 years from the
    # approval, the first day counted); the grace period (art. 40) ends 6 months later, 2026-09-06,
    # a Sunday: the next working day.
    found = _by_code(legal_deadlines("trademark", {}, rights=[MY_MARK], today=date(2026, 1, 10)))
    assert found["trademark_renewal_2026_r1"].due == date(2026, 3, 6)
    assert found["trademark_renewal_grace_2026_r1"].due == date(2026, 9, 7)
    assert "arts. 39-40" in found["trademark_renewal_2026_r1"].basis["en"]
    assert "12345678 鼎盛" in found["trademark_renewal_2026_r1"].note["en"], "it says which right"
    # Once the grace period is over, the current term is the next one (a renewed registration).
    later = _by_code(legal_deadlines("trademark", {}, rights=[MY_MARK], today=date(2026, 10, 1)))
    assert later["trademark_renewal_2036_r1"].due == date(2036, 3, 6) and later["trademark_renewal_2036_r1"].provisional


def test_renewal_is_the_rights_own_and_invalidation_the_contested_marks() -> None:
    # The enterprise's mark registered 2016-03-07; the squatter's, contested, 2022-01-05: the
    # renewal runs from the first, the 5 years for invalidation (art. 45(1)) from the second.
    found = _by_code(legal_deadlines("trademark", {"registered_on": "2022-01-05"}, rights=[MY_MARK],
                                     today=date(2026, 1, 10)))  # fmt: skip
    assert found["trademark_renewal_2026_r1"].start == date(2016, 3, 7)
    assert found["trademark_invalidation_relative"].start == date(2022, 1, 5)
    assert found["trademark_invalidation_relative"].due == date(2027, 1, 5)
    # A case stored with only the case-level date gets no renewal: that date is the contested mark's.
    assert not [d for d in legal_deadlines("trademark", {"registered_on": "2016-03-07"}) if "renewal" in d.code]


def test_each_right_named_on_a_case_has_its_own_renewal_and_annual_fee() -> None:
    rights = [MY_MARK, {"kind": "copyright", "number": "国作登字-2025-F-1"},
              {"kind": "trademark", "mark_text": "DS", "registered_on": "2017-01-01"},
              {"kind": "patent", "number": "ZL202010000001.X", "filed_on": "2020-05-10"},
              {"kind": "patent", "number": "ZL202110000002.Y", "filed_on": "2021-08-03"},
              {"kind": "gi", "registered_on": "2015-01-01"}]  # fmt: skip
    found = _by_code(legal_deadlines("trademark", {}, rights=rights, today=date(2026, 1, 10)))
    assert {code: d.due for code, d in found.items() if "grace" not in code and "late" not in code} == {
        "trademark_renewal_2026_r1": date(2026, 3, 6),
        "trademark_renewal_2026_r3": date(2026, 12, 31),  # registered 2017-01-01: to 2026-12-31
        "patent_annual_fee_2026_r4": date(2026, 5, 11),
        # filed 2021-08-03: the 2025 fee (due 2025-08-03, a Sunday: the 4th) is still in its late period
        "patent_annual_fee_2025_r5": date(2025, 8, 4),
    }  # a copyright and a GI product (no term to renew) have neither
    assert len(found) == 8, "each with its grace or late-payment period"
    assert "Right 5" in found["patent_annual_fee_late_2025_r5"].note["en"]
    assert found["patent_annual_fee_late_2025_r5"].due == date(2026, 2, 3)


def test_a_patent_annual_fee_falls_on_the_filing_dates_anniversary_with_six_months_to_pay_late() -> None:
    # Filed 2020-05-10: the fee for the year from 2026-05-10 is due that day (a Sunday: Monday the
    # 11th), and may be paid late until 2026-11-10 (Implementing Regulations art. 98).
    mine = [{"kind": "patent", "number": "ZL202010000001.X", "filed_on": "2020-05-10"}]
    found = _by_code(legal_deadlines("patent", {}, rights=mine, today=date(2026, 1, 15)))
    assert found["patent_annual_fee_2026_r1"].due == date(2026, 5, 11)
    assert found["patent_annual_fee_late_2026_r1"].due == date(2026, 11, 10)
    assert "patent_annual_fee_2027_r1" in _by_code(legal_deadlines("patent", {}, rights=mine, today=date(2026, 12, 1)))
    assert not legal_deadlines("trademark", {"filed_on": "2020-05-10"}), "annual fees are a patent's"


def test_a_patent_case_stored_with_only_the_case_level_filing_date_keeps_its_annual_fee() -> None:
    # Stored before rights had dates: the case-level filed_on still gives the fee, under the code
    # it had (no right's number), so the notices already raised for it are not raised again.
    old = _by_code(legal_deadlines("patent", {"filed_on": "2020-05-10"}, rights=[{"kind": "patent"}],
                                   today=date(2026, 1, 15)))  # fmt: skip
    assert old["patent_annual_fee_2026"].due == date(2026, 5, 11)
    # Once a right gives its own filing date, the case-level one is not read.
    mine = [{"kind": "patent", "filed_on": "2021-08-03"}]
    new = _by_code(legal_deadlines("patent", {"filed_on": "2020-05-10"}, rights=mine, today=date(2026, 1, 15)))
    assert set(new) == {"patent_annual_fee_2025_r1", "patent_annual_fee_late_2025_r1"}  # paid late until 2026-02-03


def test_a_geographical_indication_follows_the_route_it_is_protected_by() -> None:
    # As a GI product (the rights name a GI and no mark): objections within 2 months of the
    # announcement. CNIPA's Announcement No. 577 of 2024-04-19: protected from 2024-06-20.
    (gi,) = legal_deadlines("geographical_indication", {"published_on": "2024-04-19"}, rights=[{"kind": "gi"}])
    assert (gi.code, gi.due) == ("gi_product_objection", date(2024, 6, 19))
    # As a collective or certification mark: the Trademark Law's 3-month opposition.
    (mark,) = legal_deadlines("geographical_indication", {"published_on": "2024-04-19"}, rights=[{"kind": "trademark"}])
    assert (mark.code, mark.due) == ("trademark_opposition", date(2024, 7, 19))


def test_other_offices_opposition_periods_are_reference_dates_on_their_own_working_days() -> None:
    day = {"published_on": "2026-03-02"}
    due = {j: legal_deadlines("trademark", day, jurisdiction=j)[0] for j in ("US", "EU", "JP", "KR")}
    assert due["US"].due == date(2026, 4, 1)  # 30 days (15 U.S.C. §1063(a))
    assert due["EU"].due == date(2026, 6, 2)  # 3 months (EUTMR art. 46(1))
    assert due["JP"].due == date(2026, 5, 7)  # 2 months, 2026-05-02 a Saturday, then Golden Week
    assert due["KR"].due == date(2026, 5, 4)  # 2 months, 2026-05-02 a Saturday
    assert all("not legal advice" in d.note["en"] for d in due.values())
    assert not [d for d in legal_deadlines("trademark", day, jurisdiction="US") if d.code == "trademark_opposition"]


# --- a risk warning's or an IP analysis's activity ------------------------------------------------

EXPORT_ON_A_SUNDAY = {"kind": "trade", "date": "2027-03-07", "target_markets": ["US"]}  # 2027-03-07: a Sunday


def test_the_activitys_date_is_a_deadline_kept_as_given_even_on_a_day_off() -> None:
    d = only(
        legal_deadlines("patent", {}, activity=EXPORT_ON_A_SUNDAY, submitted_on=date(2026, 12, 1)), "activity_date"
    )
    assert (d.kind, d.due, d.extended_from, d.start) == (LEGAL, date(2027, 3, 7), None, date(2026, 12, 1))
    assert d.label["zh"] and d.label["en"].startswith("Date of the activity")
    assert d.due_at == at(2027, 3, 8)  # its whole day, in the enterprise's timezone
    assert [x.code for x in legal_deadlines("patent", {})] == []  # no activity, no such deadline


def test_the_activitys_date_is_warned_of_30_and_7_days_before_from_the_submission() -> None:
    early = only(
        case_deadlines(
            "patent", {}, submitted_at=at(2026, 12, 1, 9), now=at(2026, 12, 1, 9), activity=EXPORT_ON_A_SUNDAY
        ),
        "activity_date",
    )
    assert notice_thresholds(early, at(2027, 2, 4, 9)) == ()
    assert notice_thresholds(early, at(2027, 2, 5, 9)) == ("30d",)
    assert notice_thresholds(early, at(2027, 2, 28, 9)) == ("30d", "7d")
    assert notice_thresholds(early, at(2027, 3, 8, 0)) == ("30d", "7d", "1d", "overdue")
    # submitted 20 days before: no "30 days left" that was never true, the 7-day warning still
    late = only(
        case_deadlines(
            "patent", {}, submitted_at=at(2027, 2, 15, 9), now=at(2027, 2, 15, 9), activity=EXPORT_ON_A_SUNDAY
        ),
        "activity_date",
    )
    assert notice_thresholds(late, at(2027, 2, 15, 9)) == ()
    assert notice_thresholds(late, at(2027, 2, 28, 9)) == ("7d",)


# --- what a case's deadlines cost (every API answer of a case computes them) --------------------


def test_a_deadline_works_out_its_due_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from workstation import deadlines

    due = deadlines.Deadline("x", LEGAL, date(2029, 10, 12), {}, {}, "known_on", date(2026, 10, 12))
    looked_up: list[str] = []
    monkeypatch.setattr(deadlines, "zone", lambda name: looked_up.append(name) or zone(name))
    first = due.due_at
    assert first == datetime(2029, 10, 13, tzinfo=SHANGHAI)  # the day after the last day, 00:00
    assert due.due_at is first and looked_up == ["Asia/Shanghai"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        due.due = date(2030, 1, 1)  # type: ignore[misc]
    assert dataclasses.replace(due, due=date(2030, 1, 1)).due_at == datetime(2030, 1, 2, tzinfo=SHANGHAI)
    assert due == dataclasses.replace(due)  # (equal by their fields, whether due_at was asked or not)


def test_a_cases_deadlines_check_no_sla_configuration_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    from workstation.deadlines import _DEFAULT_SLA_CONFIG

    checked: list[SlaConfig] = []
    real = SlaConfig.__post_init__
    monkeypatch.setattr(SlaConfig, "__post_init__", lambda config: checked.append(config) or real(config))
    found = case_deadlines("trademark", {}, submitted_at=at(2026, 12, 7, 10), now=at(2026, 12, 7, 10))
    assert [d.code for d in found] == ["sla_assignment", "sla_acceptance", "sla_opinion"]
    assert checked == []
    with pytest.raises(TypeError):  # the default everyone shares cannot be changed
        _DEFAULT_SLA_CONFIG.working_days["opinion"] = 1  # type: ignore[index]
