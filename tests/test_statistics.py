"""The coordinators' statistics report: the computation (pure), the page with its SVG charts in
both languages, the CSV, XLSX and PDF downloads, the API, and who may see it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.test_web import login
from workstation.deadlines import DEFAULT_SLA_WORKING_DAYS, SLA_TARGETS, zone
from workstation.services.models import Case, CaseEvent, DeadlineNotice, Opinion, Rating
from workstation.statistics import (
    CaseFacts,
    LegalDeadlineFacts,
    Period,
    PeriodError,
    WorkingClock,
    build_report,
    legal_outcome,
    parse_period,
    percentile,
    running_time,
)

H = timedelta(hours=1)
D = timedelta(days=1)
#: Monday 2 November 2026, 10:00 China time: the week has no holiday
MONDAY = datetime(2026, 11, 2, 2, tzinfo=UTC)
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), "2026-11")


# --- pure -----------------------------------------------------------------------------------------


def test_periods_a_month_a_quarter_a_year_or_dates() -> None:
    today = date(2026, 11, 24)
    assert parse_period(today=today) == Period(date(2026, 11, 1), date(2026, 11, 30), "2026-11")
    assert parse_period("2024-02", today=today).last == date(2024, 2, 29)
    assert parse_period("2026-Q4", today=today) == Period(date(2026, 10, 1), date(2026, 12, 31), "2026-Q4")
    assert parse_period("2025", today=today) == Period(date(2025, 1, 1), date(2025, 12, 31), "2025")
    assert parse_period(None, "2026-01-05", "2026-02-01", today=today).key == "2026-01-05..2026-02-01"
    assert parse_period(None, "2026-11-20", None, today=today).last == today
    # a month ends at midnight China time: 16:00 UTC the day before
    assert NOVEMBER.start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert NOVEMBER.end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    for bad in (("2026-13",), ("2026-Q5",), ("26",), (None, "2026-02-01", "2026-01-01"), (None, "2026-02-30")):
        with pytest.raises(PeriodError):
            parse_period(*bad, today=today)


def test_percentiles_interpolate_as_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)


def test_working_time_skips_days_off_and_pauses() -> None:
    clock = WorkingClock(date(2026, 9, 15), date(2026, 10, 20))
    friday_noon = datetime(2026, 9, 18, 4, tzinfo=UTC).timestamp()  # 12:00 China time
    monday_noon = datetime(2026, 9, 21, 4, tzinfo=UTC).timestamp()
    # Saturday 19 is off, Sunday 20 a working day (调休 for the National Day week): 12 + 24 + 12 hours
    assert clock.between(friday_noon, monday_noon) == pytest.approx(2 * 86400)
    # Friday 25 is the Mid-Autumn Festival: only Monday 28's 12 hours
    week = 7 * 86400
    assert clock.between(friday_noon + week, monday_noon + week) == pytest.approx(12 * 3600)
    # 1-7 October are off
    october = datetime(2026, 9, 30, 16, tzinfo=UTC).timestamp(), datetime(2026, 10, 7, 16, tzinfo=UTC).timestamp()
    assert clock.between(*october) == 0
    hour = 3600
    pause = ((friday_noon + 2 * hour, friday_noon + 4 * hour),)
    assert running_time(clock, friday_noon, friday_noon + 6 * hour, pause) == pytest.approx(4 * hour)


def _case(n: int, **kw) -> CaseFacts:  # noqa: ANN003
    values = dict(case_id=n, right_type="patent", service="consultation", status="submitted",
                  technical_field="other", jurisdiction="CN", enterprise_id=1, expert_id=None,
                  submitted_at=MONDAY)  # fmt: skip
    return CaseFacts(**{**values, **kw})


def test_the_report_counts_measures_and_judges() -> None:
    now = datetime(2026, 12, 10, tzinfo=UTC)
    cases = [
        # assigned after 2 h, opinion after 3 working days, closed after 4: every SLA met in time
        _case(
            1,
            status="closed",
            expert_id=7,
            assigned_at=MONDAY + 2 * H,
            opinion_at=MONDAY + 3 * D,
            closed_at=MONDAY + 4 * D,
            sla_met={"assignment": MONDAY + 2 * H, "acceptance": MONDAY + 3 * H, "opinion": MONDAY + 3 * D},
        ),
        # assigned after 4 days (a weekend between: 2 working days): the assignment SLA met late
        _case(
            2,
            right_type="trademark",
            status="in_progress",
            expert_id=7,
            enterprise_id=2,
            submitted_at=MONDAY + 3 * D,
            assigned_at=MONDAY + 7 * D,
            sla_met={"assignment": MONDAY + 7 * D, "acceptance": MONDAY + 7 * D},
        ),
        # never assigned, withdrawn on the day: stopped
        _case(3, right_type="trademark", status="withdrawn", withdrawn_at=MONDAY + H),
        # submitted in October, its opinion in November: measured, not counted
        _case(4, status="opinion_issued", submitted_at=MONDAY - 10 * D, opinion_at=MONDAY + D),
    ]
    legal = [
        LegalDeadlineFacts(1, "trademark_opposition", MONDAY + 5 * D, MONDAY + 3 * D, None),
        LegalDeadlineFacts(2, "infringement_limitation", MONDAY + 6 * D, None, None),
        LegalDeadlineFacts(2, "notice_x", now + D, None, None),
    ]
    report = build_report(NOVEMBER, cases, now=now, legal=legal, scores=[5, 4, 4, 1],
                          enterprises={1: "甲公司", 2: "乙公司"},
                          experts=[])  # fmt: skip
    assert report.total == 3
    assert [(t.code, t.count) for t in report.by_right_type] == [("trademark", 2), ("patent", 1)]
    assert report.by_enterprise[0].code == "甲公司" and report.by_enterprise[0].share == pytest.approx(66.7)
    to_assignment, to_opinion, to_close = report.durations
    assert to_assignment.count == 2 and to_assignment.median_days == pytest.approx((2 / 24 + 2) / 2, abs=0.01)
    assert to_opinion.count == 2  # case 4 too: its opinion came in November
    assert to_close.count == 1 and to_close.median_days == 4.0 and to_close.p90_days == 4.0
    sla = {s.code: s for s in report.sla}
    assert (sla["assignment"].in_time, sla["assignment"].late, sla["assignment"].stopped) == (1, 1, 1)
    assert sla["assignment"].met_share == 50.0
    # case 2 has had no opinion in the 15 working days since 5 November
    assert (sla["opinion"].in_time, sla["opinion"].overdue, sla["opinion"].running) == (1, 1, 0)
    assert report.legal == {"in_time": 1, "passed": 1, "ahead": 1, "stopped": 0}
    assert report.ratings.count == 4 and report.ratings.mean == 3.5 and report.ratings.distribution == (1, 0, 0, 2, 1)


def test_slas_are_judged_as_the_deadlines_module_judges_them() -> None:
    """The report's prefix-sum clock against ``deadlines.sla_deadlines`` itself, on histories with
    waits for the applicant, weekends, the National Day week and a withdrawal."""
    from workstation.deadlines import intervals_from_transitions, sla_deadlines
    from workstation.statistics import SLA_CODES, WorkingClock, pauses_from_transitions, sla_outcome

    start = datetime(2026, 9, 24, 7, tzinfo=UTC)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    histories = [
        [("submitted", 0), ("assigned", 30), ("accepted", 50), ("in_progress", 51), ("awaiting_applicant", 60),
         ("in_progress", 200), ("opinion_issued", 420), ("closed", 500)],
        [("submitted", 0), ("assigned", 20), ("accepted", 100), ("in_progress", 101), ("awaiting_applicant", 102)],
        [("submitted", 0), ("assigned", 2), ("withdrawn", 8)],
        [("submitted", 0), ("awaiting_expert", 1)],
    ]  # fmt: skip
    clock = WorkingClock(date(2026, 9, 20), date(2026, 11, 25))
    for offset in range(0, 24 * 9, 13):  # submitted at hours through the holiday week
        for history in histories:
            transitions = [(status, start + (offset + hours) * H) for status, hours in history]
            intervals = intervals_from_transitions(transitions)
            expected = {d.code[4:]: d for d in sla_deadlines(transitions[0][1], intervals, now)}
            met = {code: next((at for status, at in transitions if status in SLA_TARGETS[code].met_by), None)
                   for code in SLA_CODES}  # fmt: skip
            withdrawn = next((at for status, at in transitions if status == "withdrawn"), None)
            case = _case(1, submitted_at=transitions[0][1], withdrawn_at=withdrawn, sla_met=met,
                         pauses=pauses_from_transitions(transitions, "awaiting_applicant"))  # fmt: skip
            for code, days in DEFAULT_SLA_WORKING_DAYS.items():
                d = expected[code]
                judged = ("stopped" if d.stopped_at else ("late" if d.breached else "in_time") if d.met_at
                          else "overdue" if d.breached else "running")  # fmt: skip
                assert sla_outcome(clock, case, code, days, now.timestamp()) == judged, (offset, history, code)


def test_an_empty_period_is_a_report_of_nothing() -> None:
    report = build_report(NOVEMBER, [], now=MONDAY)
    assert report.total == 0 and report.by_status == ()
    assert all(d.count == 0 and d.median_days is None for d in report.durations)
    assert all(s.met_share is None for s in report.sla)
    assert report.ratings.mean is None


def test_a_legal_deadline_is_in_time_when_the_opinion_came_first() -> None:
    due = MONDAY + 5 * D
    assert legal_outcome(LegalDeadlineFacts(1, "x", due, due - H, None), MONDAY) == "in_time"
    assert legal_outcome(LegalDeadlineFacts(1, "x", due, due + H, None), due + D) == "passed"
    assert legal_outcome(LegalDeadlineFacts(1, "x", due, None, due - D), due + D) == "stopped"
    assert legal_outcome(LegalDeadlineFacts(1, "x", due, None, None), MONDAY) == "ahead"


# --- the page, the files, the API -------------------------------------------------------------------


def seed(people, sessions) -> str:  # noqa: ANN001
    """Three cases submitted in the last two hours: one closed (assigned, opinion, rated 5), one in
    progress, one confidential waiting; a legal deadline the sweep recorded. Returns the query of a
    period around them (``this month`` would miss them just after midnight on the 1st)."""
    now = datetime.now(UTC)
    today = now.astimezone(zone()).date()
    around = f"from={today - D}&to={today + D}"
    people.add("expert", "expert")
    with sessions.begin() as s:
        for n, (status, right, confidential) in enumerate(
            (("closed", "patent", False), ("in_progress", "trademark", False), ("submitted", "trade_secret", True))
        ):
            created = now - timedelta(minutes=30 * (n + 1))
            case = Case(enterprise_id=people.enterprise.id, right_type=right, service="consultation",
                        title=f"绝密标题{n}", description="d", status=status, created_at=created,
                        confidential=confidential,
                        assigned_expert_id=people.expert.id if status != "submitted" else None)  # fmt: skip
            s.add(case)
            s.flush()
            case.reference = f"RPA-2026-8{case.id:05d}"
            s.add(CaseEvent(case_id=case.id, action="submit", to_status="submitted", actor_role="enterprise",
                            created_at=created))  # fmt: skip
            if status != "submitted":
                s.add(CaseEvent(case_id=case.id, action="assign", from_status="submitted", to_status="assigned",
                                actor_role="system", created_at=created + timedelta(minutes=5)))  # fmt: skip
            if status == "in_progress":  # it waited for the applicant once (its pauses are read)
                for to, minutes in (("awaiting_applicant", 6), ("in_progress", 8)):
                    s.add(CaseEvent(case_id=case.id, action="x", to_status=to, actor_role="expert",
                                    created_at=created + timedelta(minutes=minutes)))  # fmt: skip
            if status == "closed":
                for to, minutes in (("opinion_issued", 10), ("closed", 15)):
                    s.add(CaseEvent(case_id=case.id, action="x", to_status=to, actor_role="expert",
                                    created_at=created + timedelta(minutes=minutes)))  # fmt: skip
                s.add(Opinion(case_id=case.id, service="consultation", body={}, issued_by=people.expert.id,
                              issued_at=created + timedelta(minutes=10)))  # fmt: skip
                s.add(Rating(case_id=case.id, score=5, comment="好", rated_by=people.enterprise.id))
                s.add(DeadlineNotice(case_id=case.id, code="infringement_limitation", threshold="30d",
                                     due_at=now + H))  # fmt: skip
    return around


def test_the_page_draws_svg_charts_in_chinese_and_english(app, client, people, sessions) -> None:  # noqa: ANN001
    around = seed(people, sessions)
    login(client, people.coordinator.email)
    desk = client.get("/coordinator/").get_data(as_text=True)
    assert 'href="/coordinator/statistics"' in desk
    this_month = client.get("/coordinator/statistics")
    assert this_month.status_code == 200 and "<svg" in this_month.get_data(as_text=True)
    response = client.get(f"/coordinator/statistics?{around}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in page and "<rect" in page and "<script" not in page.split("<main", 1)[1]
    assert "按权利类型统计案件" in page and "专利" in page and "3 件" in page
    assert "绝密标题" not in page and "RPA-2026-8" not in page, "no case is named"
    people.add("english", "coordinator", language="en")
    other = app.test_client()
    login(other, people.english.email)
    english = other.get(f"/coordinator/statistics?{around}").get_data(as_text=True)
    assert "Cases by right type" in english and "Patent" in english and "<svg" in english
    bad = client.get("/coordinator/statistics?period=2026-13")
    assert bad.status_code == 400 and "2026-Q4" in bad.get_data(as_text=True)


def test_csv_xlsx_and_pdf_downloads(client, people, sessions) -> None:  # noqa: ANN001
    from openpyxl import load_workbook
    from pypdf import PdfReader

    around = seed(people, sessions)
    login(client, people.coordinator.email)
    response = client.get(f"/coordinator/statistics?format=csv&{around}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["统计报告"] and ["专利", "1", "33.3"] in rows
    assert ["权利类型", "案件", "占比 (%)"] in rows and ["按企业统计案件"] in rows
    xlsx = client.get(f"/coordinator/statistics?format=xlsx&{around}").get_data()
    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    sheet = book["按权利类型统计案件"]
    assert [c.value for c in next(sheet.iter_rows(max_row=1))] == ["权利类型", "案件", "占比 (%)"]
    pdf = client.get(f"/coordinator/statistics?format=pdf&{around}").get_data()
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "统计报告" in text and "按权利类型统计案件" in text
    fonts = {f.get_object()["/BaseFont"] for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    assert any("CJK" in str(name) for name in fonts), fonts


def test_the_api_answers_json_and_files_to_coordinators(client, people, sessions) -> None:  # noqa: ANN001
    around = seed(people, sessions)
    auth = people.headers("coordinator")
    body = client.get(f"/api/v1/statistics?{around}", headers=auth).get_json()
    assert body["total"] == 3 and {"code": "patent", "count": 1, "share": 33.3} in body["by_right_type"]
    assert body["ratings"]["distribution"]["5"] == 1
    assert body["legal"] == {"in_time": 1, "passed": 0, "ahead": 0, "stopped": 0}, "the opinion came first"
    durations = {d["milestone"]: d["count"] for d in body["durations"]}
    assert durations == {"assignment": 2, "opinion": 1, "close": 1}
    sla = {s["code"]: s for s in body["sla"]}
    assert sla["assignment"]["in_time"] == 2 and sla["assignment"]["running"] == 1
    assert sla["opinion"]["in_time"] == 1 and sla["opinion"]["running"] == 2
    assert client.get(f"/api/v1/statistics?format=xlsx&{around}", headers=auth).data[:2] == b"PK"
    pdf = client.get(f"/api/v1/statistics?format=pdf&{around}", headers=auth)
    assert pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    # (each date well formed; together no period: 422)
    assert client.get("/api/v1/statistics?from=2026-02-01&to=2026-01-01", headers=auth).status_code == 422
    assert client.get("/api/v1/statistics?format=doc", headers=auth).status_code == 400
    assert client.get("/api/v1/statistics?period=", headers=auth).status_code == 400
    assert client.get("/api/v1/statistics?from=20260101", headers=auth).status_code == 400
    assert client.get("/api/v1/statistics", headers=people.headers("enterprise")).status_code == 403
    assert client.get("/api/v1/statistics").status_code == 401
    json.dumps(body)


def test_only_coordinators_see_the_report(app, people) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    anonymous = app.test_client().get("/coordinator/statistics?format=csv")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for who in (people.enterprise, people.expert):
        client = app.test_client()
        login(client, who.email)
        assert client.get("/coordinator/statistics").status_code == 403
        assert client.get("/coordinator/statistics?format=pdf").status_code == 403
