"""The soak (``benchmarks/soak.py``) in its short version, and what it found.

The short soak runs the whole system on PostgreSQL + RabbitMQ for two minutes under worker kills and
a RabbitMQ restart, so it runs only in the services pass. It restarts the RabbitMQ node: anything
else using the broker on this machine at that moment sees it go away for a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.conftest import BACKEND, PG_ADMIN_URL, ROOT, rabbitmqctl
from workers import notify
from workers.delivery import deliver
from workers.runtime import make_context
from workers.sweep import sweep_deadlines
from workstation.services.db import make_engine
from workstation.services.models import Case, CaseEvent, HandledMessage, Notice, Notification, OutboxMessage

#: the soak's run (about 2 min 20 s with set-up and drain) and the most it may take here
# (No RabbitMQ restart half-way: the services pass runs in two processes and the machine's broker
# is the other's too; test_faults.py stops a node of its own, and soak.py restarts it when run alone.)
SOAK = ["--minutes", "2", "--kill-every", "30", "--no-broker-restart"]
SOAK_TIMEOUT = 420


def _opposition_case(people, sessions, published_on: str) -> int:  # noqa: ANN001
    """An accepted trademark case of ``people.enterprise`` whose opposition period is running."""
    created = datetime(2026, 1, 5, 2, tzinfo=UTC)
    with sessions.begin() as s:
        case = Case(enterprise_id=people.enterprise.id, right_type="trademark", service="consultation", title="异议",
                    description="d", status="in_progress", key_dates={"published_on": published_on},
                    created_at=created, assigned_expert_id=people.expert.id)  # fmt: skip
        s.add(case)
        s.flush()
        case.reference = f"RPA-2026-{case.id:06d}"
        for action, to in (("submit", "submitted"), ("assign", "assigned"), ("accept", "accepted"),
                           ("start", "in_progress")):  # fmt: skip
            s.add(CaseEvent(case_id=case.id, action=action, to_status=to, actor_role="system", created_at=created))
        return case.id


def test_two_notices_of_one_kind_to_one_person_in_one_event_are_each_mailed(people, sessions, config) -> None:  # noqa: ANN001
    """Found by the soak: one sweep raising a deadline notice on two cases of one enterprise puts both
    in one ``notice.raised`` event. Both emails had the key (message, recipient, template), so the
    claim failed on the unique key at every delivery and neither was ever sent."""
    people.add("expert", "expert")
    cases = [_opposition_case(people, sessions, "2026-03-10") for _ in range(2)]
    sweep_deadlines(sessions, datetime(2026, 6, 4, 4, tzinfo=UTC))
    with sessions() as s:
        event = s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == "notice.raised")).one()
        notices = s.scalars(select(Notice).where(Notice.id.in_(event.payload["notice_ids"]))).all()
    mine = [n for n in notices if n.recipient_id == people.enterprise.id]
    assert sorted(n.case_id for n in mine) == sorted(cases)  # two notices, one person, one event

    ctx = make_context(config)
    properties = {"message_id": str(event.id), "type": "notice.raised"}
    assert deliver(ctx, notify.CONSUMER, notify.handle, event.payload, properties, "notice.raised") == "done"
    with sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.message_id == event.id)).all()
        assert s.get(HandledMessage, (notify.CONSUMER, event.id)) is not None
    assert len(rows) == len(notices) and {r.status for r in rows} == {"sent"}
    assert len(list(config.mail_dir.glob("*.eml"))) == len(notices)
    # a redelivery sends nothing more
    assert deliver(ctx, notify.CONSUMER, notify.handle, event.payload, properties, "notice.raised") == "done"
    assert len(list(config.mail_dir.glob("*.eml"))) == len(notices)


@pytest.mark.slow
@pytest.mark.run_first
@pytest.mark.skipif(BACKEND != "services", reason="the soak needs PostgreSQL + RabbitMQ: the services pass")
def test_the_short_soak_loses_nothing_doubles_nothing_and_leaks_nothing(services_database) -> None:  # noqa: ANN001
    # (services_database: skips, or fails under CI=true, when PostgreSQL or RabbitMQ is not there)
    name = f"rpa_soak_test_{os.getpid()}"
    server = PG_ADMIN_URL.rsplit("/", 1)[0]
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), *SOAK, "--database", name, "--vhost", name,
               "--pg-url", f"{server}/{name}"]  # fmt: skip
    soak = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = soak.communicate(timeout=SOAK_TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM: the soak stops its processes and drops its database
        soak.send_signal(signal.SIGTERM)
        try:
            output, _ = soak.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            soak.kill()  # its processes die with it (PR_SET_PDEATHSIG)
            output, _ = soak.communicate()
        pytest.fail(f"the soak took more than {SOAK_TIMEOUT}s:\n{output[-8000:]}")
    finally:
        # whatever happened: no database or virtual host left behind
        admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        with contextlib.suppress(subprocess.CalledProcessError):  # deleted by the soak already
            rabbitmqctl("delete_vhost", name)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    print(output)  # pytest shows it when the test fails
    assert last.startswith("soak: ") and last.endswith("ok=True"), output[-8000:]
    assert soak.returncode == 0
