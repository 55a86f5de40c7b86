"""Helpers for tests that look at the broker."""

from __future__ import annotations

from workstation.config import Config
from workstation.messaging import SUBSCRIPTIONS, broker_connection, dead_letter_queue, queue_name


def queue_sizes(config: Config) -> dict[str, int]:
    """Messages ready in each consumer queue and dead-letter queue."""
    sizes = {}
    with broker_connection(config) as connection:
        channel = connection.channel()
        for consumer in SUBSCRIPTIONS:
            for queue in (queue_name(consumer), dead_letter_queue(consumer).name):
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
        queue = dead_letter_queue(consumer)(connection.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=False)) is not None:
            out.append((message.decode(), dict(message.headers or {})))
            message.ack()
    return out
