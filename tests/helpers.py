"""Helpers for tests that look at the broker, and for races between processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def assert_assigned_and_mailed_once(sessions, inbox, cases: int) -> int:  # noqa: ANN001
    """Each of the ``cases`` cases assigned exactly once, and its two emails (to the expert and to
    the enterprise) recorded once each and received by the SMTP server, a repeat only with the same
    Message-ID (the README's "at least once"). Returns how many emails the server received."""
    from sqlalchemy import func, select

    from workstation.services.models import CaseEvent, Notification

    with sessions() as s:
        assigns = s.execute(
            select(CaseEvent.case_id, func.count()).where(CaseEvent.action == "assign").group_by(CaseEvent.case_id)
        ).all()
        per_template = s.execute(
            select(Notification.template, func.count(), func.count(func.distinct(Notification.case_id))).group_by(
                Notification.template
            )
        ).all()
        unsent = s.scalar(select(func.count()).select_from(Notification).where(Notification.status != "sent"))
    assert len(assigns) == cases and all(n == 1 for _, n in assigns), f"every case assigned exactly once: {assigns}"
    assert {t: (n, d) for t, n, d in per_template} == {
        "expert_case_assigned": (cases, cases),
        "enterprise_case_assigned": (cases, cases),
    }, "one email per case to the expert and one to the enterprise"
    assert unsent == 0
    message_ids = [m["Message-ID"] for m in inbox.messages]
    assert len(set(message_ids)) == 2 * cases <= len(message_ids), "every email received, repeats keep their Message-ID"
    return len(message_ids)


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


@contextmanager
def statements_run(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs, in order."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
