"""Early-warning notices: each deadline's thresholds noticed exactly once, whatever runs the sweep."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header

from sqlalchemy import func, select

from workers.notify import notice_emails
from workers.sweep import deadline_recipients, sweep_deadlines
from workstation.deadlines import deadlines_for
from workstation.services.models import Case, CaseEvent, DeadlineNotice, Notice, User
from workstation.services.notices import active_coordinators


def trademark_case(people, sessions, published_on: str, status: str = "in_progress") -> int:  # noqa: ANN001
    """A case whose mark was published for opposition on ``published_on`` (a 3-month period)."""
    with sessions.begin() as s:
        case = Case(enterprise_id=people.enterprise.id, right_type="trademark", service="consultation", title="异议",
                    description="d", status=status, key_dates={"published_on": published_on},
                    created_at=datetime(2026, 1, 5, 2, tzinfo=UTC), assigned_expert_id=people.expert.id)  # fmt: skip
        s.add(case)
        s.flush()
        case.reference = f"RPA-2026-{case.id:06d}"
        # submitted, assigned, accepted at once: the SLAs are met, only the legal deadline speaks
        for action, to in (("submit", "submitted"), ("assign", "assigned"), ("accept", "accepted"),
                           ("start", "in_progress")):  # fmt: skip
            s.add(CaseEvent(case_id=case.id, action=action, to_status=to, actor_role="system",
                            created_at=case.created_at))  # fmt: skip
        return case.id


def notices(sessions) -> list[tuple[str, str]]:  # noqa: ANN001
    with sessions() as s:
        return sorted(s.execute(select(DeadlineNotice.code, DeadlineNotice.threshold)).all())


def sent(sessions) -> list[dict]:  # noqa: ANN001
    """Each deadline notice raised (one per case, deadline and threshold, whoever it went to)."""
    with sessions() as s:
        rows = s.scalars(select(Notice).where(Notice.kind == "deadline").order_by(Notice.id)).all()
    seen: dict[tuple, dict] = {}
    for row in rows:
        seen.setdefault((row.case_id, row.body["code"], row.body["threshold"]), row.body)
    return list(seen.values())


def recipients(sessions, code_prefix: str, threshold: str) -> set[str]:  # noqa: ANN001
    """The roles of the people a notice went to."""
    with sessions() as s:
        rows = s.scalars(select(Notice).where(Notice.kind == "deadline")).all()
        return {
            s.get(User, r.recipient_id).role
            for r in rows
            if r.body["code"].startswith(code_prefix) and r.body["threshold"] == threshold
        }


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=4, tzinfo=UTC)  # noon in Shanghai


def opposition(sessions) -> list[str]:  # noqa: ANN001
    """The thresholds sent so far for the trademark opposition period (the case's SLAs also speak)."""
    return [p["threshold"] for p in sent(sessions) if p["code"].startswith("trademark_opposition")]


def test_each_threshold_is_noticed_once_as_the_deadline_nears(people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    trademark_case(people, sessions, "2026-03-10")  # opposition period: last day 2026-06-10
    steps = [("2026-04-01", []), ("2026-05-12", ["30d"]), ("2026-05-12", ["30d"]), ("2026-05-20", ["30d"]),
             ("2026-06-04", ["30d", "7d"]), ("2026-06-09", ["30d", "7d", "1d"]),
             ("2026-06-11", ["30d", "7d", "1d", "overdue"]),
             ("2026-06-30", ["30d", "7d", "1d", "overdue"])]  # fmt: skip
    for day, expected in steps:
        sweep_deadlines(sessions, at(day))
        assert opposition(sessions) == expected, day
    assert sorted(t for code, t in notices(sessions) if code.startswith("trademark_opposition")) == [
        "1d", "30d", "7d", "overdue"
    ]  # fmt: skip
    first = next(p for p in sent(sessions) if p["code"].startswith("trademark_opposition"))
    assert first["last_day"] == "2026-06-10" and first["label"]["zh"] and first["basis"]["en"]


def test_after_downtime_all_passed_thresholds_are_recorded_and_only_the_most_urgent_is_sent(people, sessions) -> None:  # noqa: ANN001, E501
    people.add("expert", "expert")
    trademark_case(people, sessions, "2026-03-10")
    sweep_deadlines(sessions, at("2026-06-08"))  # 2 days left: 30d and 7d both reached
    assert opposition(sessions) == ["7d"]
    assert {t for code, t in notices(sessions) if code.startswith("trademark_opposition")} == {"30d", "7d"}


def test_closed_cases_raise_nothing(people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    trademark_case(people, sessions, "2026-03-10", status="closed")
    assert sweep_deadlines(sessions, at("2026-06-11")) == 0 and sent(sessions) == []


def test_sweeps_racing_each_other_send_each_notice_once(people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    for _ in range(5):
        trademark_case(people, sessions, "2026-03-10")
    results: list[int] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(sweep_deadlines(sessions, at("2026-05-12")))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    once = len(sent(sessions))
    assert once >= 5 and sum(results) == once, results
    assert opposition(sessions) == ["30d"] * 5
    with sessions() as s:
        keys = s.execute(select(DeadlineNotice.case_id, DeadlineNotice.code, DeadlineNotice.threshold)).all()
        assert len(keys) == len(set(keys)) == s.scalar(select(func.count()).select_from(DeadlineNotice))


def test_a_missed_service_deadline_goes_to_the_coordinators_and_a_legal_one_to_the_enterprise(people, sessions) -> None:  # noqa: ANN001, E501
    people.add("expert", "expert")
    with sessions.begin() as s:
        case = Case(enterprise_id=people.enterprise.id, right_type="patent", service="consultation", title="t",
                    description="d", status="submitted", created_at=datetime(2026, 11, 2, 2, tzinfo=UTC))  # fmt: skip
        s.add(case)
        s.flush()
        case.reference = "RPA-2026-000777"
        s.add(CaseEvent(case_id=case.id, action="submit", to_status="submitted", actor_role="enterprise",
                        created_at=case.created_at))  # fmt: skip
    assert sweep_deadlines(sessions, datetime(2026, 11, 24, 4, tzinfo=UTC)) >= 1
    breach = next(p for p in sent(sessions) if p["kind"] == "sla" and p["threshold"] == "overdue")
    # no expert yet: the missed assignment deadline goes to the coordinators only
    assert recipients(sessions, breach["code"], "overdue") == {"coordinator"}
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == "RPA-2026-000777"))
        deadline = next(d for d in deadlines_for(case) if d.code == breach["code"])
        coordinators = active_coordinators(s)
        assert {u.role for u in deadline_recipients(case, replace(deadline, kind="legal"), "30d", coordinators)} == {
            "enterprise"
        }


def test_the_notice_email_reads_well_in_both_languages(people, sessions, config) -> None:  # noqa: ANN001
    from workstation.services.mail import render_email

    people.add("expert", "expert", language="en")
    case_id = trademark_case(people, sessions, "2026-03-10")
    sweep_deadlines(sessions, at("2026-06-04"))
    with sessions() as s:
        rows = s.scalars(select(Notice).where(Notice.kind == "deadline", Notice.case_id == case_id)).all()
        emails = notice_emails(s, {"notice_ids": [r.id for r in rows if r.body["code"].startswith("trademark_opp")]})
        assert {u.role for u, _, _ in emails} == {"enterprise", "expert"}
        for user, template, extra in emails:
            message = render_email(template, user.language, user.email, config, "k", recipient=user, **extra)
            subject = str(make_header(decode_header(message["Subject"])))
            if user.language == "en":
                assert subject.startswith("30 days left on case RPA-2026-") or subject.startswith("7 days left")
            else:
                assert "天" in subject and "商标异议" in subject
