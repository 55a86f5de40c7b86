"""Status mail: each change of a case mailed to the people it concerns (never to whoever made it),
in their language; ``off`` and ``daily`` deliveries (the daily summary, sent once a day whatever
reruns); the footer of an email one can answer."""

from __future__ import annotations

import email
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import CASE
from tests.test_accounts import send_mail, subject, text
from tests.test_digest_delivery import NOW
from workers import digests
from workstation.services.cases import transition
from workstation.services.models import (
    Case,
    DailySummary,
    DigestRecord,
    HandledMessage,
    SummaryLine,
    User,
    utcnow,
)
from workstation.services.summary import record_due_summaries


def all_mails(config) -> list[email.message.Message]:  # noqa: ANN001
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(config.mail_dir.glob("*.eml"))]


def mailed(config, template: str) -> dict[str, email.message.Message]:  # noqa: ANN001
    """The emails of ``template`` sent so far, by the address they went to."""
    found = {}
    for path in sorted(config.mail_dir.glob(f"*_{template}.eml")):
        message = email.message_from_bytes(path.read_bytes())
        found[email.utils.parseaddr(message["To"])[1]] = message
    return found


def summaries(config) -> list[email.message.Message]:  # noqa: ANN001
    """The daily summaries sent so far, the earliest day first."""
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(config.mail_dir.glob("summary_*.eml"))]


def html(message: email.message.Message) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()


def submit(client, people) -> str:  # noqa: ANN001
    response = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    assert response.status_code == 201
    return response.get_json()["reference"]


def act(client, people, reference: str, who: str, action: str, **body: object) -> None:  # noqa: ANN001
    response = client.post(
        f"/api/v1/cases/{reference}/transitions", json={"action": action, **body}, headers=people.headers(who)
    )
    assert response.status_code == 200, response.get_json()


def issue_opinion(sessions, reference: str, expert_id: int) -> None:  # noqa: ANN001
    """(Written on the opinion form in life; here the transition alone, whose event nobody delivers.)"""
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "issue_opinion", s.get(User, expert_id))


def test_accepted_declined_and_reassigned_away_are_mailed_to_those_concerned(client, people, sessions, config) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert", language="en")
    second = people.add("second", "expert")
    accepted, declined = submit(client, people), submit(client, people)
    for reference in (accepted, declined):
        act(client, people, reference, "coordinator", "reassign", expert_id=expert.id)
    act(client, people, accepted, "expert", "accept")
    act(client, people, declined, "expert", "decline", reason="利益冲突")
    assert send_mail(config, sessions, "case.accepted") == ["done"]
    assert send_mail(config, sessions, "case.declined") == ["done"]
    # to the enterprise, in Chinese; the expert, who acted, is told nothing
    (to,) = mailed(config, "enterprise_case_accepted")
    assert to == people.enterprise.email
    assert subject(mailed(config, "enterprise_case_accepted")[to]) == f"案件 {accepted}：专家已受理"
    assert "expert 已受理您的案件" in text(mailed(config, "enterprise_case_accepted")[to])
    handed_on = mailed(config, "enterprise_case_declined")
    assert list(handed_on) == [people.enterprise.email]
    assert "转交给另一位专家" in subject(handed_on[people.enterprise.email])
    assert "利益冲突" not in text(handed_on[people.enterprise.email])  # the expert's reason is not the enterprise's
    # a coordinator gives the accepted case to another expert: the first is told it is no longer theirs
    act(client, people, accepted, "coordinator", "reassign", expert_id=second.id)
    send_mail(config, sessions, "case.assigned")
    away = mailed(config, "expert_case_reassigned")
    assert list(away) == [expert.email]
    assert subject(away[expert.email]) == f"Case {accepted} is no longer assigned to you"
    assert second.email in mailed(config, "expert_case_assigned")
    # the coordinator, who reassigned, is told nothing
    assert people.coordinator.email not in {email.utils.parseaddr(m["To"])[1] for m in all_mails(config)}


def test_closed_withdrawn_and_reopened_are_mailed_to_all_but_the_actor(client, people, sessions, config) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert", language="en")
    people.add("coordinator2", "coordinator")
    closed, withdrawn, unassigned = submit(client, people), submit(client, people), submit(client, people)
    for reference in (closed, withdrawn):
        act(client, people, reference, "coordinator", "reassign", expert_id=expert.id)
    act(client, people, closed, "expert", "accept")
    act(client, people, closed, "expert", "start")
    issue_opinion(sessions, closed, expert.id)
    act(client, people, closed, "enterprise", "close")
    act(client, people, withdrawn, "enterprise", "withdraw", reason="已和解")
    act(client, people, unassigned, "enterprise", "withdraw", reason="已和解")
    assert send_mail(config, sessions, "case.closed") == ["done"]
    assert send_mail(config, sessions, "case.withdrawn") == ["done", "done"]
    # closed by the enterprise: the expert is told, in English; the enterprise is not
    assert list(mailed(config, "case_closed")) == [expert.email]
    assert subject(mailed(config, "case_closed")[expert.email]) == f"Case {closed} is closed"
    # withdrawn: the expert of the case; a case without one, the coordinators (it was theirs to place)
    by_case: dict[str, set[str]] = {}
    for path in sorted(config.mail_dir.glob("*_case_withdrawn.eml")):
        message = email.message_from_bytes(path.read_bytes())
        reference = withdrawn if withdrawn in subject(message) else unassigned
        by_case.setdefault(reference, set()).add(email.utils.parseaddr(message["To"])[1])
    assert by_case == {
        withdrawn: {expert.email},
        unassigned: {people.coordinator.email, people.coordinator2.email},
    }
    # a coordinator reopens the closed case: the enterprise (in Chinese) and the expert, with the reason
    act(client, people, closed, "coordinator", "reopen", reason="企业提交了新的证据")
    assert send_mail(config, sessions, "case.reopened") == ["done"]
    reopened = mailed(config, "case_reopened")
    assert sorted(reopened) == sorted([people.enterprise.email, expert.email])
    assert subject(reopened[people.enterprise.email]) == f"案件 {closed} 已重新开启"
    assert "企业提交了新的证据" in text(reopened[expert.email])
    # each mail about a case can be answered, and its footer says so
    zh = reopened[people.enterprise.email]
    assert zh["Reply-To"] and "回复内容将作为留言添加到该案件中" in text(zh) and "回复内容" in html(zh)


def test_off_suppresses_and_daily_gathers_into_one_summary_a_day(client, people, sessions, config) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert")
    deferred = client.patch("/api/v1/me", json={"notifications": {"requests_for_information": "daily"}},
                            headers=people.headers("enterprise"))  # fmt: skip
    assert deferred.status_code == 400, "a request for information is never kept back for the evening"
    client.patch("/api/v1/me", json={"notifications": {"case_updates": "daily"}}, headers=people.headers("enterprise"))
    client.patch("/api/v1/me", json={"notifications": {"case_updates": "off"}}, headers=people.headers("expert"))
    reference = submit(client, people)
    act(client, people, reference, "coordinator", "reassign", expert_id=expert.id)
    act(client, people, reference, "expert", "accept")
    act(client, people, reference, "expert", "start")
    act(client, people, reference, "expert", "request_info", reason="请提供购买凭证")
    for event in ("case.assigned", "case.accepted", "case.info_requested"):
        assert send_mail(config, sessions, event) == ["done"]
    # off: nothing for the expert, not even a line; daily: lines, no mail; mandatory: at once
    assert mailed(config, "expert_case_assigned") == {}
    assert mailed(config, "enterprise_case_assigned") == {} and mailed(config, "enterprise_case_accepted") == {}
    assert list(mailed(config, "enterprise_info_requested")) == [people.enterprise.email]
    with sessions() as s:
        lines = s.scalars(select(SummaryLine).order_by(SummaryLine.id)).all()
        assert [(line.recipient_id, line.template) for line in lines] == [
            (people.enterprise.id, "enterprise_case_assigned"),
            (people.enterprise.id, "enterprise_case_accepted"),
        ]
    # delivered again as if its first worker died before marking it handled: the lines are claimed
    with sessions.begin() as s:
        s.execute(delete(HandledMessage).where(HandledMessage.consumer == "notify"))
    assert send_mail(config, sessions, "case.accepted") == ["done"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(SummaryLine)) == 2
    # the day's summary: recorded once however often the job runs, sent once however often delivered
    tomorrow = utcnow() + timedelta(days=1)
    assert record_due_summaries(sessions, tomorrow) == 1
    assert record_due_summaries(sessions, tomorrow) == 0
    assert send_mail(config, sessions, "summary.due") == ["done"]
    send_mail(config, sessions, "summary.due")  # delivered again: nothing more
    (summary,) = summaries(config)
    assert email.utils.parseaddr(summary["To"])[1] == people.enterprise.email
    body = text(summary)
    assert subject(summary).startswith("您今日的案件动态")
    assert "您的案件已分配给专家。" in body and "专家已受理您的案件。" in body
    assert body.count(f"/cases/{reference}") == 2
    assert summary["Reply-To"] is None and "本邮件由知识产权维权援助工作站发送。" in body and "回复内容" not in body
    # a change after the day's summary was recorded waits for the next day's: never lost, never twice
    act(client, people, reference, "enterprise", "withdraw")
    send_mail(config, sessions, "case.withdrawn")  # (to the expert, who turned case updates off)
    act(client, people, reference, "coordinator", "reopen", reason="重新评估")
    send_mail(config, sessions, "case.reopened")
    assert record_due_summaries(sessions, tomorrow) == 0
    assert record_due_summaries(sessions, tomorrow + timedelta(days=1)) == 1
    send_mail(config, sessions, "summary.due")
    first, second = summaries(config)
    assert first.as_bytes() == summary.as_bytes() and "已被企业撤回" not in text(second)
    assert "案件已重新开启。" in text(second) and "已分配给专家" not in text(second)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DailySummary).where(DailySummary.status == "sent")) == 2
        assert s.scalar(select(func.count()).select_from(SummaryLine).where(SummaryLine.summary_id.is_(None))) == 0


def test_a_coordinator_who_turned_the_digest_off_gets_none(client, people, sessions) -> None:  # noqa: ANN001
    client.patch("/api/v1/me", json={"notifications": {"digest": "off"}}, headers=people.headers("coordinator"))
    assert digests.queue_digest_for(sessions, people.coordinator.id, NOW) is False
    client.patch("/api/v1/me", json={"notifications": {"digest": "daily"}}, headers=people.headers("coordinator"))
    assert digests.queue_digest_for(sessions, people.coordinator.id, NOW) is True
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DigestRecord)) == 1


@pytest.mark.pure  # a SQLite file of its own, whatever the pass's backend
def test_changes_from_before_the_status_mail_are_not_mailed_after_the_upgrade(tmp_path) -> None:  # noqa: ANN001
    """Migrations 0014 and 0015 on a database with old events: neither the notify worker nor the
    webhooks consumer owes any of them (else the reconciler would mail every case's past on the
    day of the upgrade, and hand every old event to the webhooks consumer)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from workstation.services.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0013")
    engine = create_engine(url)
    with engine.begin() as connection:
        for key in ("case.closed", "case.submitted"):
            connection.execute(
                text("INSERT INTO outbox (routing_key, payload, created_at, publish_count) VALUES (:k, '{}', :t, 1)"),
                {"k": key, "t": "2026-01-01 00:00:00"},
            )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as connection:
        handled = (
            connection.execute(
                text(
                    "SELECT h.consumer, o.routing_key FROM handled_messages h JOIN outbox o ON o.id = h.message_id"
                    " ORDER BY h.consumer, o.id"
                )  # fmt: skip
            )
            .tuples()
            .all()
        )
    engine.dispose()
    assert handled == [("notify", "case.closed"), ("webhooks", "case.closed"), ("webhooks", "case.submitted")]


def test_an_expert_whose_case_goes_back_to_the_coordinators_is_told(client, people, sessions, config) -> None:  # noqa: ANN001
    """Escalated from its expert (gone on leave, say) with nobody else fitting: the expert learns it
    is no longer theirs, the coordinators that it waits for them."""
    expert = people.add("expert", "expert", language="en")
    reference = submit(client, people)
    act(client, people, reference, "coordinator", "reassign", expert_id=expert.id)
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "escalate", None, reason="on leave")
    assert send_mail(config, sessions, "case.awaiting_expert") == ["done"]
    away = mailed(config, "expert_case_reassigned")
    assert list(away) == [expert.email]
    assert "gone back to the coordinators" in text(away[expert.email])
    assert people.coordinator.email in mailed(config, "coordinator_no_expert")


@pytest.mark.pure
def test_every_email_is_governed_by_a_preference_or_said_to_be_always_sent() -> None:
    """A new email must be placed: under a preference (and then, where a summary may gather it,
    with its summary line) or among those always sent, with the reason."""
    from workstation.services.accounts import _TEMPLATE_KINDS, ALWAYS_SENT, GATHERED_KINDS
    from workstation.services.mail import TEMPLATES_DIR
    from workstation.services.summary import LINE_TEXTS

    templates = {p.name for p in (Path(TEMPLATES_DIR) / "email").iterdir() if not p.name.startswith("_")}
    governed = set(_TEMPLATE_KINDS) | {"deadline_notice"}  # (its kind depends on the notice)
    assert templates - governed - set(ALWAYS_SENT) == set(), "emails no preference governs, without a reason"
    assert governed & set(ALWAYS_SENT) == set()
    gathered = {name for name, kind in _TEMPLATE_KINDS.items() if kind in GATHERED_KINDS}
    assert gathered - set(LINE_TEXTS) == set(), "emails a daily summary may gather, without their line"
