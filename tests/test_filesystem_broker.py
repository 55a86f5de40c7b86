"""The embedded broker (kombu's filesystem transport) with several processes on one fresh
instance, as ``python -m workstation run`` starts them: every binding each declares survives; and
every bind and unbind is written to the exchange's table, which all of them route by."""

from __future__ import annotations

from pathlib import Path

import pytest
from kombu import Queue

from tests.helpers import failures_at_once
from workstation.config import Config
from workstation.services.messaging import EVENTS, broker_connection, consumer_queue, declare_topology, queue_name

# The embedded deployment's broker, whatever the pass's backend: the services pass would run the
# same processes on the same transport again.
pytestmark = pytest.mark.pure

PROCESSES = 6


def _bind_one(instance: str, index: int) -> None:
    config = Config.from_env({"WORKSTATION_INSTANCE_PATH": instance})
    with broker_connection(config) as connection:
        Queue(f"race.{index}", EVENTS, routing_key=f"race.{index}")(connection.default_channel).declare()


def test_processes_binding_queues_at_once_keep_every_binding(tmp_path: Path) -> None:
    for round_ in range(20):
        instance = tmp_path / f"instance-{round_}"
        instance.mkdir()
        failures = failures_at_once(_bind_one, [(str(instance), i) for i in range(PROCESSES)])
        assert not failures, failures
        config = Config.from_env({"WORKSTATION_INSTANCE_PATH": str(instance)})
        with broker_connection(config) as connection:
            table = connection.default_channel.get_table(EVENTS.name)
        assert sorted(row.queue for row in table) == sorted(f"race.{i}" for i in range(PROCESSES)), round_


def _read_config(instance: str, out: str) -> None:
    Path(out).write_text(Config.from_env({"WORKSTATION_INSTANCE_PATH": instance}).secret_key)


def test_processes_starting_together_on_a_fresh_instance_share_one_whole_secret_key(tmp_path: Path) -> None:
    """The embedded default's secret key is made by whichever process starts first: the others,
    starting at the same moment, must neither fail on its file nor read it before it is written."""
    for round_ in range(20):
        instance = tmp_path / f"instance-{round_}"
        instance.mkdir()
        outs = [str(tmp_path / f"key-{round_}-{i}") for i in range(PROCESSES)]
        failures = failures_at_once(_read_config, [(str(instance), out) for out in outs])
        assert not failures, failures
        keys = {Path(out).read_text() for out in outs}
        assert len(keys) == 1 and len(keys.pop()) >= 48, round_
        assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]  # no temporary file left


def test_every_bind_and_unbind_is_written_to_the_exchanges_table(tmp_path: Path) -> None:
    """kombu's filesystem transport skips a binding its process made before, in whichever folder
    (another process may have removed it since), and unbinds in memory only. The reconciler binds
    and unbinds the webhooks queue (``Publisher.bind_only``)."""
    for name in ("first", "second"):  # two instances in one process, as the tests have them
        config = Config.from_env({"WORKSTATION_INSTANCE_PATH": str(tmp_path / name)})
        with broker_connection(config) as connection:
            declare_topology(connection, config)
            channel = connection.default_channel
            queue = consumer_queue("webhooks")(channel)
            assert _webhooks_keys(channel) == set(), "the declared topology binds the webhooks queue to nothing"
            queue.bind_to(EVENTS, routing_key="case.closed")
            assert _webhooks_keys(channel) == {"case.closed"}, name
            queue.unbind_from(EVENTS, routing_key="case.closed")
            assert _webhooks_keys(channel) == set(), name


def _webhooks_keys(channel) -> set[str]:  # noqa: ANN001
    """The keys the webhooks queue is bound to, as the events exchange's file has them."""
    return {row.routing_key for row in channel.get_table(EVENTS.name) if row.queue == queue_name("webhooks")}
