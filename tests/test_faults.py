"""Faults: a worker killed mid-stream, the broker down at intake, poisoned messages."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import AMQP_VHOST, BACKEND, CASE, Processes, rabbitmqctl, wait_for
from tests.helpers import assert_assigned_and_mailed_once, drain_dead_letters
from tests.rabbitcluster import RabbitCluster
from workers import notify
from workstation.config import Config
from workstation.services.messaging import Publisher, broker_connection, declare_topology, queue_name
from workstation.services.models import Case, HandledMessage, Notification
from workstation.web import create_app

pytestmark = pytest.mark.slow


def assigned_count(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Case).where(Case.status == "assigned"))


def test_killing_the_worker_mid_stream_loses_nothing_and_doubles_nothing(
    client, people, env, tmp_path, sessions, config, smtp_server
):  # noqa: ANN001, E501
    controller, inbox = smtp_server
    # Mail goes to a real SMTP server, so every send is counted where it arrives.
    processes = Processes({**env, "WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
                           "WORKSTATION_STALE_CLAIM": "3"}, tmp_path)  # fmt: skip
    try:
        for i in range(4):
            people.add(f"expert{i}", "expert", capacity=100)
        headers = people.headers("enterprise")
        for i in range(200):
            response = client.post("/api/v1/cases", json={**CASE, "title": f"case {i}"}, headers=headers)
            assert response.status_code == 201
        processes.start("scheduler")
        worker = processes.start()
        wait_for(lambda: assigned_count(sessions) >= 40, timeout=60, message="the first cases to be routed")
        processes.kill(worker)  # SIGKILL: no chance to ack, finish or clean up
        assert assigned_count(sessions) < 200, "the worker finished before it could be killed; the test proves nothing"
        processes.start()
        wait_for(lambda: assigned_count(sessions) == 200, timeout=90, message="all 200 cases assigned")
        wait_for(lambda: _sent(sessions) == 400, timeout=90, message="all 400 emails sent")
        time.sleep(config.reconcile_after + 1)  # anything still in flight or reconciled lands now
    finally:
        processes.stop_all()

    received = assert_assigned_and_mailed_once(sessions, inbox, 200)
    with sessions() as s:
        attempts = s.scalar(select(func.sum(Notification.attempts)))
        resent = s.scalar(select(func.count()).select_from(Notification).where(Notification.attempts > 1))
    # Every send arrived and was counted; the only repeats are emails the killed worker had
    # claimed and maybe sent but not yet recorded (one batch: notify.MAX_BATCH messages, 2 emails
    # each).
    assert received <= attempts
    assert resent <= 2 * notify.MAX_BATCH
    assert drain_dead_letters(config, "routing") == [] and drain_dead_letters(config, "notify") == []


def _sent(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent"))


def _notifications(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Notification))


def test_intake_works_while_the_broker_is_down_and_cases_flow_once_it_is_back(
    client, people, processes, sessions, env, config, smtp_server, tmp_path
):  # noqa: ANN001
    controller, inbox = smtp_server
    # Mail to a real SMTP server, where a second sending of an email would be seen.
    processes.env["WORKSTATION_SMTP_URL"] = f"smtp://127.0.0.1:{controller.port}"
    people.add("expert", "expert", capacity=50)
    headers = people.headers("enterprise")
    if BACKEND == "services":
        # A broker node of this test's own: stopping the machine's node would stop it under
        # every other test running at the same time (the services pass runs in two processes).
        with RabbitCluster(size=1, root=tmp_path / "rabbit") as broker:
            own = {**processes.env, "WORKSTATION_BROKER_URL": broker.url()}
            (tmp_path / "own").mkdir()
            processes = Processes(own, tmp_path / "own")
            client = create_app(Config.from_env(own)).test_client()
            try:
                processes.start("scheduler")
                processes.start()
                broker.ctl(broker.nodes[0], "stop_app")
                try:
                    assert client.get("/readyz").status_code == 503
                    references = [client.post("/api/v1/cases", json=CASE, headers=headers) for _ in range(5)]
                    assert [r.status_code for r in references] == [201] * 5
                    time.sleep(2)
                    assert assigned_count(sessions) == 0
                    assert unpublished(sessions) == 5, "the relay must not mark what the broker did not take"
                finally:
                    broker.ctl(broker.nodes[0], "start_app")
                    broker.ctl(broker.nodes[0], "await_startup")
                _flows_once_back(sessions, inbox, config)
            finally:
                processes.stop_all()
        return
    # The embedded broker is a folder: take it away, as a crashed disk mount would.
    broker_dir = env["WORKSTATION_INSTANCE_PATH"] + "/broker"
    os.makedirs(os.path.dirname(broker_dir), exist_ok=True)
    with open(broker_dir, "w") as f:
        f.write("not a folder")
    assert client.get("/readyz").get_json()["checks"]["broker"] == "unreachable"
    references = [client.post("/api/v1/cases", json=CASE, headers=headers) for _ in range(5)]
    assert [r.status_code for r in references] == [201] * 5
    processes.start("scheduler")
    time.sleep(2)
    assert unpublished(sessions) == 5, "the relay must not mark what the broker did not take"
    os.remove(broker_dir)
    processes.start()
    _flows_once_back(sessions, inbox, config)


def _flows_once_back(sessions, inbox, config) -> None:  # noqa: ANN001
    wait_for(lambda: assigned_count(sessions) == 5, timeout=60, message="cases routed after the broker is back")
    wait_for(lambda: _sent(sessions) == 10, timeout=60, message="their emails sent")
    time.sleep(config.reconcile_after + 1)  # a repeat (a redelivery, the reconciler) would land now
    # No worker died here: not even a repeat with the same Message-ID.
    assert assert_assigned_and_mailed_once(sessions, inbox, 5) == 10


def unpublished(sessions) -> int:  # noqa: ANN001
    from workstation.services.models import OutboxMessage

    with sessions() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)))


POISON = [
    ("not json", b"\x00\x01 this is not json", "application/octet-stream"),
    ("wrong schema", {"hello": "world"}, None),
    ("unknown case", {"case_id": 987654}, None),
    ("huge body", {"case_id": 1, "padding": "x" * 2_000_000}, None),
]


def test_poisoned_messages_are_dead_lettered_with_a_reason_and_the_worker_keeps_going(
    client, people, submit, pipeline, sessions, config
):  # noqa: ANN001, E501
    people.add("expert", "expert")
    publisher = Publisher(config)
    for i, (_name, body, content_type) in enumerate(POISON):
        if content_type:
            # Raw bytes: a producer on a connection of their own. (On the publisher's channel, a
            # message it did not count would shift its confirms' delivery tags by one: its next
            # publications then waited out the 30 s confirm timeout and were sent again.)
            with broker_connection(config) as connection:
                declare_topology(connection, config)  # (as the publisher does: the queue exists)
                connection.Producer().publish(
                    body,
                    exchange="",
                    routing_key=queue_name("routing"),
                    content_type=content_type,
                    content_encoding="binary",
                    message_id=str(900000 + i),
                )
        else:
            publisher.publish(body, queue_name("routing"), 900000 + i, exchange="", event_type="case.submitted")
    publisher.close()
    reference = submit()["reference"]
    wait_for(
        lambda: (
            client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()["status"]
            == "assigned"
        )
    )
    dead = wait_for(lambda: (d := _collect(config, 4)) and d, timeout=30, message="four dead letters")
    reasons = " | ".join(h.get("x-reason", "") for _, h in dead)
    for expected in ("cannot decode", "no integer case_id", "does not exist"):
        assert expected in reasons
    with sessions() as s:
        outcomes = dict(
            s.execute(
                select(HandledMessage.message_id, HandledMessage.outcome).where(HandledMessage.message_id >= 900000)
            ).all()
        )
    assert set(outcomes.values()) == {"dead_lettered"}


_seen: list = []


def _collect(config, n: int):  # noqa: ANN001, ANN202
    _seen.extend(drain_dead_letters(config, "routing"))
    if len(_seen) >= n:
        out = list(_seen)
        _seen.clear()
        return out
    return None


def test_routing_workers_side_by_side_never_push_an_expert_over_capacity(client, people, processes, sessions):  # noqa: ANN001
    people.add("expert", "expert", capacity=5)
    headers = people.headers("enterprise")
    for i in range(20):
        assert client.post("/api/v1/cases", json={**CASE, "title": f"case {i}"}, headers=headers).status_code == 201
    for _ in range(3):
        processes.start("routing")
    processes.start("scheduler")
    wait_until_routed(sessions)
    with sessions() as s:
        statuses = dict(s.execute(select(Case.status, func.count()).group_by(Case.status)).all())
    assert statuses == {"assigned": 5, "awaiting_expert": 15}
    assert counters_match(sessions)


def test_a_second_scheduler_waits_as_a_standby(processes, tmp_path) -> None:  # noqa: ANN001
    first = processes.start("scheduler")
    wait_for(lambda: "is the leader" in processes.logs(), timeout=30)
    processes.start("scheduler")
    time.sleep(3)
    assert processes.logs().count("is the leader") == 1
    processes.kill(first)
    wait_for(lambda: processes.logs().count("is the leader") == 2, timeout=30, message="the standby to take over")


def counters_match(sessions) -> bool:  # noqa: ANN001
    """Every expert's ``active_cases`` counter equals the number of their cases in an active status."""
    from workstation.lifecycle import ACTIVE_FOR_EXPERT
    from workstation.services.models import ExpertProfile

    with sessions() as s:
        counters = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())
        real = dict(
            s.execute(
                select(Case.assigned_expert_id, func.count())
                .where(Case.status.in_(ACTIVE_FOR_EXPERT))
                .group_by(Case.assigned_expert_id)
            ).all()
        )
    assert counters == {expert: real.get(expert, 0) for expert in counters}, (counters, real)
    return True


def test_withdrawals_racing_the_routing_workers_keep_every_counter_right(client, people, processes, sessions) -> None:  # noqa: ANN001, E501
    for i in range(3):
        people.add(f"expert{i}", "expert", capacity=30)
    headers = people.headers("enterprise")
    references = []
    for i in range(60):
        response = client.post("/api/v1/cases", json={**CASE, "title": f"case {i}"}, headers=headers)
        references.append(response.get_json()["reference"])
    processes.start("routing")
    processes.start("routing")
    processes.start("scheduler")
    # Withdraw every other case while the workers are routing them: some withdrawals land
    # before the assignment, some after, some in between.
    for reference in references[::2]:
        response = client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "withdraw"}, headers=headers)
        assert response.status_code == 200, response.get_json()
    wait_until_routed(sessions)
    with sessions() as s:
        statuses = dict(s.execute(select(Case.status, func.count()).group_by(Case.status)).all())
    assert statuses == {"withdrawn": 30, "assigned": 30}
    assert counters_match(sessions)


def wait_until_routed(sessions) -> None:  # noqa: ANN001
    def none_submitted() -> bool:
        with sessions() as s:
            return s.scalar(select(func.count()).select_from(Case).where(Case.status == "submitted")) == 0

    wait_for(none_submitted, timeout=60, message="every case routed")


@pytest.mark.skipif(BACKEND != "services", reason="a connection the broker drops: RabbitMQ")
def test_the_publisher_carries_on_over_a_connection_the_broker_dropped(config) -> None:  # noqa: ANN001
    # As after a RabbitMQ restart: the publisher's connection is dead but it does not know yet.
    # The reconciler's next run must not fail on it (it used to, once, with a broken pipe).
    routing = queue_name("routing")
    publisher = Publisher(config)
    try:
        publisher.publish({"case_id": 1, "reference": "RPA-2026-000001"}, "case.submitted", 1)
        rabbitmqctl("close_all_connections", "--vhost", AMQP_VHOST, "test: the broker drops its connections")
        time.sleep(1)
        for case_id in range(2, 5):
            publisher.publish({"case_id": case_id, "reference": f"RPA-2026-{case_id:06d}"}, "case.submitted", case_id)
        wait_for(lambda: publisher.queue_depth(routing) == 4, timeout=10)
        rabbitmqctl("close_all_connections", "--vhost", AMQP_VHOST, "test: again, before a look at a queue")
        time.sleep(1)
        assert publisher.queue_depth(routing) == 4
    finally:
        publisher.close()
