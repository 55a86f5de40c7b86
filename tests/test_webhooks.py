"""Webhooks (issue 20): an integrator's URL told of the events it asked for, on the cases its owner
may see, signed, retried with back-off, disabled after failures in a row; delivered to a real
HTTP server on loopback. The webhooks queue bound only to the events some enabled hook wants
(issue 21): with none, no event reaches it."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from tests import test_batches
from tests.conftest import wait_for
from tests.test_batches import outbox, run
from workers import webhooks
from workers.delivery import Received
from workstation.config import Config
from workstation.services.messaging import (
    SUBSCRIPTIONS,
    Publisher,
    broker_connection,
    consumer_queue,
    declare_topology,
    queue_name,
)
from workstation.services.models import HandledMessage, OutboxMessage, WebhookDelivery, utcnow
from workstation.services.outbox import _owed, owed_since, publish_pending, reconcile
from workstation.services.webhooks import WEBHOOK_EVENTS, address_refusal, deliver_due

ctx = test_batches.ctx


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # the receiver is on loopback, which a production hook may not reach
    return {**env, "WORKSTATION_WEBHOOK_PRIVATE_OK": "1", "WORKSTATION_WEBHOOK_MAX_FAILURES": "3"}


class Receiver:
    """A real HTTP server on loopback: what it was sent, and the status it answers with."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def events(self) -> list[tuple[str, str]]:
        return [(json.loads(body)["type"], json.loads(body)["case"]["reference"]) for _h, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def register(client, people, who: str, url: str, events: list[str]) -> dict:  # noqa: ANN001
    answer = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=people.headers(who))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_the_events_a_hook_may_ask_for_are_those_its_consumer_takes() -> None:
    assert WEBHOOK_EVENTS is SUBSCRIPTIONS["webhooks"]


def test_a_hook_is_told_signed_of_the_events_on_the_cases_its_owner_may_see(  # noqa: ANN001
    client, people, sessions, submit, ctx, receiver
) -> None:
    mine = register(client, people, "enterprise", receiver.url, ["case.submitted", "case.message"])
    register(client, people, "other_enterprise", receiver.url, ["case.submitted"])
    register(client, people, "coordinator", receiver.url + "?all=1", list(WEBHOOK_EVENTS))
    reference = submit()["reference"]
    people.add("expert", "expert")
    client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "reassign", "expert_id": people.expert.id},
                headers=people.headers("coordinator"))  # fmt: skip
    client.post(f"/api/v1/cases/{reference}/messages", json={"body": "内部", "internal": True},
                headers=people.headers("expert"))  # fmt: skip
    for kind in ("case.submitted", "case.assigned", "case.message"):
        assert set(run(ctx, webhooks, outbox(sessions, kind))) == {"done"}
    assert deliver_due(sessions, ctx.config) == 4
    assert sorted(receiver.events()) == sorted([
        ("case.submitted", reference),  # the enterprise's own case
        ("case.submitted", reference), ("case.assigned", reference), ("case.message", reference),  # the coordinator's
    ]), "not the other enterprise's hook; an internal note never to the enterprise's"  # fmt: skip
    headers, body = next((h, b) for h, b in receiver.received if h["x-rpa-event"] == "case.submitted")
    timestamp, mac = (part.split("=", 1)[1] for part in headers["x-rpa-signature"].split(","))
    secrets_ = {mine["secret"], *(h["secret"] for h in _hooks(client, people, "coordinator"))}
    expected = {hmac.new(s.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest() for s in secrets_}
    assert mac in expected, "the signature is the HMAC of the timestamp and the body with the hook's secret"
    said = json.loads(body)
    assert said["links"]["case"].endswith(f"/api/v1/cases/{reference}") and "title" not in said["case"]
    assert deliver_due(sessions, ctx.config) == 0, "each delivery once"
    run(ctx, webhooks, outbox(sessions, "case.submitted"))  # the broker delivers it again
    with sessions() as s:
        assert len(s.scalars(select(WebhookDelivery)).all()) == 4, "a redelivered event adds nothing"


def test_an_event_no_hook_wants_leaves_no_trace_and_is_not_owed_to_a_hook_registered_later(  # noqa: ANN001
    client, people, sessions, submit, ctx, receiver
) -> None:
    submit()
    assert run(ctx, webhooks, outbox(sessions, "case.submitted")) == ["done"]
    with sessions() as s:
        assert s.scalars(select(HandledMessage).where(HandledMessage.consumer == "webhooks")).all() == []
        assert s.scalars(select(WebhookDelivery)).all() == []
    with sessions() as s:
        assert owed_since(s, "webhooks") == {}, "no hook: the reconciler owes the consumer nothing"

    register(client, people, "enterprise", receiver.url, ["case.submitted"])
    later = submit()["reference"]
    before, after = outbox(sessions, "case.submitted")
    with sessions.begin() as s:  # both published long ago: due for the reconciler, were they owed
        s.execute(update(OutboxMessage).values(published_at=utcnow() - timedelta(hours=1)))
    now = utcnow()
    with sessions() as s:
        owed = s.scalars(_owed("webhooks", WEBHOOK_EVENTS, now, now, owed_since(s, "webhooks"))).all()
    assert owed == [int(after.properties["message_id"])], "not the event from before the hook"
    assert run(ctx, webhooks, [after]) == ["done"]
    assert deliver_due(sessions, ctx.config) == 1 and receiver.events() == [("case.submitted", later)]
    with sessions() as s:
        handled = s.scalars(select(HandledMessage.message_id).where(HandledMessage.consumer == "webhooks")).all()
    assert handled == [int(after.properties["message_id"])]


def _hooks(client, people, who: str) -> list[dict]:  # noqa: ANN001
    return client.get("/api/v1/webhooks", headers=people.headers(who)).get_json()["webhooks"]


def test_a_failing_hook_is_retried_with_back_off_then_disabled_and_enabled_again(  # noqa: ANN001
    client, people, sessions, submit, ctx, receiver
) -> None:
    hook = register(client, people, "enterprise", receiver.url, ["case.submitted"])
    receiver.status = 500
    submit()
    assert run(ctx, webhooks, outbox(sessions, "case.submitted")) == ["done"]
    now = utcnow()
    assert deliver_due(sessions, ctx.config, now) == 0 and len(receiver.received) == 1
    assert deliver_due(sessions, ctx.config, now + timedelta(seconds=5)) == 0 and len(receiver.received) == 1, (
        "not before the back-off (10 s after the first failure)"
    )
    deliver_due(sessions, ctx.config, now + timedelta(seconds=11))
    deliver_due(sessions, ctx.config, now + timedelta(seconds=11 + 21))
    assert len(receiver.received) == 3
    [shown] = _hooks(client, people, "enterprise")
    assert shown["active"] is False and shown["failures"] == 3 and shown["last_error"] == "HTTP 500"
    deliver_due(sessions, ctx.config, now + timedelta(hours=2))
    assert len(receiver.received) == 3, "a disabled hook is not called"
    receiver.status = 204
    enabled = client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"active": True}, headers=people.headers("enterprise")
    )
    assert enabled.status_code == 200 and enabled.get_json()["active"] is True
    assert deliver_due(sessions, ctx.config, now + timedelta(hours=2)) == 1
    with sessions() as s:
        assert [(d.status, d.attempts) for d in s.scalars(select(WebhookDelivery))] == [("sent", 4)]
    other = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=people.headers("other_enterprise"))
    assert other.status_code == 404, "a hook is its owner's alone"
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=people.headers("enterprise")).status_code == 204
    assert _hooks(client, people, "enterprise") == []


def test_a_hook_must_name_known_events_and_a_public_http_address() -> None:
    assert address_refusal("http://127.0.0.1:8080/x", private_ok=False)
    assert address_refusal("http://10.1.2.3/x", private_ok=False)
    assert address_refusal("http://[::1]/x", private_ok=False)
    assert address_refusal("http://169.254.169.254/latest", private_ok=False), "no cloud metadata address"
    assert address_refusal("ftp://example.cn/x", private_ok=True)
    assert address_refusal("http://127.0.0.1:8080/x", private_ok=True) is None
    assert address_refusal("https://8.8.8.8/hook", private_ok=False) is None


def test_a_bad_hook_is_a_400_naming_its_field(client, people) -> None:  # noqa: ANN001
    for body, field in (({"url": "https://8.8.8.8/x", "events": ["case.deleted"]}, "events"),
                        ({"url": "gopher://x.cn/", "events": ["case.closed"]}, "url"),
                        ({"url": "https://8.8.8.8/x", "events": []}, "events"),
                        ({"url": "https://8.8.8.8/x", "events": ["case.closed"], "x": 1}, "x")):  # fmt: skip
        answer = client.post("/api/v1/webhooks", json=body, headers=people.headers("enterprise"))
        assert answer.status_code == 400 and field in answer.get_json()["errors"], (body, answer.get_json())


def test_a_submitted_case_reaches_the_hook_with_the_workers_running(client, people, submit, pipeline, receiver) -> None:  # noqa: ANN001
    register(client, people, "enterprise", receiver.url, ["case.submitted"])
    reference = submit()["reference"]
    wait_for(lambda: receiver.events() == [("case.submitted", reference)], timeout=30)


# --- the webhooks queue's bindings (issue 21) --------------------------------------------------

#: Message ids of events published here straight to the exchange (no outbox row has them).
_message_ids = itertools.count(9_200_000)


def publish(publisher: Publisher, *keys: str) -> None:
    for key in keys:
        publisher.publish({"case_id": 1}, key, next(_message_ids))


def taken_from_webhooks_queue(config: Config) -> list[Received]:
    """What waits in the webhooks queue, taken off it (and acknowledged) as its consumer would."""
    taken = []
    with broker_connection(config) as connection:
        queue = consumer_queue("webhooks", config.quorum_queues)(connection.default_channel)
        while (message := queue.get(accept=["json"])) is not None:
            taken.append(Received(message.payload, message.properties, message.delivery_info.get("routing_key")))
            message.ack()
    return taken


def test_with_no_enabled_hook_no_event_reaches_the_webhooks_queue_not_even_after_a_process_start(  # noqa: ANN001
    sessions, ctx
) -> None:
    publisher, config = ctx.publisher, ctx.config
    publisher.bind_only("webhooks", WEBHOOK_EVENTS)  # a deployment of before: every key bound
    reconcile(sessions, publisher, config)  # no hook registered: every binding removed
    with broker_connection(config) as connection:
        declare_topology(connection, config)  # a process starting
    publish(publisher, "case.submitted")
    assert publisher.queue_depth(queue_name("routing")) == 1, "published"
    assert publisher.queue_depth(queue_name("webhooks")) == 0, "nothing for the webhooks consumer"
    if config.broker_url.startswith("filesystem"):
        assert not list((config.broker_dir / "data").glob("*.rpa.webhooks.msg")), "no message file"


def test_the_webhooks_queue_is_bound_to_what_enabled_hooks_want_and_unbound_when_the_last_is_disabled(  # noqa: ANN001
    client, people, sessions, ctx, receiver
) -> None:
    publisher, config = ctx.publisher, ctx.config
    hook = register(client, people, "enterprise", receiver.url, ["case.assigned"])
    reconcile(sessions, publisher, config)
    publish(publisher, *WEBHOOK_EVENTS)
    assert [m.routing_key for m in taken_from_webhooks_queue(config)] == ["case.assigned"]
    disabled = client.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False},
                            headers=people.headers("enterprise"))  # fmt: skip
    assert disabled.status_code == 200 and disabled.get_json()["active"] is False
    reconcile(sessions, publisher, config)
    publish(publisher, *WEBHOOK_EVENTS)
    assert taken_from_webhooks_queue(config) == [], "the last hook disabled: unbound from every key"


def test_an_event_published_before_its_key_is_bound_reaches_the_hook_through_the_reconciler(  # noqa: ANN001
    client, people, sessions, submit, ctx, receiver
) -> None:
    publisher, config = ctx.publisher, ctx.config
    reconcile(sessions, publisher, config)  # no hook: the queue bound to nothing
    register(client, people, "enterprise", receiver.url, ["case.submitted"])
    reference = submit()["reference"]
    assert publish_pending(sessions, publisher) == 1  # the relay, before the reconciler's next run
    assert publisher.queue_depth(queue_name("webhooks")) == 0, "not bound yet: the event went by"
    with sessions.begin() as s:  # published longer ago than reconcile_after; the others have handled it
        s.execute(update(OutboxMessage).values(published_at=utcnow() - timedelta(minutes=1)))
        [event_id] = s.scalars(select(OutboxMessage.id)).all()
        s.add_all(HandledMessage(consumer=c, message_id=event_id) for c in ("routing", "watch"))
    assert reconcile(sessions, publisher, config) == 1  # binds case.submitted, then publishes what is owed
    [message] = taken_from_webhooks_queue(config)
    assert run(ctx, webhooks, [message]) == ["done"]
    assert deliver_due(sessions, ctx.config) == 1 and receiver.events() == [("case.submitted", reference)]
