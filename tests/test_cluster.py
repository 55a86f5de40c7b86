"""The broker as a three-node RabbitMQ cluster with quorum queues: nodes die under load.

Services pass only (``rabbit_cluster`` in conftest starts the nodes once for the session). Cases
are submitted throughout through the API while the Erlang VM of the node holding the queues'
leaders is SIGKILLed, and later that of another node; the relay and the consumers go over to the
nodes left (kombu's failover over the ``;``-separated URLs), and in the end every case was taken
(201), assigned once and mailed once (a repeat only with the same Message-ID), and nothing waits
in a queue or a dead-letter queue.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from tests.conftest import AMQP_URL, AMQP_VHOST, BACKEND, CASE, Processes, wait_for
from tests.helpers import assert_assigned_and_mailed_once, queue_sizes
from tests.rabbitcluster import RabbitCluster
from workstation.config import Config
from workstation.services.messaging import (
    SUBSCRIPTIONS,
    Publisher,
    all_queues,
    broker_connection,
    broker_is_reachable,
    connect_retries,
    queue_name,
)
from workstation.services.models import Case, Notification

pytestmark = pytest.mark.slow

#: Each phase of the test submits cases until the pipeline has assigned this many more.
PROGRESS = 15


class Intake:
    """Cases submitted one after another through the API, every answer kept."""

    def __init__(self, client, headers: dict[str, str]) -> None:  # noqa: ANN001
        self.client = client
        self.headers = headers
        self.statuses: list[int] = []

    def submit_until(self, done: Callable[[], bool], timeout: float, what: str) -> float:
        """Submit a case about every 50 ms until ``done()``; the seconds it took."""
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            response = self.client.post(
                "/api/v1/cases", json={**CASE, "title": f"case {len(self.statuses)}"}, headers=self.headers
            )
            self.statuses.append(response.status_code)
            time.sleep(0.05)
        return time.monotonic() - start


def counts(sessions) -> tuple[int, int]:  # noqa: ANN001
    """(cases, assigned cases) now."""
    with sessions() as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        assigned = s.scalar(select(func.count()).select_from(Case).where(Case.status == "assigned"))
    return cases, assigned


def sent(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent"))


def more_assigned(sessions, than: int) -> Callable[[], bool]:  # noqa: ANN001
    return lambda: counts(sessions)[1] >= than + PROGRESS


def newest_case(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.max(Case.id))) or 0


def assigned_after(sessions, case_id: int) -> Callable[[], bool]:  # noqa: ANN001
    """True once a case newer than ``case_id`` is assigned: it went through the relay, the broker
    and the routing consumer after the kill."""

    def done() -> bool:
        with sessions() as s:
            return bool(
                s.scalar(select(func.count()).select_from(Case).where(Case.id > case_id, Case.status == "assigned"))
            )

    return done


def kill_and_carry_on(cluster: RabbitCluster, node, intake: Intake, sessions, timings: dict, label: str) -> None:  # noqa: ANN001
    """SIGKILL ``node`` with cases coming in; time until a case submitted after the kill is
    assigned, then until PROGRESS more are; start the node again and let it catch up."""
    before, newest = counts(sessions)[1], newest_case(sessions)
    cluster.kill(node)
    timings[f"{label}_failover_s"] = intake.submit_until(
        assigned_after(sessions, newest), 60, f"a new case assigned with {node.name} dead"
    )
    intake.submit_until(more_assigned(sessions, before), 60, f"{PROGRESS} cases assigned with {node.name} dead")
    cluster.restart(node)


def test_killing_broker_nodes_under_load_loses_and_doubles_nothing(
    client, people, sessions, cluster_env, rabbit_cluster: RabbitCluster, smtp_server, tmp_path
):  # noqa: ANN001
    controller, inbox = smtp_server
    env = {**cluster_env, "WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"}
    config = Config.from_env(env)
    vhost = config.broker_urls[0].rsplit("/", 1)[1]
    processes = Processes(env, tmp_path)
    for i in range(3):
        people.add(f"expert{i}", "expert", capacity=1000)
    intake = Intake(client, people.headers("enterprise"))
    timings: dict[str, float] = {}
    try:
        processes.start("scheduler")
        processes.start()
        intake.submit_until(more_assigned(sessions, 0), 60, "the first cases to be assigned")

        # First the node holding the queues' leaders (the node they were declared on).
        first = rabbit_cluster.leader_of(queue_name("routing"), vhost)
        assert rabbit_cluster.clients(vhost)[first.name] > 0, "the workers are connected to the node killed"
        kill_and_carry_on(rabbit_cluster, first, intake, sessions, timings, "leader_node")
        rabbit_cluster.wait_for_replicas(vhost)

        # Then the node the workers went over to: they must move a second time.
        held = rabbit_cluster.clients(vhost)
        second = rabbit_cluster.node(max((n for n in held if n != first.name), key=held.__getitem__))
        assert held[second.name] > 0, held
        kill_and_carry_on(rabbit_cluster, second, intake, sessions, timings, "second_node")

        total = len(intake.statuses)
        start = time.monotonic()
        wait_for(lambda: counts(sessions) == (total, total), timeout=60, message="every case assigned")
        wait_for(lambda: sent(sessions) == 2 * total, timeout=60, message="every email sent")
        timings["drain_s"] = time.monotonic() - start
        time.sleep(config.reconcile_after + 1)  # anything still in flight or reconciled lands now
    finally:
        processes.stop_all()
    print(f"cluster: {len(intake.statuses)} cases, {timings}")  # shown with -s, or on failure

    assert intake.statuses == [201] * total, "intake never refused a case"
    # An email may arrive twice (its worker's connection died between the send and the
    # acknowledgement), but then with the same Message-ID.
    assert_assigned_and_mailed_once(sessions, inbox, total)
    sizes = queue_sizes(config)
    assert sizes == dict.fromkeys(sizes, 0), "nothing waiting and nothing dead-lettered"
    types = {row["name"]: row["type"] for row in rabbit_cluster.queues(vhost, "type")}
    assert types == dict.fromkeys(sizes, "quorum"), "the queues and the dead-letter queues are quorum queues"


@pytest.mark.pure
def test_several_broker_urls_are_the_nodes_of_one_cluster_and_quorum_covers_the_dead_letters(tmp_path) -> None:  # noqa: ANN001, E501
    nodes = "amqp://u:p@10.0.0.1:5672/rpa; amqp://u:p@10.0.0.2:5672/rpa;amqp://u:p@10.0.0.3:5672/rpa"
    config = dataclasses.replace(Config.from_env({"WORKSTATION_INSTANCE_PATH": str(tmp_path)}), broker_url=nodes)
    assert [url.split("@")[1] for url in config.broker_urls] == [
        "10.0.0.1:5672/rpa",
        "10.0.0.2:5672/rpa",
        "10.0.0.3:5672/rpa",
    ]
    connection = broker_connection(config)
    assert [url.split("@")[1] for url in connection.alt] == [
        "10.0.0.1:5672/rpa",
        "10.0.0.2:5672/rpa",
        "10.0.0.3:5672/rpa",
    ]
    assert connect_retries(config) == 3, "one try for each node before giving up"
    for quorum in (False, True):
        queues = all_queues(dataclasses.replace(config, quorum_queues=quorum))
        assert len(queues) == 2 * len(SUBSCRIPTIONS)
        for queue in queues:
            assert queue.durable and not queue.exclusive and not queue.auto_delete  # what quorum queues require
            assert (queue.queue_arguments or {}).get("x-queue-type") == ("quorum" if quorum else None), queue.name


@pytest.mark.skipif(BACKEND != "services", reason="RabbitMQ: a node that refuses connections")
def test_a_broker_url_that_refuses_is_passed_over_for_the_next(config) -> None:  # noqa: ANN001
    # The first "node" refuses connections (nothing listens on port 1), as a dead node's port does.
    failover = dataclasses.replace(config, broker_url=f"amqp://guest:guest@127.0.0.1:1/{AMQP_VHOST};{AMQP_URL}")
    assert broker_is_reachable(failover)
    publisher = Publisher(failover)
    try:
        publisher.publish({"case_id": 1, "reference": "RPA-2026-000001"}, "case.submitted", 1)
        assert publisher.queue_depth(queue_name("routing")) == 1
    finally:
        publisher.close()
