"""The embedded broker (kombu's filesystem transport) with several processes on one fresh
instance, as ``python -m workstation run`` starts them: every binding each declares survives."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from kombu import Queue

from workstation.config import Config
from workstation.messaging import EVENTS, broker_connection

PROCESSES = 6


def _bind_one(instance: str, index: int, start: multiprocessing.synchronize.Barrier, errors) -> None:  # noqa: ANN001
    try:
        config = Config.from_env({"WORKSTATION_INSTANCE_PATH": instance})
        with broker_connection(config) as connection:
            start.wait(10)
            Queue(f"race.{index}", EVENTS, routing_key=f"race.{index}")(connection.default_channel).declare()
    except Exception as err:  # noqa: BLE001 - reported to the test
        errors.put(f"{index}: {type(err).__name__}: {err}")


def test_processes_binding_queues_at_once_keep_every_binding(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(20):
        instance = tmp_path / f"instance-{round_}"
        instance.mkdir()
        start, errors = context.Barrier(PROCESSES), context.Queue()
        processes = [
            context.Process(target=_bind_one, args=(str(instance), i, start, errors)) for i in range(PROCESSES)
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join(30)
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        assert not failures, failures
        config = Config.from_env({"WORKSTATION_INSTANCE_PATH": str(instance)})
        with broker_connection(config) as connection:
            table = connection.default_channel.get_table(EVENTS.name)
        assert sorted(row.queue for row in table) == sorted(f"race.{i}" for i in range(PROCESSES)), round_
