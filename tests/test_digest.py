"""The coordinators' digest: which period a send time covers, every figure against a hand count, and
the email in both languages (``workstation.services.digest``, ``templates/email/coordinator_digest``)."""

from __future__ import annotations

import email.message
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from flask import render_template

from workstation.services import digest as digest_module
from workstation.services.digest import (
    ASSIGN_ACTIONS,
    Period,
    _first_assignment_hours,
    _opinion_hours,
    _percentiles,
    _percentiles_by_rank,
    bar_widths,
    build_digest,
    deadline_label,
    digest_period,
    load_width,
)
from workstation.services.mail import render_email
from workstation.services.models import Case, CaseEvent, DeadlineNotice, ExpertProfile, Opinion, Rating, User


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- digest_period (pure) ----------------------------------------------------------------------


@pytest.mark.pure
def test_a_daily_period_ends_at_the_latest_send_time() -> None:
    # 08:00 in Shanghai (UTC+8, no DST) is 00:00 UTC.
    before = digest_period("daily", 8, "Asia/Shanghai", utc(2026, 11, 23, 23, 59))  # 07:59 on the 24th
    assert before == Period("daily:2026-11-23", utc(2026, 11, 22), utc(2026, 11, 23))
    at = digest_period("daily", 8, "Asia/Shanghai", utc(2026, 11, 24, 0, 0))  # 08:00 on the 24th
    assert at == Period("daily:2026-11-24", utc(2026, 11, 23), utc(2026, 11, 24))
    later = digest_period("daily", 8, "Asia/Shanghai", utc(2026, 11, 24, 15, 59))  # 23:59 on the 24th
    assert later == at
    # the local date, not the UTC one: 01:00 local on the 25th is still the 24th's period
    assert digest_period("daily", 0, "Asia/Shanghai", utc(2026, 11, 24, 17)).key == "daily:2026-11-25"
    assert at.frequency == "daily" and at.day == date(2026, 11, 24)
    assert at.day_text("en") == "24 November 2026" and at.day_text("zh") == "2026年11月24日"
    assert (at.starts, at.ends) == ("2026-11-23 08:00", "2026-11-24 08:00")


@pytest.mark.pure
def test_a_weekly_period_runs_monday_to_monday_and_is_keyed_by_iso_week() -> None:
    # Tuesday 2026-11-24 09:00 local: the last send was Monday 23rd 08:00 local (ISO week 48).
    tuesday = digest_period("weekly", 8, "Asia/Shanghai", utc(2026, 11, 24, 1))
    assert tuesday == Period("weekly:2026-W48", utc(2026, 11, 16), utc(2026, 11, 23))
    assert tuesday.day == date(2026, 11, 23) and tuesday.frequency == "weekly"
    # Monday 07:59 local: still the week before
    early = digest_period("weekly", 8, "Asia/Shanghai", utc(2026, 11, 22, 23, 59))
    assert early == Period("weekly:2026-W47", utc(2026, 11, 9), utc(2026, 11, 16))
    # ISO years: Monday 2026-12-28 is week 53 of 2026; Monday 2029-12-31 is week 1 of 2030
    assert digest_period("weekly", 8, "Asia/Shanghai", utc(2027, 1, 1)).key == "weekly:2026-W53"
    assert digest_period("weekly", 8, "Asia/Shanghai", utc(2029, 12, 31, 1)).key == "weekly:2030-W01"


@pytest.mark.pure
def test_periods_follow_the_wall_clock_across_daylight_saving() -> None:
    # Europe/Berlin springs forward on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST): 08:00 is 07:00 UTC
    # on the 28th and 06:00 UTC on the 29th, so that day's period is 23 hours long.
    spring = digest_period("daily", 8, "Europe/Berlin", utc(2026, 3, 29, 6))
    assert spring == Period("daily:2026-03-29", utc(2026, 3, 28, 7), utc(2026, 3, 29, 6))
    assert spring.end - spring.start == timedelta(hours=23)
    assert digest_period("daily", 8, "Europe/Berlin", utc(2026, 3, 29, 5, 59)).key == "daily:2026-03-28"
    # ... and falls back on Sunday 2026-10-25: 25 hours, 06:00 UTC to 07:00 UTC.
    autumn = digest_period("daily", 8, "Europe/Berlin", utc(2026, 10, 25, 7))
    assert autumn == Period("daily:2026-10-25", utc(2026, 10, 24, 6), utc(2026, 10, 25, 7))
    # 02:00 does not exist on 2026-03-29: that digest goes when the clocks jump (01:00 UTC = 03:00 CEST)
    gap = digest_period("daily", 2, "Europe/Berlin", utc(2026, 3, 29, 1))
    assert gap == Period("daily:2026-03-29", utc(2026, 3, 28, 1), utc(2026, 3, 29, 1))
    assert digest_period("daily", 2, "Europe/Berlin", utc(2026, 3, 29, 0, 59)).key == "daily:2026-03-28"
    # weekly across the change: Monday 07:00 CET (06:00 UTC) to Monday 07:00 CEST (05:00 UTC)
    week = digest_period("weekly", 7, "Europe/Berlin", utc(2026, 3, 30, 5))
    assert week == Period("weekly:2026-W14", utc(2026, 3, 23, 6), utc(2026, 3, 30, 5))


@pytest.mark.pure
def test_digest_period_refuses_bad_settings() -> None:
    for frequency, hour, zone_name, at in (
        ("monthly", 8, "Asia/Shanghai", utc(2026, 1, 1)),
        ("daily", 24, "Asia/Shanghai", utc(2026, 1, 1)),
        ("daily", 8, "Asia/Shanghai", datetime(2026, 1, 1)),  # naive
    ):
        with pytest.raises(ValueError):
            digest_period(frequency, hour, zone_name, at)


@pytest.mark.pure
def test_bar_widths_and_loads() -> None:
    assert bar_widths([3, 1, 1]) == [100.0, 33.3, 33.3]
    assert bar_widths([1000, 1, 0]) == [100.0, 1.0, 0.0], "a small count still shows, zero does not"
    assert bar_widths([]) == [] and bar_widths([0, 0]) == [0.0, 0.0]
    assert [load_width(2, 4), load_width(5, 4), load_width(0, 0), load_width(1, 0)] == [50.0, 100.0, 0.0, 100.0]


@pytest.mark.pure
def test_every_deadline_code_has_both_labels() -> None:
    assert deadline_label("sla_assignment") == {"zh": "分派专家", "en": "Assign an expert"}
    assert deadline_label("infringement_limitation")["zh"] == "侵权诉讼时效期间届满"
    assert deadline_label("notice_patent_rejection")["en"].startswith("Deadline to request re-examination")
    assert deadline_label("no_such_code") == {"zh": "no_such_code", "en": "no_such_code"}
    assert set(ASSIGN_ACTIONS) == {"assign", "reassign", "reroute"}


# --- the figures -------------------------------------------------------------------------------

# The digest for 24 November 2026 at 08:00 China time: the period is [T0, END) in UTC.
T0 = utc(2026, 11, 23)
END = utc(2026, 11, 24)
NOW = utc(2026, 11, 24, 1)  # 09:00 China time
PERIOD = Period("daily:2026-11-24", T0, END)
H = timedelta(hours=1)


class Seed:
    """A small workstation: cases around the period, their events, opinions, ratings, notices, experts."""

    def __init__(self, session) -> None:  # noqa: ANN001
        self.session = session
        self.refs: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.enterprise = self.user("enterprise", "企业甲", "enterprise")

    def user(self, key: str, name: str, role: str, active: bool = True) -> User:
        user = User(email=f"{key}@example.cn", password_hash="x", role=role, name=name, is_active=active)
        self.session.add(user)
        self.session.flush()
        return user

    def expert(self, name: str, capacity: int, active: int, **profile) -> None:  # noqa: ANN003
        user = self.user(name, name, "expert", active=profile.pop("is_active", True))
        self.session.add(ExpertProfile(user_id=user.id, capacity=capacity, active_cases=active, **profile))

    def case(
        self,
        key: str,
        created: datetime,
        status: str = "submitted",
        right: str = "patent",
        service: str = "consultation",
    ) -> int:
        case = Case(
            enterprise_id=self.enterprise.id,
            right_type=right,
            service=service,
            title=f"案件{key}",
            description="d",
            status=status,
            created_at=created,
        )
        self.session.add(case)
        self.session.flush()
        case.reference = f"RPA-2026-{case.id:06d}"
        self.refs[key], self.ids[key] = case.reference, case.id
        return case.id

    def event(self, key: str, action: str, at: datetime) -> None:
        self.session.add(
            CaseEvent(
                case_id=self.ids[key],
                action=action,
                from_status="submitted",
                to_status="assigned",
                actor_role="system",
                created_at=at,
            )
        )

    def opinion(self, key: str, at: datetime) -> None:
        self.session.add(
            Opinion(case_id=self.ids[key], service="consultation", body={}, issued_by=self.enterprise.id, issued_at=at)
        )

    def rating(self, key: str, score: int, comment: str, at: datetime) -> None:
        self.session.add(
            Rating(case_id=self.ids[key], score=score, comment=comment, rated_by=self.enterprise.id, created_at=at)
        )

    def notice(self, key: str, code: str, threshold: str, due: datetime, noticed: datetime) -> None:
        self.session.add(
            DeadlineNotice(case_id=self.ids[key], code=code, threshold=threshold, due_at=due, created_at=noticed)
        )


def seed(sessions) -> dict[str, str]:  # noqa: ANN001
    with sessions.begin() as session:
        s = Seed(session)
        # New cases, created in [T0, END): patent 3, trademark 1, copyright 1 (total 5);
        # infringement_judgment 2, consultation 2, risk_warning 1.
        s.case("new1", T0, "assigned", "patent", "infringement_judgment")  # the first instant counts
        s.case("new2", T0 + H, "submitted", "patent", "consultation")
        s.case("new3", T0 + 2 * H, "awaiting_expert", "trademark", "consultation")
        s.case("new4", END - timedelta(minutes=1), "submitted", "patent", "infringement_judgment")
        s.case("new5", T0 + 5 * H, "submitted", "copyright", "risk_warning")
        # Not new: a second before, and at the end (the next period's first instant).
        s.case("before", T0 - timedelta(seconds=1), "submitted", "trademark")
        s.case("at_end", END, "submitted", "patent")
        # Waiting for an expert, oldest first: since 20 Nov 00:00 (4 d 1 h at NOW), and new3 (23 h).
        s.case("waiting", utc(2026, 11, 20), "awaiting_expert", "trade_secret")

        # First assignments in the period, hours from submission:
        # d1 12, d2 3, d3 36, d4 1, new1 4, d7 6 -> sorted 1 3 4 6 12 36 (n = 6, even).
        # median at rank 0.5 * 5 = 2.5: (4 + 6) / 2 = 5.0; p90 at rank 0.9 * 5 = 4.5: 12 + 0.5 * (36 - 12) = 24.0
        for key, created, assigned, status in (
            ("d1", T0 - 10 * H, T0 + 2 * H, "in_progress"),
            ("d2", T0 - 2 * H, T0 + 1 * H, "assigned"),
            ("d3", T0 - 30 * H, T0 + 6 * H, "accepted"),
            ("d4", T0 - 1 * H, T0, "assigned"),
        ):
            s.case(key, created, status)
            s.event(key, "assign", assigned)
        s.event("new1", "assign", T0 + 4 * H)
        s.case("d7", T0 - 5 * H, "assigned")
        s.event("d7", "assign", T0 + H)
        s.event("d7", "reroute", T0 + 5 * H)  # not a first assignment: counted once, 6 h
        # Not counted: first assigned before the period (reassigned in it), and assigned at END.
        s.case("d5", T0 - 50 * H, "assigned")
        s.event("d5", "assign", T0 - 40 * H)
        s.event("d5", "reassign", T0 + 3 * H)
        s.case("d6", T0 - 3 * H, "assigned")
        s.event("d6", "assign", END)
        # A submit event is no assignment.
        s.session.add(
            CaseEvent(
                case_id=s.ids["new2"],
                action="submit",
                to_status="submitted",
                actor_role="enterprise",
                created_at=T0 + H,
            )
        )

        # Opinions issued in the period, hours from submission:
        # o1 102, o2 52, o3 210, o4 40, o5 24 -> sorted 24 40 52 102 210 (n = 5, odd).
        # median at rank 2: 52.0; p90 at rank 0.9 * 4 = 3.6: 102 + 0.6 * (210 - 102) = 166.8
        for key, created, issued, status in (
            ("o1", T0 - 100 * H, T0 + 2 * H, "closed"),
            ("o2", T0 - 48 * H, T0 + 4 * H, "closed"),
            ("o3", T0 - 200 * H, T0 + 10 * H, "closed"),
            ("o4", T0 - 20 * H, T0 + 20 * H, "opinion_issued"),
            ("o5", T0 - 10 * H, T0 + 14 * H, "opinion_issued"),
            ("o6", T0 - 30 * H, T0 - H, "closed"),  # before the period
            ("o7", T0 - 30 * H, END, "opinion_issued"),  # at its end
        ):
            s.case(key, created, status, "trademark", "infringement_judgment")
            s.opinion(key, issued)

        # Ratings in the period: 5, 2, 4, 2 -> 4 ratings, mean 13 / 4 = 3.25; lowest first, ties by time:
        # o4 (2, at T0 + 1 h), o2 (2, at T0 + 5 h), o3 (4), o1 (5). o6's 1 was given before the period.
        s.rating("o1", 5, "很好", T0 + 3 * H)
        s.rating("o2", 2, "太慢", T0 + 5 * H)
        s.rating("o3", 4, "", T0 + 6 * H)
        s.rating("o4", 2, "一般", T0 + H)
        s.rating("o6", 1, "差", T0 - 2 * H)

        # SLA breaches of open cases: waiting's (noticed before the period), new3's (noticed in it: new),
        # d1's acceptance (before). Not: a closed case's, a threshold other than overdue.
        s.notice("waiting", "sla_assignment", "overdue", utc(2026, 11, 21, 16), utc(2026, 11, 21, 16, 5))
        s.notice("new3", "sla_assignment", "overdue", T0 + 16 * H, T0 + 16 * H + timedelta(minutes=5))
        s.notice("d1", "sla_acceptance", "overdue", T0 - 3 * H, T0 - 2 * H)
        s.notice("o1", "sla_opinion", "overdue", T0 - 50 * H, T0 - 49 * H)
        s.notice("waiting", "sla_acceptance", "1d", utc(2026, 11, 25, 16), T0)
        # Legal deadlines due in [NOW, NOW + 7 days] of open cases, one row per case and code, nearest
        # first: d3's limitation period (last day 24 Nov), d2's opposition window (27 Nov; two notices).
        s.notice("d2", "trademark_opposition", "30d", utc(2026, 11, 27, 16), utc(2026, 10, 28))
        s.notice("d2", "trademark_opposition", "7d", utc(2026, 11, 27, 16), utc(2026, 11, 20))
        s.notice("d3", "infringement_limitation", "7d", utc(2026, 11, 24, 16), utc(2026, 11, 17))
        s.notice("d3", "infringement_limitation", "1d", utc(2026, 11, 24, 16), T0 + 16 * H)
        s.notice("waiting", "notice_trademark_refusal", "7d", utc(2026, 12, 2, 16), T0)  # after 7 days
        s.notice("o1", "trademark_opposition", "7d", utc(2026, 11, 26, 16), T0)  # closed case
        s.notice("d4", "trademark_opposition", "overdue", utc(2026, 11, 23, 16), T0 + 16 * H)  # passed

        # Experts, most loaded first: A 2/2 (overloaded), B 2/4, F 1/3 (trainee), then those with none,
        # by name: C idle, D on leave (not idle), E unavailable (not idle), H back from leave (idle).
        # G is deactivated: not listed.
        s.expert("A-busy", 2, 2)
        s.expert("B-half", 4, 2)
        s.expert("C-idle", 5, 0)
        s.expert("D-leave", 5, 0, on_leave_until=date(2026, 12, 1))
        s.expert("E-unavailable", 5, 0, available=False)
        s.expert("F-trainee", 3, 1, is_trainee=True)
        s.expert("G-gone", 5, 0, is_active=False)
        s.expert("H-back", 5, 0, on_leave_until=date(2026, 11, 23))
        return s.refs


def test_every_figure_of_the_digest(sessions) -> None:  # noqa: ANN001
    refs = seed(sessions)
    with sessions() as session:
        d = build_digest(session, PERIOD, NOW)
    assert d.period == PERIOD and d.generated_at == NOW

    assert d.new_total == 5
    assert [(c.code, c.count, c.width) for c in d.new_by_right_type] == [
        ("patent", 3, 100.0),
        ("trademark", 1, 33.3),
        ("copyright", 1, 33.3),
    ]
    assert [(c.code, c.count, c.width) for c in d.new_by_service] == [
        ("infringement_judgment", 2, 100.0),
        ("consultation", 2, 100.0),
        ("risk_warning", 1, 50.0),
    ]

    assert d.awaiting_total == 2
    assert [(w.reference, w.waiting) for w in d.awaiting] == [(refs["waiting"], (4, 1)), (refs["new3"], (0, 23))]
    assert d.awaiting[0].age_hours == pytest.approx(97)

    assert (d.sla_breaches_total, d.sla_breaches_new) == (3, 1)
    assert [(b.reference, b.code, b.new) for b in d.sla_breaches] == [
        (refs["new3"], "sla_assignment", True),
        (refs["d1"], "sla_acceptance", False),
        (refs["waiting"], "sla_assignment", False),
    ]
    assert d.sla_breaches[0].label["en"] == "Assign an expert" and d.sla_breaches[0].status == "awaiting_expert"
    assert d.sla_breaches[0].due == "2026-11-24 00:00"

    assert d.deadlines_soon_total == 2
    assert [(r.reference, r.code, r.last_day) for r in d.deadlines_soon] == [
        (refs["d3"], "infringement_limitation", "2026-11-24"),
        (refs["d2"], "trademark_opposition", "2026-11-27"),
    ]

    assert [(e.name, e.active_cases, e.capacity, e.overloaded, e.idle, e.trainee) for e in d.experts] == [
        ("A-busy", 2, 2, True, False, False),
        ("B-half", 2, 4, False, False, False),
        ("F-trainee", 1, 3, False, False, True),
        ("C-idle", 0, 5, False, True, False),
        ("D-leave", 0, 5, False, False, False),
        ("E-unavailable", 0, 5, False, False, False),
        ("H-back", 0, 5, False, True, False),
    ]
    assert [e.name for e in d.overloaded] == ["A-busy"] and [e.name for e in d.idle] == ["C-idle", "H-back"]
    assert d.experts[3].width == 0 and d.experts[1].width == 50.0 and d.experts[4].on_leave
    assert (d.active_cases, d.capacity) == (5, 29)

    assert d.to_assignment.count == 6
    assert d.to_assignment.median_hours == pytest.approx(5.0)
    assert d.to_assignment.p90_hours == pytest.approx(24.0)
    assert d.to_opinion.count == 5
    assert d.to_opinion.median_hours == pytest.approx(52.0)
    assert d.to_opinion.p90_hours == pytest.approx(166.8)

    assert d.ratings_total == 4 and d.ratings_average == pytest.approx(3.25)
    assert [(c.code, c.count, c.width) for c in d.ratings_by_score] == [
        ("1", 0, 0.0),
        ("2", 2, 100.0),
        ("3", 0, 0.0),
        ("4", 1, 50.0),
        ("5", 1, 50.0),
    ]
    assert [(r.reference, r.score, r.comment) for r in d.ratings] == [
        (refs["o4"], 2, "一般"),
        (refs["o2"], 2, "太慢"),
        (refs["o3"], 4, ""),
        (refs["o1"], 5, "很好"),
    ]


def test_percentiles_by_rank_agree_with_percentile_cont(sessions) -> None:  # noqa: ANN001
    """The SQLite method (window functions) gives percentile_cont's answers, also on PostgreSQL;
    and a single case is its own median and 90th percentile."""
    seed(sessions)
    with sessions() as session:
        dialect = session.get_bind().dialect.name
        for durations, expected in (
            (_first_assignment_hours(PERIOD, dialect), [6, 5.0, 24.0]),
            (_opinion_hours(PERIOD, dialect), [5, 52.0, 166.8]),
        ):
            assert _percentiles_by_rank(session, durations.subquery(), (0.5, 0.9)) == pytest.approx(expected)
            assert _percentiles(session, durations) == pytest.approx(expected)
        one = Period("x:one", T0 + 10 * H, T0 + 11 * H)  # only o3's opinion, 210 h
        assert _percentiles(session, _opinion_hours(one, dialect)) == pytest.approx([1, 210.0, 210.0])
        none = Period("x:none", END + 100 * H, END + 101 * H)
        assert _percentiles(session, _opinion_hours(none, dialect)) == [0, None, None]


def test_the_digest_of_an_empty_workstation(sessions, config) -> None:  # noqa: ANN001
    with sessions() as session:
        d = build_digest(session, PERIOD, NOW)
    assert (d.new_total, d.awaiting_total, d.sla_breaches_total, d.deadlines_soon_total, d.ratings_total) == (0,) * 5
    assert d.new_by_right_type == () and d.experts == () and d.ratings_average is None
    assert (d.to_assignment.median_hours, d.to_assignment.p90_hours, d.to_opinion.median_hours) == (None,) * 3
    for language, words in (("zh", "本期没有新案件"), ("en", "No new cases in this period")):
        message = render_email(
            "coordinator_digest", language, "c@example.cn", config, "k", digest=d, recipient=Recipient
        )
        text, html = parts(message)
        assert words in text and words in html and "—" in text


class Recipient:
    name, language, role = "王协调", "zh", "coordinator"


def subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def parts(message: email.message.Message) -> tuple[str, str]:
    text, html = message.get_payload()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return text.get_payload(decode=True).decode(), html.get_payload(decode=True).decode()


def test_the_digest_email_in_chinese_and_english(sessions, config, monkeypatch) -> None:  # noqa: ANN001
    refs = seed(sessions)
    with sessions() as session:
        d = build_digest(session, PERIOD, NOW)

    zh = render_email(
        "coordinator_digest", "zh", "c@example.cn", config, "digest:1:daily:2026-11-24", digest=d, recipient=Recipient
    )
    assert subject(zh) == "每日简报（2026年11月24日）：新案件5件，2件等待分派专家"
    text, html = parts(zh)
    for words in (
        "尊敬的王协调：",
        "2026-11-23 08:00 至 2026-11-24 08:00（北京时间）",
        "专利",
        "侵权诉讼时效期间届满",
        "分派专家",
        "4天1小时",
        "5.0 小时",
        "24.0 小时",
        "2.2 天",
        "F-trainee（见习）",
        "平均 3.2 分",
    ):
        assert words in text and words in html, words
    en = render_email("coordinator_digest", "en", "c@example.cn", config, "k", digest=d, recipient=Recipient)
    assert subject(en) == "Daily digest for 24 November 2026: 5 new cases, 2 awaiting an expert"
    text_en, html_en = parts(en)
    for words in (
        "Dear 王协调,",
        "Patent",
        "Trademark opposition period ends",
        "Assign an expert",
        "4 d 1 h",
        "5.0 h",
        "24.0 h",
        "2.2 days",
        "F-trainee (trainee)",
        "C-idle; H-back",
    ):
        assert words in text_en and words in html_en, words

    cases = {refs[k] for k in ("waiting", "new3", "d1", "d2", "d3", "o1", "o2", "o3", "o4")}
    for ref in cases:
        link = f"http://testserver/cases/{ref}"
        assert link in text and link in text_en and f'href="{link}"' in html and f'href="{link}"' in html_en
    for page in (html, html_en):
        assert "<svg" not in page.lower() and "class=" not in page, "tables and inline styles only"
        assert 'width="100.0%"' in page and "width:33.3%" in page, "the bars of the chart"
    assert text.index(refs["waiting"]) < text.index(refs["new3"]), "oldest first"
    assert text_en.index(f"{refs['o4']} 2/5") < text_en.index(f"{refs['o1']} 5/5"), "lowest rating first"

    # Longer lists than a digest shows: the total, and how many are shown.
    monkeypatch.setattr(digest_module, "LIST_LIMIT", 1)
    with sessions() as session:
        short = build_digest(session, PERIOD, NOW)
    assert len(short.awaiting) == 1 and short.awaiting_total == 2
    text, html = parts(
        render_email("coordinator_digest", "en", "c@example.cn", config, "k", digest=short, recipient=Recipient)
    )
    assert "The 1 oldest of 2 are shown." in text and "The 1 lowest of 4 are shown." in html
    assert refs["new3"] not in text.split("==")[4]


def test_a_weekly_subject_and_a_single_new_case(sessions, config) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        Seed(session).case("only", utc(2026, 11, 18))
    week = digest_period("weekly", 8, "Asia/Shanghai", NOW)
    with sessions() as session:
        d = build_digest(session, week, NOW)
    assert d.new_total == 1
    en = render_email("coordinator_digest", "en", "c@example.cn", config, "k", digest=d, recipient=Recipient)
    assert subject(en) == "Weekly digest for the week of 23 November 2026: 1 new case, 0 awaiting an expert"
    zh = render_email("coordinator_digest", "zh", "c@example.cn", config, "k", digest=d, recipient=Recipient)
    assert subject(zh) == "每周简报（2026年11月23日起的一周）：新案件1件，0件等待分派专家"


def test_the_preview_page_shows_the_same_content(app, sessions) -> None:  # noqa: ANN001
    refs = seed(sessions)
    with sessions() as session:
        d = build_digest(session, PERIOD, NOW)
    for query, words in (("?lang=zh", "每日简报（2026年11月24日）"), ("?lang=en", "Daily digest for 24 November 2026")):
        with app.test_request_context(f"/coordinator/digest/preview{query}"):
            page = render_template("coordinator/digest_preview.html", digest=d, period=PERIOD, base_url="")
        assert words in page and f'href="/cases/{refs["waiting"]}"' in page and "<svg" not in page
        assert "H-back" in page and "E-unavailable" in page, "the page lists every expert"
