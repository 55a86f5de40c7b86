"""Malformed and hostile messages put straight on each consumer's queue (routing, notify, watch).

Each must end in that consumer's dead-letter queue at once, with an ``x-reason`` saying why, and a
line in the worker's log; the worker keeps going: a case submitted afterwards is routed, mailed
and watched. (``test_faults`` covers a few of these for the routing consumer already.)
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import CASE, wait_for
from tests.helpers import drain_dead_letters
from workers.delivery import MAX_MESSAGE_BYTES
from workstation.config import Config
from workstation.services.messaging import SUBSCRIPTIONS, Publisher, queue_name
from workstation.services.models import Case, HandledMessage, Notification, OutboxMessage

pytestmark = pytest.mark.slow

#: What each consumer is normally sent: the event type the hostile messages pretend to be.
EVENT_TYPE = {
    "routing": "case.submitted",
    "notify": "case.assigned",
    "watch": "case.submitted",
    "mailin": "mail.received",
    "webhooks": "case.submitted",
}
#: Message ids of the hostile messages (no outbox row has them).
FIRST_ID = 9_100_000
NESTING = 50_000  # deep enough to break a recursive decoder, small enough to stay under the size cap


@dataclass(frozen=True)
class Hostile:
    probe: str  # a marker that survives into the dead letter's body, to tell the messages apart
    body: bytes
    reason: str | dict[str, str]  # what x-reason must say (per consumer where they differ)
    content_type: str = "application/json"
    event_type: str | None = None  # None: the consumer's usual one
    message_id: str | None = "next"  # "next": a fresh id; None: no message id at all
    consumers: tuple[str, ...] = tuple(SUBSCRIPTIONS)  # the queues it is put on

    def expected_reason(self, consumer: str) -> str:
        return self.reason if isinstance(self.reason, str) else self.reason[consumer]


def as_json(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


NO_CASE = {
    "routing": "no integer case_id",
    "notify": "names no existing case",
    "watch": "names no existing case",
    "mailin": "names no received mail",
    "webhooks": "names no case",
}
#: ``test_faults`` sends routing an unknown case and a huge body already.
NOT_ROUTING = ("notify", "watch")


def hostile_messages(real_case_id: int) -> list[Hostile]:
    return [
        Hostile("probe-not-json", b"{probe-not-json: \xff\xfe", "cannot decode"),
        # The broker's other serializers must never be used: pickle would run code on decoding.
        Hostile(
            "probe-pickle",
            pickle.dumps({"probe": "probe-pickle"}),
            "cannot decode",
            content_type="application/x-python-serialize",
        ),
        Hostile("probe-nested", b'["probe-nested", ' + b"[" * NESTING + b"]" * NESTING + b"]", "cannot decode"),
        Hostile("probe-list", b'["probe-list", 1]', "body is not a JSON object"),
        Hostile("probe-missing-case-id", as_json(probe="probe-missing-case-id"), NO_CASE),
        Hostile("probe-case-id-string", as_json(probe="probe-case-id-string", case_id=str(real_case_id)), NO_CASE),
        Hostile("probe-case-id-true", as_json(probe="probe-case-id-true", case_id=True), NO_CASE),
        Hostile("probe-case-id-huge", as_json(probe="probe-case-id-huge", case_id=10**30), NO_CASE),
        Hostile(
            "probe-unknown-case",
            as_json(probe="probe-unknown-case", case_id=987654),
            "names no existing case",
            consumers=NOT_ROUTING,
        ),
        Hostile(
            "probe-unknown-mail",
            as_json(probe="probe-unknown-mail", received_id=987654),
            "no received mail 987654",
            consumers=("mailin",),
        ),
        Hostile(
            "probe-huge-body",
            as_json(probe="probe-huge-body", case_id=real_case_id, padding="x" * (MAX_MESSAGE_BYTES + 1)),
            "larger than",
            consumers=NOT_ROUTING,
        ),
        Hostile(
            "probe-unknown-event",
            as_json(probe="probe-unknown-event", case_id=real_case_id),
            {
                "routing": "routing has nothing to do for 'case.teleported'",
                "notify": "notify has no email for 'case.teleported'",
                "watch": "watch has nothing to do for 'case.teleported'",
                "mailin": "mailin has nothing to do for 'case.teleported'",
                "webhooks": "webhooks has nothing to do for 'case.teleported'",
            },
            event_type="case.teleported",
        ),
        Hostile(
            "probe-no-message-id",
            as_json(probe="probe-no-message-id", case_id=real_case_id),
            "is not an outbox id",
            message_id=None,
        ),
        # Too large for the database's id column: the driver would overflow on every record of it.
        Hostile(
            "probe-huge-message-id",
            as_json(probe="probe-huge-message-id", case_id=real_case_id),
            "is not an outbox id",
            message_id="9" * 30,
        ),
    ]


def publish_hostile(config: Config, messages: list[Hostile]) -> dict[str, dict[str, Hostile]]:
    """Put every message on every consumer's queue; returns {consumer: {probe: message}}.

    Through the default exchange straight to the queue, as raw bytes with their own content type,
    so nothing on our side serialises or checks them first.
    """
    publisher = Publisher(config)
    producer = publisher._ensure()  # noqa: SLF001 - raw bytes need the producer itself
    sent: dict[str, dict[str, Hostile]] = {}
    next_id = FIRST_ID
    try:
        for consumer in SUBSCRIPTIONS:
            sent[consumer] = {}
            for message in (m for m in messages if consumer in m.consumers):
                properties: dict[str, Any] = {"type": message.event_type or EVENT_TYPE[consumer]}
                if message.message_id == "next":
                    properties["message_id"] = str(next_id)
                    next_id += 1
                elif message.message_id is not None:
                    properties["message_id"] = message.message_id
                producer.publish(
                    message.body,
                    exchange="",
                    routing_key=queue_name(consumer),
                    content_type=message.content_type,
                    content_encoding="binary" if message.content_type != "application/json" else "utf-8",
                    delivery_mode=2,
                    retry=False,
                    **properties,
                )
                sent[consumer][message.probe] = message
    finally:
        publisher.close()
    return sent


def probe_of(body: Any) -> str:
    """Which hostile message a dead letter is (its body, or the repr of it, names the probe)."""
    found = re.search(r"probe-[a-z-]+", json.dumps(body))
    return found.group(0) if found else repr(body)[:80]


def test_hostile_messages_are_dead_lettered_with_a_reason_and_every_worker_keeps_going(
    client, people, pipeline, sessions, config
) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    headers = people.headers("enterprise")
    # A real case that routing must leave alone: a stray event about it must not move it.
    withdrawn = client.post("/api/v1/cases", json=CASE, headers=headers).get_json()["reference"]
    moved = client.post(f"/api/v1/cases/{withdrawn}/transitions", json={"action": "withdraw"}, headers=headers)
    assert moved.status_code == 200
    with sessions() as s:
        real_case_id = s.scalar(select(Case.id).where(Case.reference == withdrawn))

    sent = publish_hostile(config, hostile_messages(real_case_id))

    # The worker kept going: a normal case submitted after them is routed, mailed and watched.
    reference = client.post("/api/v1/cases", json=CASE, headers=headers).get_json()["reference"]
    wait_for(lambda: _status(sessions, reference) == "assigned", timeout=30, message="the normal case routed")
    wait_for(lambda: _mails_sent(sessions, reference) == 2, timeout=30, message="its two emails sent")
    wait_for(lambda: _watched(sessions, reference), timeout=30, message="its watch check done")

    dead: dict[str, dict[str, dict[str, Any]]] = {consumer: {} for consumer in SUBSCRIPTIONS}

    def all_dead_lettered() -> bool:
        for consumer in SUBSCRIPTIONS:
            for body, letter_headers in drain_dead_letters(config, consumer):
                dead[consumer][probe_of(body)] = letter_headers
        return all(set(dead[c]) >= set(sent[c]) for c in SUBSCRIPTIONS)

    try:
        wait_for(all_dead_lettered, timeout=30)
    except AssertionError:
        missing = {c: sorted(set(sent[c]) - set(dead[c])) for c in SUBSCRIPTIONS}
        raise AssertionError(f"hostile messages not dead-lettered: {missing}") from None
    logs = pipeline.logs()
    for consumer, messages in sent.items():
        assert set(dead[consumer]) == set(messages), f"{consumer}: only the hostile messages are dead letters"
        for probe, message in messages.items():
            reason = dead[consumer][probe].get("x-reason", "")
            assert message.expected_reason(consumer) in reason, (consumer, probe, reason)
            assert dead[consumer][probe].get("x-consumer") == consumer
            logged = [line for line in logs.splitlines() if f"{consumer}: dead-lettering message" in line]
            assert any(message.expected_reason(consumer) in line for line in logged), (consumer, probe)
    assert all(process.poll() is None for process in pipeline.running), "no worker died on a hostile message"
    with sessions() as s:
        outcomes = set(s.scalars(select(HandledMessage.outcome).where(HandledMessage.message_id >= FIRST_ID)))
        assert outcomes == {"dead_lettered"}, "a message with an id is marked, so it is never retried"
        assert s.scalar(select(Case.status).where(Case.id == real_case_id)) == "withdrawn"


def _status(sessions, reference: str) -> str | None:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(Case.status).where(Case.reference == reference))


def _mails_sent(sessions, reference: str) -> int:  # noqa: ANN001
    with sessions() as s:
        case_id = s.scalar(select(Case.id).where(Case.reference == reference))
        rows = s.scalars(select(Notification.status).where(Notification.case_id == case_id)).all()
        return sum(1 for status in rows if status == "sent")


def _watched(sessions, reference: str) -> bool:  # noqa: ANN001
    with sessions() as s:
        case_id = s.scalar(select(Case.id).where(Case.reference == reference))
        submitted = [
            row.id
            for row in s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == "case.submitted"))
            if row.payload.get("case_id") == case_id
        ]
        handled = select(HandledMessage).where(
            HandledMessage.consumer == "watch", HandledMessage.message_id.in_(submitted)
        )
        return s.scalar(handled) is not None
