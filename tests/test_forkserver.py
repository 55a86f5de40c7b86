"""The fork server the tests start workers from (``tests/forkserver.py``) gives each what
``python -m workers ARGS`` would have: its arguments, the test's environment, folder and log, a pid
of its own that signals reach, and its exit code."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import Processes, wait_for

pytestmark = pytest.mark.pure  # (the embedded pass only: the scheduler's lock below is a file there)


def test_a_forked_worker_takes_its_arguments_and_exits_with_their_code(processes: Processes) -> None:
    refused = processes.start("no-such-consumer")
    assert refused.wait(30) == 2  # argparse's usage error, as python -m workers answers it
    log = processes.logs()
    assert "usage: python -m workers" in log and "unknown consumer(s): no-such-consumer" in log


def test_a_forked_worker_consumes_until_sigterm_stops_it_in_order(processes: Processes) -> None:
    worker = processes.start("routing")
    wait_for(lambda: "consuming routing" in processes.logs(), 30, message="the worker to start consuming")
    assert worker.poll() is None and worker.pid > 0
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_a_forked_scheduler_runs_on_the_tests_deployment_and_a_kill_reports_the_signal(
    processes: Processes, env: dict[str, str]
) -> None:
    scheduler = processes.start("scheduler")
    wait_for(lambda: "is the leader" in processes.logs(), 30, message="the scheduler to lead")
    # its leader's lock (embedded deployment): a file in this test's instance folder, from its environment
    assert (Path(env["WORKSTATION_INSTANCE_PATH"]) / "scheduler.lock").exists()
    processes.kill(scheduler)
    assert scheduler.returncode == -signal.SIGKILL
