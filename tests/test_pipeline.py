"""End to end with real worker processes: submit -> routed -> mailed, on both deployments."""

from __future__ import annotations

import email
import time
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from tests.conftest import wait_for
from workstation.services.models import HandledMessage, Notification

pytestmark = pytest.mark.slow


def status_of(client, people, reference: str, who: str = "enterprise") -> dict:  # noqa: ANN001
    return client.get(f"/api/v1/cases/{reference}", headers=people.headers(who)).get_json()


def mails(config) -> list[email.message.Message]:  # noqa: ANN001
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(config.mail_dir.glob("*.eml"))]


def subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_a_submitted_case_is_assigned_and_both_sides_are_mailed_in_their_language(
    client, people, submit, pipeline, config
):  # noqa: ANN001, E501
    expert = people.add("expert", "expert", language="en", organisation="西北大学知识产权研究院")
    reference = submit()["reference"]
    case = wait_for(
        lambda: (c := status_of(client, people, reference)) and c["status"] == "assigned" and c, message="assignment"
    )
    assert case["assigned_expert"]["id"] == expert.id
    assert case["assigned_expert"]["organisation"] == "西北大学知识产权研究院"
    events = client.get(f"/api/v1/cases/{reference}/events", headers=people.headers("enterprise")).get_json()["events"]
    assert [(e["action"], e["to_status"]) for e in events] == [("submit", "submitted"), ("assign", "assigned")]
    assert events[0]["actor"]["id"] == people.enterprise.id and events[1]["actor_role"] == "system"
    assert events[0]["at"] <= events[1]["at"] and events[1]["detail"] == {}  # routing reasons stay internal
    coordinator_view = client.get(f"/api/v1/cases/{reference}/events", headers=people.headers("coordinator")).get_json()
    assert "score" in " ".join(coordinator_view["events"][1]["detail"]["reasons"])
    assert status_of(client, people, reference, "expert")["reference"] == reference  # now visible to the expert

    sent = wait_for(lambda: len(mails(config)) == 2 and mails(config), message="two emails")
    by_recipient = {m["To"].rsplit("<", 1)[-1].rstrip(">"): m for m in sent}
    to_expert, to_enterprise = by_recipient[expert.email], by_recipient[people.enterprise.email]
    assert subject(to_expert) == f"New case {reference} assigned to you"
    assert reference in subject(to_enterprise) and "专家" in subject(to_enterprise)
    for message in sent:
        assert message.is_multipart()
        kinds = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
        assert kinds == ["text/plain", "text/html"]
    html = to_enterprise.get_payload()[1].get_payload(decode=True).decode()
    assert "<html" in html and f"/cases/{reference}" in html


def test_with_no_eligible_expert_the_case_waits_and_coordinators_are_told(client, people, submit, pipeline, config):  # noqa: ANN001, E501
    people.add("patent_only", "expert", right_types=["patent"])
    people.add("second_coordinator", "coordinator", language="en")
    reference = submit(right_type="copyright")["reference"]
    wait_for(lambda: status_of(client, people, reference)["status"] == "awaiting_expert", message="escalation")
    sent = wait_for(lambda: len(mails(config)) == 2 and mails(config), message="coordinator emails")
    assert sorted(m["To"].rsplit("<", 1)[-1].rstrip(">") for m in sent) == sorted(
        [people.coordinator.email, people.second_coordinator.email]
    )
    assert {subject(m) for m in sent} == {
        f"案件 {reference} 暂无符合条件的专家",
        f"No eligible expert for case {reference}",
    }


def test_the_least_loaded_expert_gets_the_next_case(client, people, submit, pipeline):  # noqa: ANN001
    people.add("busy", "expert", capacity=2)
    people.add("free", "expert", capacity=2)
    first = submit()["reference"]
    wait_for(lambda: status_of(client, people, first)["status"] == "assigned")
    second = submit()["reference"]
    wait_for(lambda: status_of(client, people, second)["status"] == "assigned")
    experts = {status_of(client, people, r)["assigned_expert"]["id"] for r in (first, second)}
    assert experts == {people.busy.id, people.free.id}
    third = submit()["reference"]
    fourth = submit()["reference"]
    fifth = submit()["reference"]
    wait_for(lambda: status_of(client, people, fifth)["status"] in ("assigned", "awaiting_expert"))
    statuses = sorted(status_of(client, people, r)["status"] for r in (third, fourth, fifth))
    assert statuses == ["assigned", "assigned", "awaiting_expert"], "capacity 2 each: the fifth case must wait"


def test_a_decline_routes_the_case_to_another_expert(client, people, submit, pipeline, sessions):  # noqa: ANN001
    first = people.add("first", "expert")
    second = people.add("second", "expert", capacity=10)
    reference = submit()["reference"]
    case = wait_for(lambda: (c := status_of(client, people, reference)) and c["status"] == "assigned" and c)
    assert case["assigned_expert"]["id"] == first.id
    declined = client.post(
        f"/api/v1/cases/{reference}/transitions",
        json={"action": "decline", "reason": "我曾代理对方"},
        headers=people.headers("first"),
    )
    assert declined.status_code == 200, declined.get_json()
    case = wait_for(lambda: (c := status_of(client, people, reference)) and c["status"] == "assigned" and c)
    assert case["assigned_expert"]["id"] == second.id
    wait_for(lambda: len(mails_for(sessions, "expert_case_assigned")) == 2)
    assert active_cases(sessions) == {first.id: 0, second.id: 1}
    withdrawn = client.post(
        f"/api/v1/cases/{reference}/transitions", json={"action": "withdraw"}, headers=people.headers("enterprise")
    )
    assert withdrawn.status_code == 200
    assert active_cases(sessions) == {first.id: 0, second.id: 0}


def active_cases(sessions) -> dict[int, int]:  # noqa: ANN001
    from workstation.services.models import ExpertProfile

    with sessions() as s:
        return dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())


def mails_for(sessions, template: str) -> list[Notification]:  # noqa: ANN001
    with sessions() as s:
        return s.scalars(select(Notification).where(Notification.template == template)).all()


def test_a_redelivered_message_changes_nothing_and_sends_no_second_mail(
    client, people, submit, pipeline, sessions, config
):  # noqa: ANN001, E501
    from workstation.services.messaging import Publisher
    from workstation.services.models import OutboxMessage

    people.add("expert", "expert")
    reference = submit()["reference"]
    wait_for(lambda: len(mails(config)) == 2)
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    publisher = Publisher(config)
    for row in rows:  # every event once more, as a broker redelivery would
        publisher.publish(row.payload, row.routing_key, row.id)
    publisher.close()
    wait_for(lambda: _all_consumed(config), message="redeliveries consumed")
    time.sleep(1)  # let the last claimed message finish
    # submitted: routing, watch; assigned: notify (no hook: webhooks handles nothing, marks nothing)
    assert _handled_count(sessions) == 3
    assert len(mails(config)) == 2
    events = client.get(f"/api/v1/cases/{reference}/events", headers=people.headers("enterprise")).get_json()["events"]
    assert [e["action"] for e in events] == ["submit", "assign"]


def _handled_count(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(HandledMessage))


def _all_consumed(config) -> bool:  # noqa: ANN001
    from tests.helpers import queue_sizes

    return all(size == 0 for size in queue_sizes(config).values())


def test_an_expert_from_the_respondents_organisation_is_never_assigned(client, people, submit, pipeline):  # noqa: ANN001
    people.add("conflicted", "expert", organisation="西安某某贸易有限公司")
    clean = people.add("clean", "expert", capacity=10)
    for _ in range(3):
        reference = submit(parties=[{"role": "respondent", "name": "西安某某贸易公司"}])["reference"]
        case = wait_for(lambda r=reference: (c := status_of(client, people, r)) and c["status"] == "assigned" and c)
        assert case["assigned_expert"]["id"] == clean.id


def test_a_trade_secret_case_goes_only_to_an_expert_cleared_for_confidential_work(client, people, submit, pipeline):  # noqa: ANN001, E501
    people.add("not_cleared", "expert", right_types=["trade_secret"])
    cleared = people.add("cleared", "expert", right_types=["trade_secret"], profile={"confidential_ok": True})
    reference = submit(right_type="trade_secret")["reference"]
    case = wait_for(lambda: (c := status_of(client, people, reference)) and c["status"] == "assigned" and c)
    assert case["assigned_expert"]["id"] == cleared.id and case["confidential"] is True


def test_a_message_on_a_case_is_mailed_to_the_other_side_by_the_running_workers(
    client, people, submit, pipeline, sessions, config
):  # noqa: ANN001
    expert = people.add("expert", "expert", language="en")
    reference = submit()["reference"]
    wait_for(lambda: status_of(client, people, reference)["status"] == "assigned", message="assignment")
    wait_for(lambda: len(mails_for(sessions, "enterprise_case_assigned")) == 1, message="assignment mails")
    said = client.post(
        f"/api/v1/cases/{reference}/messages",
        json={"body": "对方已下架部分商品。"},
        headers=people.headers("enterprise"),
    )
    assert said.status_code == 201
    (sent,) = wait_for(lambda: mails_for(sessions, "case_message"), message="the message mailed")
    assert sent.recipient_id == expert.id
    (mail,) = wait_for(
        lambda: [m for m in mails(config) if subject(m).startswith("New message on case")], message="the mail file"
    )
    assert (
        reference in subject(mail) and "对方已下架部分商品。" in mail.get_payload()[0].get_payload(decode=True).decode()
    )
    time.sleep(1)
    assert len(mails_for(sessions, "case_message")) == 1, "never to its author"
