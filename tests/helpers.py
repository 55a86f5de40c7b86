"""Helpers for tests that look at the broker, and for races between processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from workstation.config import Config
from workstation.services.messaging import (
    SUBSCRIPTIONS,
    broker_connection,
    dead_letter_queue,
    dead_letter_queue_name,
    queue_name,
)


def queue_sizes(config: Config) -> dict[str, int]:
    """Messages ready in each consumer queue and dead-letter queue."""
    sizes = {}
    with broker_connection(config) as connection:
        channel = connection.channel()
        for consumer in SUBSCRIPTIONS:
            for queue in (queue_name(consumer), dead_letter_queue_name(consumer)):
                try:
                    sizes[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # noqa: BLE001 - not declared yet: empty
                    channel = connection.channel()
                    sizes[queue] = 0
    return sizes


def drain_dead_letters(config: Config, consumer: str) -> list[tuple[dict, dict]]:
    """(body, headers) of every message in a consumer's dead-letter queue, removing them."""
    out = []
    with broker_connection(config) as connection:
        queue = dead_letter_queue(consumer, config.quorum_queues)(connection.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=False)) is not None:
            out.append((message.decode(), dict(message.headers or {})))
            message.ack()
    return out


def _released_together(start: Any, errors: Any, target: Callable[..., None], args: tuple) -> None:
    try:
        start.wait(10)
        target(*args)
    except Exception as err:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(err).__name__}: {err}")


def failures_at_once(target: Callable[..., None], args_of_each: list[tuple]) -> list[str]:
    """Run ``target(*args)`` in one forked process per ``args``, all released at the same moment
    (a barrier), as processes starting together do; returns what each that failed raised."""
    context = multiprocessing.get_context("fork")
    start, errors = context.Barrier(len(args_of_each)), context.Queue()
    processes = [context.Process(target=_released_together, args=(start, errors, target, a)) for a in args_of_each]
    for p in processes:
        p.start()
    for p in processes:
        p.join(30)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    # A child that died without raising (killed, os._exit, a crash in C) or never finished failed too.
    for p in processes:
        if p.exitcode is None:
            p.kill()
            failures.append(f"process {p.pid} did not finish within 30 s")
        elif p.exitcode != 0:
            failures.append(f"process {p.pid} ended with exit code {p.exitcode}")
    return failures
