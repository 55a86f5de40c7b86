"""Digest delivery: scheduled per coordinator, exactly once per period whatever happens (two
schedulers, restarts, redelivery, an SMTP outage), caught up after downtime, settings and preview."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from tests.conftest import wait_for
from workers import digests, notify
from workers.delivery import Context, deliver
from workers.runtime import digest_jobstores, make_context
from workstation.services.digest import digest_period
from workstation.services.mail import FileSender, SmtpSender
from workstation.services.models import DigestRecord, DigestSetting, OutboxMessage

#: 2026-11-24 09:30 in Shanghai: the daily digest of 08:00 that day is due
NOW = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


def records(sessions) -> list[DigestRecord]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(DigestRecord).order_by(DigestRecord.id)))


def events(sessions) -> list[OutboxMessage]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == "digest.due")))


def deliver_event(ctx: Context, event: OutboxMessage) -> str:
    properties = {"message_id": event.id, "type": "digest.due"}
    return deliver(ctx, notify.CONSUMER, notify.handle, event.payload, properties, "digest.due")


def context(config, sender) -> Context:  # noqa: ANN001
    ctx = make_context(config)
    ctx.sender = sender
    return ctx


def subject(message) -> str:  # noqa: ANN001
    return str(make_header(decode_header(message["Subject"])))


# --- recording the digest due ---------------------------------------------------------------


def test_a_period_is_recorded_once_however_many_schedulers_run_it(people, sessions) -> None:  # noqa: ANN001
    coordinator = people.coordinator.id
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def scheduler() -> None:
        barrier.wait()
        results.append(digests.queue_digest_for(sessions, coordinator, NOW))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    (record,) = records(sessions)
    assert record.period_key == "daily:2026-11-24" and record.status == "due"
    assert record.period_end == datetime(2026, 11, 24, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert len(events(sessions)) == 1
    # a restart later the same day: still that period, still recorded once
    assert digests.queue_digest_for(sessions, coordinator, NOW + timedelta(hours=5)) is False
    assert len(records(sessions)) == 1


def test_a_paused_or_deactivated_coordinator_gets_no_digest(people, sessions) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.add(DigestSetting(user_id=people.coordinator.id, frequency="daily", hour=8, timezone="Asia/Shanghai",
                            paused=True))  # fmt: skip
    assert digests.queue_digest_for(sessions, people.coordinator.id, NOW) is False
    assert digests.queue_digest_for(sessions, people.enterprise.id, NOW) is False
    assert records(sessions) == []


def test_after_missed_days_the_next_digest_covers_the_gap(people, sessions) -> None:  # noqa: ANN001
    digests.queue_digest_for(sessions, people.coordinator.id, NOW - timedelta(days=3))
    digests.queue_digest_for(sessions, people.coordinator.id, NOW)
    first, latest = records(sessions)
    assert latest.period_start == first.period_end  # since the last digest, not just one day
    assert latest.period_end - latest.period_start == timedelta(days=3)


# --- the scheduler's jobs -------------------------------------------------------------------


@pytest.fixture
def scheduler(config):  # noqa: ANN001, ANN201
    """A scheduler with our persistent digest job store, started paused (jobs kept, none run)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    made = []

    def start(paused: bool = True):  # noqa: ANN202
        ctx = make_context(config)
        digests.use_sessions(ctx.sessions)
        instance = BackgroundScheduler(timezone="UTC", jobstores=digest_jobstores(ctx))
        instance.start(paused=paused)
        made.append(instance)
        return instance, ctx

    yield start
    for instance in made:
        if instance.running:
            instance.shutdown(wait=False)


def test_jobs_follow_the_settings_and_survive_a_restart_without_copies(people, sessions, scheduler) -> None:  # noqa: ANN001
    first, ctx = scheduler()
    first.remove_all_jobs(jobstore=digests.JOBSTORE)  # (the services deployment's table outlives a test)
    assert digests.sync_digest_jobs(first, ctx.sessions) == 1
    (job,) = first.get_jobs(jobstore=digests.JOBSTORE)
    assert job.id == f"digest:{people.coordinator.id}" and job.coalesce is True
    assert job.misfire_grace_time == digests.MISFIRE_GRACE_HOURS * 3600
    assert str(job.trigger.timezone) == "Asia/Shanghai" and "hour='8'" in str(job.trigger)
    due = job.next_run_time
    assert digests.sync_digest_jobs(first, ctx.sessions) == 0  # unchanged: left alone
    first.shutdown(wait=False)

    second, ctx = scheduler()  # a restart: the job is still there, once, with its due time
    (again,) = second.get_jobs(jobstore=digests.JOBSTORE)
    assert again.next_run_time == due
    assert digests.sync_digest_jobs(second, ctx.sessions) == 0

    with sessions.begin() as s:
        s.add(DigestSetting(user_id=people.coordinator.id, frequency="weekly", hour=7, timezone="Europe/Berlin"))
    assert digests.sync_digest_jobs(second, ctx.sessions) == 1
    (weekly,) = second.get_jobs(jobstore=digests.JOBSTORE)
    assert "day_of_week='mon'" in str(weekly.trigger) and str(weekly.trigger.timezone) == "Europe/Berlin"
    with sessions.begin() as s:
        s.get(DigestSetting, people.coordinator.id).paused = True
    assert digests.sync_digest_jobs(second, ctx.sessions) == 1
    assert second.get_jobs(jobstore=digests.JOBSTORE) == []


def test_a_digest_missed_while_the_scheduler_was_down_is_caught_up_once(people, sessions, scheduler) -> None:  # noqa: ANN001
    first, ctx = scheduler()
    first.remove_all_jobs(jobstore=digests.JOBSTORE)
    digests.sync_digest_jobs(first, ctx.sessions)
    (job,) = first.get_jobs(jobstore=digests.JOBSTORE)
    first.shutdown(wait=False)
    # The scheduler was down over today's run and is back two hours after it (within the grace
    # time): the stored job is overdue. (Set while paused: a running scheduler would run it at once.)
    second, ctx = scheduler(paused=True)
    second.modify_job(job.id, jobstore=digests.JOBSTORE, next_run_time=datetime.now(UTC) - timedelta(hours=2))
    assert records(sessions) == []
    second.resume()
    wait_for(lambda: records(sessions), message="the caught-up digest")
    time.sleep(1)
    assert len(records(sessions)) == 1  # coalesced: one catch-up run
    assert second.get_job(job.id).next_run_time > datetime.now(UTC)


# --- sending --------------------------------------------------------------------------------


def test_sent_over_smtp_once_even_when_the_event_is_delivered_twice(people, sessions, config, smtp_server) -> None:  # noqa: ANN001
    controller, inbox = smtp_server
    ctx = context(config, SmtpSender(f"smtp://127.0.0.1:{controller.port}"))
    digests.queue_digest_for(sessions, people.coordinator.id, NOW)
    (event,) = events(sessions)
    assert deliver_event(ctx, event) == "done"
    assert deliver_event(ctx, event) == "done"  # redelivered: handled already
    (record,) = records(sessions)
    assert record.status == "sent" and record.sent_at is not None and record.attempts == 1
    (message,) = inbox.messages
    assert message["To"].endswith("<coordinator@example.cn>") and message.is_multipart()
    assert [p.get_content_type() for p in message.walk() if not p.is_multipart()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == f"<digest.{people.coordinator.id}.daily.2026-11-24@rpa-workstation>"


def test_an_smtp_failure_is_retried_and_a_digest_that_never_goes_shows_failed(
    people, sessions, config, smtp_server, client
) -> None:  # noqa: ANN001
    controller, inbox = smtp_server
    down = context(config, SmtpSender(f"smtp://127.0.0.1:{controller.port + 1}", timeout=2))  # nothing listens
    digests.queue_digest_for(sessions, people.coordinator.id, NOW)
    (event,) = events(sessions)
    assert deliver_event(down, event) == "retry"
    (record,) = records(sessions)
    assert record.status == "retrying" and "ConnectionRefused" in record.last_error
    up = context(config, SmtpSender(f"smtp://127.0.0.1:{controller.port}"))
    assert deliver_event(up, event) == "done"
    assert records(sessions)[0].status == "sent" and len(inbox.messages) == 1

    # another period whose every attempt fails: failed, and the coordinator's page says so
    digests.queue_digest_for(sessions, people.coordinator.id, NOW + timedelta(days=1))
    last = events(sessions)[-1]
    down.config = replace(down.config, max_attempts=2)
    assert deliver_event(down, last) == "retry"
    assert deliver_event(down, last) == "dead_lettered"
    assert records(sessions)[-1].status == "failed"
    login(client, "coordinator")
    page = client.get("/coordinator/digest")
    assert page.status_code == 200 and "daily:2026-11-25" in page.text and "ConnectionRefused" in page.text


def test_send_digest_by_hand_sends_once_per_period(people, sessions, config, cli_run) -> None:  # noqa: ANN001
    result = cli_run("send-digest", "--email", "coordinator@example.cn", "--period", "daily:2026-11-20")
    assert result.exit_code == 0, result.output
    assert "sent digest daily:2026-11-20" in result.output
    again = cli_run("send-digest", "--email", "coordinator@example.cn", "--period", "2026-11-20")
    assert again.exit_code == 0 and "was sent already" in again.output
    mails = list(config.mail_dir.glob("digest_*.eml"))
    assert len(mails) == 1
    weekly = cli_run("send-digest", "--email", "coordinator@example.cn", "--period", "weekly:2026-W47")
    assert weekly.exit_code == 0 and "weekly:2026-W47" in weekly.output
    (record, week) = records(sessions)
    assert week.period_end - week.period_start == timedelta(days=7)
    bad = cli_run("send-digest", "--email", "coordinator@example.cn", "--period", "monthly:2026-11")
    assert bad.exit_code == 2 and "--period" in bad.output
    nobody = cli_run("send-digest", "--email", "enterprise@example.cn")
    assert nobody.exit_code == 1 and "no coordinator" in nobody.output


def test_the_file_sender_writes_the_digest_in_the_coordinators_language(people, sessions, config) -> None:  # noqa: ANN001
    people.add("english_coordinator", "coordinator", language="en")
    ctx = context(config, FileSender(config.mail_dir))
    for who in (people.coordinator.id, people.english_coordinator.id):
        digests.queue_digest_for(sessions, who, NOW)
    for event in events(sessions):
        assert deliver_event(ctx, event) == "done"
    subjects = sorted(subject(__import__("email").message_from_bytes(p.read_bytes()))
                      for p in config.mail_dir.glob("digest_*.eml"))  # fmt: skip
    assert len(subjects) == 2
    assert any(re.search(r"[\u4e00-\u9fff]", s) for s in subjects)
    assert any(s.isascii() for s in subjects)


# --- the coordinator's pages --------------------------------------------------------------------


def login(client, who: str) -> None:  # noqa: ANN001
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"email": f"{who}@example.cn", "password": "password123",
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code in (302, 303)


def test_a_coordinator_sets_the_digest_and_previews_it(people, client, sessions) -> None:  # noqa: ANN001
    login(client, "coordinator")
    page = client.get("/coordinator/digest")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    bad = client.post("/coordinator/digest", data={"frequency": "daily", "hour": "25", "timezone": "Mars/Base",
                                                   "csrf_token": token})  # fmt: skip
    assert bad.status_code == 400 and "Asia/Shanghai" in bad.text
    good = client.post("/coordinator/digest", data={"frequency": "weekly", "hour": "7", "timezone": "Europe/Berlin",
                                                    "paused": "true", "csrf_token": token})  # fmt: skip
    assert good.status_code == 303
    with sessions() as s:
        setting = s.get(DigestSetting, people.coordinator.id)
        assert (setting.frequency, setting.hour, setting.timezone, setting.paused) == (
            "weekly",
            7,
            "Europe/Berlin",
            True,
        )
    preview = client.get("/coordinator/digest/preview")
    assert preview.status_code == 200 and "<svg" not in preview.text
    monday = digest_period("weekly", 7, "Europe/Berlin", datetime.now(UTC)).day
    assert monday.isoformat() in preview.text or f"{monday.month}月{monday.day}日" in preview.text
    login(client, "enterprise")
    assert client.get("/coordinator/digest/preview").status_code == 403
    with sessions() as s:
        assert s.scalar(select(func.count(DigestRecord.id))) == 0  # a preview sends nothing


@pytest.mark.slow
def test_end_to_end_two_scheduler_processes_send_a_caught_up_digest_once(
    people, sessions, scheduler, processes, config
) -> None:  # noqa: ANN001
    # The stored job is overdue, as after downtime over the digest's hour (set while paused).
    setup, ctx = scheduler()
    setup.remove_all_jobs(jobstore=digests.JOBSTORE)
    digests.sync_digest_jobs(setup, ctx.sessions)
    setup.modify_job(f"digest:{people.coordinator.id}", jobstore=digests.JOBSTORE,
                     next_run_time=datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    # Two schedulers started by mistake (one leads, the other waits as a standby), and the consumers.
    processes.start("scheduler")
    processes.start("scheduler")
    processes.start()
    sent = wait_for(lambda: list(config.mail_dir.glob("digest_*.eml")), timeout=30, message="the digest email")
    time.sleep(3)  # anything that would send it twice has had its chance
    assert len(sent) == len(list(config.mail_dir.glob("digest_*.eml"))) == 1
    (record,) = records(sessions)
    assert record.status == "sent" and record.attempts == 1
    assert len(events(sessions)) == 1
