"""Consumers handle messages in batches (``deliver_batch``): one transaction for many messages,
and when a batch fails, each message on its own, so a bad message costs only itself.

Run in this process against the test's deployment (SQLite, or PostgreSQL + RabbitMQ), with the
broker's dead-letter queues and a real SMTP server on loopback.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
from kombu.transport.filesystem import Transport as FilesystemTransport
from sqlalchemy import func, select

from tests.conftest import BACKEND, HoldingInbox, serving_smtp, wait_for
from tests.helpers import drain_dead_letters, statements_run
from workers import notify, routing, watch
from workers.delivery import Context, Received, deliver_batch
from workstation.config import Config
from workstation.services.mail import SmtpSender
from workstation.services.messaging import Publisher, broker_connection, declare_topology
from workstation.services.models import Case, CaseEvent, ExpertProfile, HandledMessage, Notification, OutboxMessage


@pytest.fixture
def ctx(config: Config, sessions, smtp_server) -> Iterator[Context]:  # noqa: ANN001
    controller, _inbox = smtp_server
    # kombu's filesystem transport remembers the bindings it declared per process, not per
    # folder: forget those of an earlier test's instance, or these would never be written.
    FilesystemTransport.global_state.clear()
    with broker_connection(config) as connection:
        declare_topology(connection, config)  # as a worker does on start: the dead-letter queues too
    publisher = Publisher(config)
    yield Context(config, sessions, publisher, SmtpSender(f"smtp://127.0.0.1:{controller.port}", connections=4))
    publisher.close()


def outbox(sessions, routing_key: str) -> list[Received]:  # noqa: ANN001
    """The events of one kind, as the broker would give them to a consumer."""
    with sessions() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.routing_key == routing_key).order_by(OutboxMessage.id)
        )
        return [Received(r.payload, {"message_id": str(r.id), "type": r.routing_key}, r.routing_key) for r in rows]


def run(ctx: Context, module, messages: list[Received]) -> list[str]:  # noqa: ANN001
    return deliver_batch(ctx, module.CONSUMER, module.handle, module.handle_many, module.BATCHED_EVENTS, messages)


def assigned_events(ctx: Context, people, submit, sessions, cases: int) -> list[Received]:  # noqa: ANN001
    """``cases`` cases submitted and routed to one expert: their ``case.assigned`` events."""
    people.add("expert", "expert")
    for _ in range(cases):
        submit()
    assert run(ctx, routing, outbox(sessions, "case.submitted")) == ["done"] * cases
    return outbox(sessions, "case.assigned")


def loads(sessions) -> dict[int, int]:  # noqa: ANN001
    with sessions() as s:
        return dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())


def test_a_batch_routes_every_case_once_spread_by_load_and_a_repeat_changes_nothing(
    ctx, people, submit, sessions
) -> None:  # noqa: ANN001
    experts = [people.add(f"expert{i}", "expert", capacity=5) for i in range(3)]
    references = [submit()["reference"] for _ in range(6)]
    submitted = outbox(sessions, "case.submitted")
    assert run(ctx, routing, submitted) == ["done"] * 6
    with sessions() as s:
        cases = s.scalars(select(Case).where(Case.reference.in_(references))).all()
        assert {c.status for c in cases} == {"assigned"}
        # read once for the batch, the pool still saw each slot the batch took: two cases each
        assert Counter(c.assigned_expert_id for c in cases) == dict.fromkeys((e.id for e in experts), 2)
        events = s.scalar(select(func.count()).select_from(CaseEvent))
    assert loads(sessions) == dict.fromkeys((e.id for e in experts), 2)

    assert run(ctx, routing, submitted) == ["done"] * 6  # the whole batch again: handled already
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == events
    assert loads(sessions) == dict.fromkeys((e.id for e in experts), 2)


def test_a_batch_reads_its_parties_earlier_experts_in_one_query_and_keeps_off_them(
    ctx, people, submit, sessions
) -> None:  # noqa: ANN001
    """``near`` held an earlier case of 陕西星河科技有限公司 (before the batch, in the database):
    neither case of the batch naming it as respondent goes to ``near``, whatever the load says."""
    near = people.add("near", "expert", capacity=10)
    far = people.add("far", "expert", capacity=10)
    with sessions.begin() as s:  # ``far`` starts with more load: the least-loaded choice is ``near``
        s.get(ExpertProfile, far.id).active_cases = 3
    earlier = submit()["reference"]  # by 陕西星河科技有限公司
    assert run(ctx, routing, outbox(sessions, "case.submitted")) == ["done"]
    with sessions.begin() as s:
        assert s.scalars(select(Case).where(Case.reference == earlier)).one().assigned_expert_id == near.id
    against = {"parties": [{"role": "respondent", "name": "陕西星河科技有限公司"}]}
    batch = [submit("other_enterprise", **against)["reference"] for _ in range(2)]
    with statements_run(sessions.kw["bind"]) as statements:
        assert run(ctx, routing, outbox(sessions, "case.submitted")[1:]) == ["done"] * 2
    with sessions() as s:
        held = {c.reference: c.assigned_expert_id for c in s.scalars(select(Case))}
    assert [held[r] for r in batch] == [far.id, far.id], "near acted for the respondent before"
    assert len([q for q in statements if "organisation_key IN" in q]) == 1, "one look-up for the batch"


def test_a_batch_sees_the_conflicts_and_trainee_load_its_earlier_cases_made(ctx, people, submit, sessions) -> None:  # noqa: ANN001
    """A batch writes its transitions only at the end (``transitions_written_together``), so its
    queries cannot see its own earlier cases: the pool remembers them instead."""
    near = people.add("near", "expert", capacity=10)
    busy = people.add("busy", "expert", capacity=10)
    trainee = people.add("trainee", "expert", capacity=1, profile={"is_trainee": True, "supervisor_id": near.id})
    with sessions.begin() as s:  # ``busy`` starts with more load: the least-loaded choice is ``near``
        s.get(ExpertProfile, busy.id).active_cases = 3
    first = submit()["reference"]  # by 陕西星河科技有限公司
    # then a case against that same enterprise: ``near`` has just acted for it, in this batch
    second = submit("other_enterprise", parties=[{"role": "respondent", "name": "陕西星河科技有限公司"}])["reference"]
    third = submit()["reference"]  # ``near`` again; the trainee (room for one) shadows the first only

    assert run(ctx, routing, outbox(sessions, "case.submitted")) == ["done"] * 3
    with sessions() as s:
        cases = {c.reference: c for c in s.scalars(select(Case))}
    assert cases[first].assigned_expert_id == near.id and cases[first].shadow_expert_id == trainee.id
    assert cases[second].assigned_expert_id == busy.id, "a conflict made earlier in the same batch"
    assert cases[third].assigned_expert_id == near.id and cases[third].shadow_expert_id is None
    assert loads(sessions) == {near.id: 2, busy.id: 4, trainee.id: 0}
    with sessions() as s:  # every event and outbox row written, each naming its own event
        events = {e.id: e for e in s.scalars(select(CaseEvent).where(CaseEvent.action == "assign"))}
        assigned = outbox(sessions, "case.assigned")
    assert len(events) == 3 and {m.body["event_id"] for m in assigned} == set(events)
    assert all(events[m.body["event_id"]].case_id == m.body["case_id"] for m in assigned)


@pytest.mark.parametrize("module", [routing, watch], ids=["routing", "watch"])
def test_a_bad_message_in_a_batch_costs_only_itself(ctx, people, submit, sessions, config, module) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    submit(), submit()
    first, second = outbox(sessions, "case.submitted")
    unknown = Received({"case_id": 987_654}, {"message_id": "9100001", "type": "case.submitted"}, "case.submitted")
    not_an_object = Received(["a list"], {"message_id": "9100002", "type": "case.submitted"}, "case.submitted")

    outcomes = run(ctx, module, [first, unknown, not_an_object, second])
    assert outcomes == ["done", "dead_lettered", "dead_lettered", "done"]
    with sessions() as s:
        handled = dict(
            s.execute(
                select(HandledMessage.message_id, HandledMessage.outcome).where(
                    HandledMessage.consumer == module.CONSUMER
                )
            ).all()
        )
        assigned = s.scalars(select(Case.status)).all()
    first_id, second_id = (int(m.properties["message_id"]) for m in (first, second))
    assert handled == {first_id: "done", second_id: "done", 9_100_001: "dead_lettered", 9_100_002: "dead_lettered"}
    if module is routing:
        assert assigned == ["assigned", "assigned"]
    reasons: list[str] = []

    def both_dead_lettered() -> bool:
        reasons.extend(headers["x-reason"] for _body, headers in drain_dead_letters(config, module.CONSUMER))
        return len(reasons) >= 2

    wait_for(both_dead_lettered, timeout=10, message="the two bad messages in the dead-letter queue")
    reasons.sort()
    assert len(reasons) == 2 and reasons[0] == "body is not a JSON object"
    assert "case 987654 does not exist" in reasons[1] or "no existing case" in reasons[1]


def test_a_notify_batch_sends_each_email_once_even_when_given_again(ctx, people, submit, sessions, smtp_server) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    assigned = assigned_events(ctx, people, submit, sessions, 4)
    assert len(assigned) == 4

    assert run(ctx, notify, assigned + assigned[:2]) == ["done"] * 6  # two of them given twice
    assert run(ctx, notify, assigned) == ["done"] * 4  # and the whole batch again
    # each case: one email to the expert, one to the enterprise (each its own Message-ID); none twice
    assert len(inbox.messages) == 8 and len({m["Message-ID"] for m in inbox.messages}) == 8
    recipients = Counter(m["To"].rsplit("<", 1)[-1] for m in inbox.messages)
    assert recipients == {"expert@example.cn>": 4, "enterprise@example.cn>": 4}
    with sessions() as s:
        assert set(s.scalars(select(Notification.status))) == {"sent"}
        marks = s.scalar(select(func.count()).where(HandledMessage.consumer == notify.CONSUMER))
    assert marks == 4


def test_a_failed_send_in_a_batch_leaves_the_others_sent_and_its_own_for_the_retry(
    ctx, people, submit, sessions, smtp_server
) -> None:  # noqa: ANN001
    """SMTP fails after the first email: what went out is marked sent, the rest released at once
    (not left claimed for the stale-claim timeout) and sent by the next delivery."""
    _controller, inbox = smtp_server
    assigned = assigned_events(ctx, people, submit, sessions, 3)

    class FailsAfterOne:
        connections = 1

        def __init__(self, real: SmtpSender) -> None:
            self.real, self.sent, self.tried = real, 0, 0

        def send(self, message, key: str) -> None:  # noqa: ANN001
            self.tried += 1
            if self.sent >= 1:
                raise ConnectionRefusedError("the SMTP server went away")
            self.real.send(message, key)
            self.sent += 1

    failing = FailsAfterOne(ctx.sender)
    flaky = Context(ctx.config, ctx.sessions, ctx.publisher, failing)
    assert run(flaky, notify, assigned) == ["retry"] * 3
    assert len(inbox.messages) == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).where(Notification.status == "sent")) == 1
        # attempts count the sends tried, not those of the emails a failure cut short
        assert s.scalar(select(func.sum(Notification.attempts))) == failing.tried
        assert s.scalar(select(func.count()).where(HandledMessage.consumer == notify.CONSUMER)) == 0

    assert run(ctx, notify, assigned) == ["done"] * 3  # the retry: the five emails not yet sent
    assert len(inbox.messages) == 6
    assert len({m["Message-ID"] for m in inbox.messages}) == 6


def test_a_refused_email_among_a_batchs_concurrent_sends_goes_again_alone_and_every_other_once(
    ctx, people, submit, sessions
) -> None:  # noqa: ANN001
    """A batch's emails go out on several SMTP connections at once; the server refuses one of
    them: the others are each sent once and marked sent, the refused one released and sent when
    its message is delivered again on its own; no email twice."""
    assigned = assigned_events(ctx, people, submit, sessions, 5)
    inbox = HoldingInbox(hold=0.02)
    inbox.refuse_number = 3
    with serving_smtp(inbox) as server:
        sender = SmtpSender(f"smtp://127.0.0.1:{server.port}", connections=4)
        try:
            at_once = Context(ctx.config, ctx.sessions, ctx.publisher, sender)
            assert run(at_once, notify, assigned) == ["done"] * 5
        finally:
            sender.close()
    assert inbox.refused == 1 and inbox.most_at_once > 1, "sent several at once"
    assert len(inbox.messages) == 10 and len({m["Message-ID"] for m in inbox.messages}) == 10
    with sessions() as s:
        assert set(s.scalars(select(Notification.status))) == {"sent"}
        # attempts count the sends tried: each email once, the refused one twice
        assert s.scalar(select(func.sum(Notification.attempts))) == inbox.given == 11
        assert s.scalar(select(func.count()).where(HandledMessage.consumer == notify.CONSUMER)) == 5


def test_a_slow_notify_batch_stops_before_its_claims_go_stale_and_each_email_still_goes_once(
    ctx, people, submit, sessions, smtp_server, caplog
) -> None:  # noqa: ANN001
    """A batch claims all its emails at once: one that sends slowly must stop well before the
    claims could be taken over by another worker (a quarter of WORKSTATION_STALE_CLAIM); the
    messages not done are then delivered one by one, with claims of their own."""
    _controller, inbox = smtp_server
    assigned = assigned_events(ctx, people, submit, sessions, 4)

    class Slow:
        connections = 1

        def __init__(self, real: SmtpSender) -> None:
            self.real = real

        def send(self, message, key: str) -> None:  # noqa: ANN001
            time.sleep(0.06)
            self.real.send(message, key)

    slow = Context(replace(ctx.config, stale_claim=0.4), ctx.sessions, ctx.publisher, Slow(ctx.sender))
    caplog.set_level(logging.INFO, logger="workers.delivery")
    started = time.monotonic()
    assert run(slow, notify, assigned) == ["done"] * 4
    assert any("sent for over 0.1s" in r.getMessage() for r in caplog.records), "the batch was not cut short"
    assert len(inbox.messages) == 8 and len({m["Message-ID"] for m in inbox.messages}) == 8
    with sessions() as s:
        assert set(s.scalars(select(Notification.status))) == {"sent"}
    assert time.monotonic() - started < 5


def test_a_slow_batch_on_several_connections_stops_before_its_claims_go_stale(
    ctx, people, submit, sessions, caplog
) -> None:  # noqa: ANN001
    """The time limit holds when a batch's emails go out several at once: they are handed over as
    connections free up, so a server slow to answer cuts the batch short as with one connection."""
    assigned = assigned_events(ctx, people, submit, sessions, 4)
    # (two emails a message, two on their way per connection: the fourth message's turn comes
    # once the first emails are answered, past the time limit, a quarter of the stale claim's)
    inbox = HoldingInbox(hold=0.15)
    caplog.set_level(logging.INFO, logger="workers.delivery")
    with serving_smtp(inbox) as server:
        sender = SmtpSender(f"smtp://127.0.0.1:{server.port}", connections=2)
        try:
            slow = Context(replace(ctx.config, stale_claim=0.4), ctx.sessions, ctx.publisher, sender)
            assert run(slow, notify, assigned) == ["done"] * 4
        finally:
            sender.close()
    assert any("sent for over 0.1s" in r.getMessage() for r in caplog.records), "the batch was not cut short"
    assert inbox.most_at_once == 2
    assert len(inbox.messages) == 8 and len({m["Message-ID"] for m in inbox.messages}) == 8
    with sessions() as s:
        assert set(s.scalars(select(Notification.status))) == {"sent"}


def test_the_relay_waits_its_interval_after_a_round_unless_the_round_was_full(monkeypatch, config) -> None:  # noqa: ANN001
    import threading

    from workers import runtime

    rounds = iter([2, runtime.RELAY_BATCH, 1])  # a few rows; a full round (a backlog); a few
    calls: list[str] = []

    def publish_pending(_sessions, _publisher, limit: int) -> int:  # noqa: ANN001
        assert limit == runtime.RELAY_BATCH
        calls.append("round")
        return next(rounds)

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            calls.append(f"wait {timeout}")
            if calls.count("round") == 3:
                self.set()
            return self.is_set()

    monkeypatch.setattr(runtime, "publish_pending", publish_pending)
    runtime.relay_loop(Context(config, None, None, None), Stop())
    wait = f"wait {config.relay_interval}"
    # (it used to poll again at once after any round that published: a round per one or two rows)
    assert calls == ["round", wait, "round", "round", wait]


@pytest.mark.pure
def test_the_relay_waits_longer_after_busier_rounds_up_to_its_longest_wait(config) -> None:  # noqa: ANN001
    """Under load it gathers bigger rounds (the consumers' batches grow with them); under light
    load, and after a failure, it waits as before."""
    from workers.runtime import RELAY_BATCH, RELAY_WAIT_PER_ROW, relay_wait

    conf = replace(config, relay_interval=0.05, relay_max_wait=0.25)
    assert relay_wait(0, conf) == relay_wait(3, conf) == 0.05  # idle, light load
    assert relay_wait(20, conf) == pytest.approx(20 * RELAY_WAIT_PER_ROW)
    assert relay_wait(20, conf) > 0.05
    assert relay_wait(30, conf) > relay_wait(20, conf)
    assert relay_wait(200, conf) == 0.25  # at most the longest wait
    assert relay_wait(RELAY_BATCH, conf) == 0.0  # a backlog: at once
    # the longest wait set to the interval: a fixed interval, as before
    assert relay_wait(100, replace(conf, relay_max_wait=0.05)) == 0.05


@pytest.mark.skipif(BACKEND != "services", reason="RabbitMQ's publisher confirms: a queue that refuses messages")
def test_the_relay_marks_published_each_event_the_broker_confirmed_and_only_those(config, sessions) -> None:  # noqa: ANN001
    """A round's events are published together and their confirms awaited together: an event the
    broker refuses (nack) stays unpublished for the next round, and those after it in the round
    are marked published once confirmed, not published again."""
    from kombu import Queue

    from workstation.services.messaging import EVENTS, PublishRefusedError
    from workstation.services.outbox import enqueue, publish_pending

    publisher = Publisher(config)
    with broker_connection(config) as connection:
        declare_topology(connection, config)
        # a queue that is always full and refuses what is routed to it: the broker nacks it
        refusing = {"x-max-length": 0, "x-overflow": "reject-publish"}
        Queue("test.refusing", EVENTS, routing_key="test.refused", queue_arguments=refusing)(connection).declare()
        with sessions.begin() as s:
            rows = [enqueue(s, key, {"case_id": 1}) for key in ("watch.test", "test.refused", "watch.test")]
            s.flush()
            first, refused, last = (row.id for row in rows)
        with pytest.raises(PublishRefusedError):
            publish_pending(sessions, publisher)
        with sessions() as s:
            published = {r.id: (r.published_at is not None, r.publish_count) for r in s.scalars(select(OutboxMessage))}
        assert published == {first: (True, 1), refused: (False, 0), last: (True, 1)}
        with pytest.raises(PublishRefusedError):  # the next round tries the refused one alone
            publish_pending(sessions, publisher)
        with sessions() as s:
            assert s.scalar(select(func.sum(OutboxMessage.publish_count))) == 2
    publisher.close()
