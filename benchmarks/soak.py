"""Soak: the whole system at a steady rate for a long time, under faults; then check nothing was lost,
doubled or leaked.

Run from the repository root::

    .venv/bin/python benchmarks/soak.py                 # 30 minutes at 5 cases/s, a kill every 3 min
    .venv/bin/python benchmarks/soak.py --quick         # 2 minutes, a kill every 30 s (the test's run)
    .venv/bin/python benchmarks/soak.py --minutes 10 --rate 8 --kill-every 60
    .venv/bin/python benchmarks/soak.py --cluster       # 30 minutes on the cluster deployment, a fault every 2 min

On real PostgreSQL (127.0.0.1:5432, trust auth; a throwaway database ``rpa_soak``, dropped and
re-created, migrated with ``workstation.services.migrate.upgrade``) and RabbitMQ (127.0.0.1:5672,
guest/guest; a virtual host ``rpa_soak`` of its own, deleted and re-created, so the queues start
empty and nobody else's consumers take our messages), with mail to a real SMTP server (aiosmtpd in
this process on a free loopback port), it starts the system as production runs it:

- gunicorn serving ``workstation.web.wsgi:app`` (2 workers): the load comes in over HTTP;
- ``python -m workers scheduler`` (relay, reconciler, deadline sweep, digest jobs);
- two ``python -m workers routing notify watch`` processes (the kill targets) and one
  ``python -m workers <consumer>`` per consumer (never killed: their memory is watched);

then, for ``--minutes``: submits ``--rate`` realistic cases/s (right types and services mixed;
about 30 % name a mark, most of them look-alikes of marks other enterprises watch; about 30 % name a
respondent that other enterprises' cases named before; some carry key dates that start a legal
deadline); every ``--kill-every`` seconds SIGKILLs one of the kill targets at random and starts a
replacement; once, half-way, restarts RabbitMQ (``rabbitmqctl stop_app`` / ``start_app``, waiting
for ``await_startup`` and the port); every few minutes records a digest due for each coordinator
for a new synthetic period with ``workers.digests.record_due`` and runs the deadline sweep (what
the scheduler's jobs do), so digests and notices go through the notify path under the same faults;
and samples every long-lived process's RSS.

After the load it waits (bounded) for the system to drain, then checks: every case assigned exactly
once; every email claimed once (``notifications``: one row per key, all sent; ``attempts > 1`` is
the at-least-once window of a worker killed between sending and recording, and is listed); every
email recorded as sent was received, and no Message-ID received twice unless such a re-claim
explains it; every digest sent and received; every notice mailed; the dead-letter queues empty
(each message's ``x-reason`` printed; one whose event was handled after all is explained); no
process died that was not killed on purpose; memory: per long-lived process, the median RSS of the
last fifth of the samples (after warm-up) against the first fifth, at most ``--max-rss-growth`` %.

The last line is machine-readable::

    soak: minutes=<n> cases=<n> assigned_once=<bool> emails=<n> duplicate_emails=<n> dlq=<n>
          rss_growth_pct=<n> kills=<n> ok=<bool>

(one line; ``duplicate_emails`` counts every repeat received, explained or not).

Exit status 1 when a check fails. Every process it starts is stopped at the end, and dies with it
if it is killed (PR_SET_PDEATHSIG; gunicorn's workers then exit within their 30 s timeout, once they
see their master gone); the database and the virtual host are dropped unless ``--keep``.
Scheduled jobs may add work after the drain; the checks count only if no event was added while
they ran (else it drains and checks again).
Restarting RabbitMQ restarts the whole node: anything else using it on this machine sees it go away
for a few seconds (``--no-broker-restart`` to skip that).

``--cluster``: the same system, load, digest rounds and checks on the deployment of
``benchmarks/faults.py`` (whose machinery it uses): a three-node RabbitMQ cluster of its own with
quorum queues, a PostgreSQL primary with a synchronous standby of its own (the multi-host URL), two
schedulers (a leader and a standby), the clients retrying a refused submission with its
``Idempotency-Key``. Every ``--kill-every`` seconds (default 120, counted from the end of the last
fault) one fault, in turn: SIGKILL a broker node's Erlang VM (started again ``--down`` s later), a
consumer worker (``consumers-1`` or ``-2``), the database's primary (the standby promoted, a new
synchronous standby made), the scheduler's leader -- over 30 minutes four broker nodes, four
workers, three database failovers and two or three scheduler leaders; none in the last minute of
the load. The machine's own RabbitMQ and PostgreSQL are not touched (no broker restart). The
report adds ``faults.py``'s figures, its ``faults:`` line and its goals as checks (nothing lost;
nothing duplicated but a re-claim's repeat; intake refused only within a minute of a database
failover and for at most 30 s; the standby scheduler leading within 30 s), then ends with the same
``soak:`` line, ``kills`` counting every fault.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from common import children, free_port, log, percentile, rss_kb, throwaway_database  # noqa: E402
from sqlalchemy import and_, func, select, text  # noqa: E402

from workers.digests import record_due  # noqa: E402
from workers.sweep import sweep_deadlines  # noqa: E402
from workstation.config import Config  # noqa: E402
from workstation.services.auth import create_token, create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.digest import Period  # noqa: E402
from workstation.services.marks import watch_mark  # noqa: E402
from workstation.services.messaging import SUBSCRIPTIONS, broker_connection, dead_letter_queue  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import (  # noqa: E402
    Case,
    CaseEvent,
    DigestRecord,
    HandledMessage,
    Notice,
    Notification,
    OutboxMessage,
    User,
)
from workstation.services.outbox import owed_events, owed_since  # noqa: E402

PYTHON = sys.executable

# --------------------------------------------------------------------------------------------
# small helpers


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def rabbitmqctl(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=check)


#: Runs a command with PR_SET_PDEATHSIG (1) = SIGKILL (9), then execs it (same pid): the process
#: dies with the soak whatever kills the soak (a test's timeout, SIGKILL), so no worker is left
#: consuming from a deleted virtual host. (A ``preexec_fn`` would do it without the extra start,
#: but is unsafe while the load threads run.)
DIE_WITH_PARENT = (
    [PYTHON, "-c", "import ctypes, os, sys; ctypes.CDLL(None).prctl(1, 9); os.execv(sys.argv[1], sys.argv[1:])"]
    if sys.platform.startswith("linux")
    else []
)


# --------------------------------------------------------------------------------------------
# the SMTP server: counts what it receives, by Message-ID


class Inbox:
    """An aiosmtpd handler that keeps a count per Message-ID (headers only: the soak's CPU is
    shared with the system under test)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: Counter[str] = Counter()
        self.total = 0
        self.without_id = 0
        self._parser = BytesHeaderParser()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook name
        headers = self._parser.parsebytes(envelope.original_content)
        message_id = (headers.get("Message-ID") or "").strip()
        with self.lock:
            self.total += 1
            if message_id:
                self.by_id[message_id] += 1
            else:
                self.without_id += 1
        return "250 OK"

    def snapshot(self) -> tuple[int, Counter[str]]:
        with self.lock:
            return self.total, Counter(self.by_id)


def message_id_for(key: str) -> str:
    """The Message-ID the workstation gives the email of ``key`` (``workstation.services.mail.render_email``)."""
    return f"<{key.replace(':', '.')}@rpa-workstation>"


# --------------------------------------------------------------------------------------------
# the plan


@dataclass
class Plan:
    minutes: float
    rate: float
    kill_every: float
    broker_restart: bool
    #: when the first digest round (and deadline sweep) runs, and how often after that
    first_round: float
    digest_every: float
    #: RSS sampling interval, and the start-up time left out of the memory comparison
    sample_every: float
    warmup: float
    drain_timeout: float
    max_rss_growth: float
    #: WORKSTATION_* timing settings of the run (the defaults are for hours, not minutes)
    reconcile_after: float
    reconcile_interval: float
    stale_claim: float
    seed: int

    @property
    def seconds(self) -> float:
        return self.minutes * 60


# --------------------------------------------------------------------------------------------
# the people and the cases


EXPERTS = 20
ENTERPRISES = 6
COORDINATORS = 2
#: (enterprise index, watched mark, Nice classes); a case names these look-alikes
WATCHED = [(0, "星河", [9, 35]), (1, "LUMINA", [9, 42]), (2, "秦川", [35])]
LOOKALIKES = ["星和", "猩河", "星河牌", "LUMINAA", "Lumena", "秦川科技", "琴川"]
#: marks a case may name that look like nothing watched
OTHER_MARKS = ["Aurora", "长安云", "Pinecone"]
SERVICES = ("infringement_judgment", "compensation_estimate", "litigation_advice", "consultation", "risk_warning",
            "ip_analysis")  # fmt: skip
FIELDS = ("new_materials", "intelligent_manufacturing", "biomedicine", "electronics_ict", "other")
RIGHT_WEIGHTS = {
    "trademark": 35,
    "patent": 25,
    "copyright": 15,
    "trade_secret": 10,
    "geographical_indication": 5,
    "other": 10,
}


@dataclass
class Submitted:
    index: int
    due: float
    started: float
    finished: float
    status: int
    enterprise: int
    reference: str | None = None
    error: str = ""
    #: when the first try was refused (503 or a cut connection), if it was and ``retry_refused``
    refused_at: float | None = None


class CaseStream:
    """Realistic cases: a right type and service mix, marks, respondents repeated across enterprises,
    key dates. Respondents only count as "seen" once their case was accepted (committed), since
    the repeat check looks at earlier cases."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.fresh = itertools.count(1)
        #: respondent name -> enterprises whose accepted cases named it
        self.respondents: dict[str, set[int]] = {}
        self.respondent_names: list[str] = []

    def next(self, index: int) -> tuple[int, dict[str, Any], str | None]:
        """(enterprise index, case body, respondent named) for case ``index``."""
        with self.lock:
            rng = self.rng
            enterprise = rng.randrange(ENTERPRISES)
            right_type = rng.choices(list(RIGHT_WEIGHTS), weights=list(RIGHT_WEIGHTS.values()))[0]
            language = "zh" if rng.random() < 0.7 else "en"
            body: dict[str, Any] = {
                "right_type": right_type,
                "service": rng.choice(SERVICES),
                "title": f"浸泡测试案件 {index}" if language == "zh" else f"Soak case {index}",
                "description": "某网店销售涉嫌侵权的商品，请求专家判断。"
                if language == "zh"
                else "An online shop sells goods that seem to infringe our rights; please advise.",
                "language": language,
                "technical_field": rng.choice(FIELDS),
                "urgency": rng.choice(("low", "normal", "normal", "high")),
                "jurisdiction": "CN" if rng.random() < 0.9 else "US",
            }
            if rng.random() < 0.3:
                mark = rng.choice(LOOKALIKES) if rng.random() < 0.85 else rng.choice(OTHER_MARKS)
                body["rights"] = [{"kind": "trademark", "number": f"T{index:07d}", "mark_text": mark}]
            respondent = None
            roll = rng.random()
            others = [n for n in self.respondent_names[-2000:] if self.respondents[n] - {enterprise}]
            if roll < 0.3 and others:
                respondent = rng.choice(others)  # named before by another enterprise: a repeat respondent
            elif roll < 0.6:
                respondent = f"西安仿冒者{next(self.fresh)}号贸易有限公司"
            if respondent:
                body["parties"] = [{"role": "respondent", "name": respondent}]
            if body["service"] in ("risk_warning", "ip_analysis"):  # these name the activity they concern
                on = date.today() + timedelta(days=rng.randint(10, 120))
                body["activity"] = {"kind": "trade", "target_markets": [rng.choice(("US", "DE", "JP"))],
                                    "date": on.isoformat()}  # fmt: skip
            if rng.random() < 0.1:
                today = date.today()
                if right_type == "trademark":
                    # the opposition period (3 months from publication) ends within the month
                    body["key_dates"] = {"published_on": (today - timedelta(days=rng.randint(65, 88))).isoformat()}
                else:
                    # the 3-year limitation period ends within the month
                    known = today - timedelta(days=3 * 365 - rng.randint(3, 25))
                    body["key_dates"] = {"known_on": known.isoformat()}
            return enterprise, body, respondent

    def accepted(self, enterprise: int, respondent: str | None) -> None:
        if respondent is None:
            return
        with self.lock:
            if respondent not in self.respondents:
                self.respondents[respondent] = set()
                self.respondent_names.append(respondent)
            self.respondents[respondent].add(enterprise)


def open_loop(
    base_url: str,
    tokens: list[str],
    stream: CaseStream,
    rate: float,
    seconds: float,
    stop: threading.Event,
    results: list[Submitted],
    retry_refused: bool = False,
) -> None:
    """Submit ``rate`` cases/s for ``seconds`` s at scheduled times (open loop: a slow response
    does not slow the offered rate), appending to ``results``. With ``retry_refused`` a submission
    refused for want of the database (503) or whose answer was lost is sent again with the same
    ``Idempotency-Key`` for up to a minute, as a client does around a database failover."""
    n = int(round(rate * seconds))
    t0 = time.monotonic()
    counter = itertools.count()
    lock = threading.Lock()

    def sender() -> None:
        with requests.Session() as session:
            while (i := next(counter)) < n and not stop.is_set():
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return
                enterprise, body, respondent = stream.next(i)
                started = time.monotonic()
                result = Submitted(i, due, started, started, -1, enterprise)
                headers = {"Authorization": f"Bearer {tokens[enterprise]}"}
                if retry_refused:
                    headers["Idempotency-Key"] = f"soak-{i}"
                while True:
                    post_once(session, f"{base_url}/api/v1/cases", body, headers, result)
                    refused = result.status in (-1, 503)
                    if not (retry_refused and refused) or time.monotonic() - started > 60 or stop.is_set():
                        break
                    result.refused_at = result.refused_at or time.monotonic()
                    time.sleep(0.2)
                if result.status == 201:
                    stream.accepted(enterprise, respondent)
                result.finished = time.monotonic()
                with lock:
                    results.append(result)

    threads = [threading.Thread(target=sender, daemon=True, name=f"load-{k}") for k in range(max(4, int(rate * 2)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def post_once(session: requests.Session, url: str, body: dict[str, Any], headers: dict[str, str],
              result: Submitted) -> None:  # fmt: skip
    """One try of a submission: its status (-1: no answer) and reference or error into ``result``."""
    result.status, result.reference = -1, None
    try:
        response = session.post(url, json=body, headers=headers, timeout=60)
        result.status = response.status_code
        if response.status_code == 201:
            result.reference = response.json()["reference"]
        else:
            result.error = response.text[:300]
    except requests.RequestException as err:
        result.error = repr(err)[:300]


# --------------------------------------------------------------------------------------------
# processes


@dataclass
class Proc:
    name: str
    cmd: list[str]
    killable: bool
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    generation: int = 0


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int | None


class System:
    """The processes of the deployment, started as production starts them, each in its own session
    (so SIGKILL hits exactly one) and with PR_SET_PDEATHSIG (so none outlives the soak). Only the
    main thread starts processes: the death signal follows the thread that forked, not the process."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = port
        self.procs: dict[str, Proc] = {}
        self.kills: list[tuple[float, str, int]] = []
        self.unexpected_exits: list[tuple[str, int, int | None]] = []
        self.lock = threading.Lock()

    def add(self, name: str, cmd: list[str], killable: bool = False) -> None:
        self.procs[name] = Proc(name, cmd, killable)

    def start(self, name: str) -> None:
        proc = self.procs[name]
        proc.generation += 1
        with (self.log_dir / f"{name}.log").open("ab") as out:
            out.write(f"\n===== {name} generation {proc.generation} at {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            popen = subprocess.Popen(
                [*DIE_WITH_PARENT, *proc.cmd],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self.lock:
            proc.popen, proc.started_at = popen, time.monotonic()

    def start_all(self) -> None:
        for name in self.procs:
            self.start(name)

    def kill_one(self, rng: random.Random, among: list[str] | None = None) -> str:
        """SIGKILL one kill target (of ``among`` if given), chosen at random, and start its
        replacement at once (as the supervisor would, a second later)."""
        name = rng.choice(sorted(n for n, p in self.procs.items() if p.killable and (among is None or n in among)))
        proc = self.procs[name]
        assert proc.popen is not None
        pid = proc.popen.pid
        with self.lock:
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait(10)
        self.kills.append((time.monotonic(), name, pid))
        self.start(name)
        return f"{name} (pid {pid})"

    def check_alive(self) -> list[str]:
        """Restart any process that died without being killed by the soak; returns their names."""
        died = []
        for name, proc in self.procs.items():
            if proc.popen is not None and proc.popen.poll() is not None:
                self.unexpected_exits.append((name, proc.popen.pid, proc.popen.returncode))
                died.append(f"{name} (pid {proc.popen.pid}, exit {proc.popen.returncode})")
                self.start(name)
        return died

    def watched_pids(self) -> dict[str, int]:
        """Label -> pid of the long-lived processes whose memory is watched (gunicorn's workers by
        their place among the master's children)."""
        out: dict[str, int] = {}
        with self.lock:
            for name, proc in self.procs.items():
                if proc.killable or proc.popen is None or proc.popen.poll() is not None:
                    continue
                out[name] = proc.popen.pid
                if name == "web":
                    out["web-master"] = out.pop("web")
                    for k, child in enumerate(children(proc.popen.pid), start=1):
                        out[f"web-worker-{k}"] = child
        return out

    def stop_all(self, grace: float = 15) -> None:
        for proc in self.procs.values():
            if proc.popen is not None and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.terminate()
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            if proc.popen is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            # the whole session: gunicorn's workers too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)

    def problems_in_logs(self) -> dict[str, list[str]]:
        """Lines that look wrong in each process's log (the expected noise of kills and the broker
        restart included: they are listed, not judged)."""
        out: dict[str, list[str]] = {}
        for path in sorted(self.log_dir.glob("*.log")):
            lines = [
                line
                for line in path.read_text(errors="replace").splitlines()
                if re.search(r"Traceback|\bERROR\b|\bCRITICAL\b|dead-letter", line)
            ]
            if lines:
                out[path.stem] = lines
        return out


class Sampler(threading.Thread):
    """RSS (and open file descriptors) of the watched processes every ``every`` seconds."""

    def __init__(self, system: System, every: float) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.system = system
        self.every = every
        self.stop = threading.Event()
        self.samples: dict[str, list[Sample]] = {}
        #: a label whose pid changed (a restart): its samples before are dropped
        self.pids: dict[str, int] = {}
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            for label, pid in self.system.watched_pids().items():
                if self.pids.get(label) != pid:
                    self.pids[label] = pid
                    self.samples[label] = []
                rss = rss_kb(pid)
                if rss is not None:
                    self.samples[label].append(Sample(time.monotonic() - self.t0, rss, open_fds(pid)))
            self.stop.wait(self.every)


@dataclass
class Growth:
    label: str
    samples: int
    first_mb: float
    last_mb: float
    pct: float
    fds_first: int | None
    fds_last: int | None
    #: RSS (MB) at about a dozen evenly spaced samples, warm-up included: the shape of the curve
    series: str = ""
    #: least-squares trend after warm-up: a leak climbs steadily, a one-time step does not
    mb_per_hour: float = float("nan")


def rss_growth(samples: dict[str, list[Sample]], warmup: float) -> list[Growth]:
    """Per process: the median RSS of the first and the last fifth of the samples after warm-up,
    counted from the process's own start: one started again during the run (the sampler keeps
    only the samples of its current pid) is judged only if it lived through a warm-up of its own."""
    out = []
    for label, every in sorted(samples.items()):
        started = every[0].at if every else 0.0
        rows = [s for s in every if s.at >= warmup and s.at - started >= warmup]
        if len(rows) < 5:
            continue
        fifth = max(1, len(rows) // 5)
        first = statistics.median(s.rss_kb for s in rows[:fifth])
        last = statistics.median(s.rss_kb for s in rows[-fifth:])
        fds = [s.fds for s in rows if s.fds is not None]
        out.append(
            Growth(
                label,
                len(rows),
                first / 1024,
                last / 1024,
                (last - first) / first * 100,
                fds[0] if fds else None,
                fds[-1] if fds else None,
                " ".join(f"{every[round(k * (len(every) - 1) / 11)].rss_kb / 1024:.0f}" for k in range(12)),
                statistics.linear_regression([s.at for s in rows], [s.rss_kb / 1024 for s in rows]).slope * 3600,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# services


def prepare_vhost(vhost: str) -> None:
    """A fresh virtual host: our queues start empty, and only our processes use them."""
    rabbitmqctl("delete_vhost", vhost, check=False)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


class Broker:
    """Restarting the RabbitMQ node; ``ensure_running`` puts it back whatever happened."""

    def __init__(self) -> None:
        self.stopped = False

    def restart(self, outage: float = 3.0) -> float:
        """stop_app, a short outage, start_app; returns the seconds port 5672 was closed."""
        t0 = time.monotonic()
        self.stopped = True
        try:
            rabbitmqctl("stop_app", timeout=120)
            time.sleep(outage)  # intake goes on meanwhile (the outbox keeps the events)
        finally:
            self.ensure_running()
        return time.monotonic() - t0

    def ensure_running(self, timeout: float = 180) -> None:
        if not self.stopped:
            return
        rabbitmqctl("start_app", timeout=timeout, check=False)
        rabbitmqctl("await_startup", timeout=timeout)
        deadline = time.monotonic() + timeout
        while not port_open(5672):
            if time.monotonic() > deadline:
                raise RuntimeError("RabbitMQ is not listening on 5672 after start_app")
            time.sleep(0.5)
        self.stopped = False


# --------------------------------------------------------------------------------------------
# checking


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def owed(session) -> dict[str, int]:  # noqa: ANN001
    """Per consumer: published events it subscribes to and has not handled (done or dead-lettered)."""
    out = {}
    for consumer, keys in SUBSCRIPTIONS.items():  # (as the reconciler counts what a consumer owes)
        out[consumer] = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .outerjoin(
                HandledMessage,
                and_(HandledMessage.consumer == consumer, HandledMessage.message_id == OutboxMessage.id),
            )
            .where(owed_events(keys, owed_since(session, consumer)), HandledMessage.message_id.is_(None))
        )
    return out


def pending(sessions) -> dict[str, int]:  # noqa: ANN001
    """What is still in flight; all zero once the system has drained."""
    with sessions() as session:
        status = dict(session.execute(select(Case.status, func.count()).group_by(Case.status)).all())
        out = {
            "submitted": status.get("submitted", 0),
            "unpublished": session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            ),
            "unsent_emails": session.scalar(
                select(func.count()).select_from(Notification).where(Notification.status != "sent")
            ),
            "unsent_digests": session.scalar(
                select(func.count()).select_from(DigestRecord).where(DigestRecord.status != "sent")
            ),
        }
        out |= {f"owed_{k}": v for k, v in owed(session).items()}
    return out


def drain_dead_letters(config: Config) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(consumer, properties, headers) of every dead-lettered message, taking them off the queues."""
    out = []
    with broker_connection(config) as connection:
        for consumer in SUBSCRIPTIONS:
            queue = dead_letter_queue(consumer, config.quorum_queues)(connection.default_channel)
            queue.declare()
            while (message := queue.get(no_ack=False)) is not None:
                out.append((consumer, dict(message.properties), dict(message.headers or {})))
                message.ack()
    return out


def check_everything(sessions, inbox: Inbox, accepted: list[str]) -> tuple[Outcome, dict[str, Any]]:  # noqa: ANN001
    """Every check of the database and the SMTP server after the drain, in the report's order, and
    the figures the report and the last line take from them."""
    out = Outcome()
    figures: dict[str, Any] = {}
    with sessions() as session:
        ids = dict(session.execute(select(Case.id, Case.reference)).all())
        check_assigned_once(session, ids, accepted, out, figures)
        figures |= assignment_times(session)
        check_case_emails(session, ids, out)
        rows = check_notifications(session, out, figures)
        digests = check_digests(session, out, figures)
        check_notices(session, rows, out, figures)
        check_events(session, out)
    check_inbox(inbox, rows, digests, out, figures)
    return out, figures


def check_assigned_once(
    session,  # noqa: ANN001
    ids: dict[int, str],
    accepted: list[str],
    out: Outcome,
    figures: dict[str, Any],
) -> None:
    """Each case assigned, by exactly one assign event (the soak never declines, so no reroute; a
    second assign would be a case routed twice)."""
    cases = dict(session.execute(select(Case.reference, Case.status)).all())
    missing = [r for r in accepted if r not in cases]
    not_assigned = Counter(s for s in cases.values() if s != "assigned")
    assign_counts = Counter(
        dict(
            session.execute(
                select(CaseEvent.case_id, func.count()).where(CaseEvent.action == "assign").group_by(CaseEvent.case_id)
            ).all()
        )
    )
    twice = {ids[c]: n for c, n in assign_counts.items() if n != 1}
    never = [ref for cid, ref in ids.items() if assign_counts.get(cid, 0) == 0]
    other_moves = dict(
        session.execute(
            select(CaseEvent.action, func.count())
            .where(CaseEvent.action.not_in(("submit", "assign")))
            .group_by(CaseEvent.action)
        ).all()
    )
    assigned_once = not missing and not not_assigned and not twice and not never and len(cases) == len(accepted)
    figures["assigned_once"] = assigned_once
    out.add(
        "every case assigned exactly once",
        assigned_once,
        f"{len(accepted)} accepted, {len(cases)} in the database, "
        f"{sum(1 for n in assign_counts.values() if n == 1)} with one assign event"
        + (f"; missing {missing[:5]}" if missing else "")
        + (f"; not assigned {dict(not_assigned)}" if not_assigned else "")
        + (f"; assigned more than once {dict(list(twice.items())[:5])}" if twice else "")
        + (f"; other moves {other_moves}" if other_moves else ""),
    )


def assignment_times(session) -> dict[str, float]:  # noqa: ANN001
    """Submit -> first assignment, p50, p99 and max (ms)."""
    created = dict(session.execute(select(Case.id, Case.created_at)).all())
    first_assign = dict(
        session.execute(
            select(CaseEvent.case_id, func.min(CaseEvent.created_at))
            .where(CaseEvent.action == "assign")
            .group_by(CaseEvent.case_id)
        ).all()
    )
    waits = [(first_assign[c] - created[c]).total_seconds() * 1000 for c in first_assign if c in created]
    return {
        "assign_p50_ms": percentile(waits, 50),
        "assign_p99_ms": percentile(waits, 99),
        "assign_max_ms": max(waits) if waits else float("nan"),
    }


def check_case_emails(session, ids: dict[int, str], out: Outcome) -> None:  # noqa: ANN001
    """Each case's two emails: the expert's and the enterprise's."""
    per_case = Counter(
        dict(
            session.execute(
                select(Notification.case_id, func.count())
                .where(Notification.template.in_(("expert_case_assigned", "enterprise_case_assigned")))
                .group_by(Notification.case_id)
            ).all()
        )
    )
    wrong = {ids[c]: per_case.get(c, 0) for c in ids if per_case.get(c, 0) != 2}
    out.add(
        "each case mailed to its expert and its enterprise",
        not wrong,
        f"{sum(1 for c in ids if per_case.get(c, 0) == 2)} of {len(ids)} cases with both emails"
        + (f"; wrong: {dict(list(wrong.items())[:5])}" if wrong else ""),
    )


def check_notifications(session, out: Outcome, figures: dict[str, Any]) -> list:  # noqa: ANN001
    """One row per key (the unique index), all sent; re-claims listed. Returns the rows."""
    rows = session.execute(
        select(Notification.key, Notification.status, Notification.attempts, Notification.template)
    ).all()
    by_status = Counter(r.status for r in rows)
    reclaimed = [r for r in rows if r.attempts > 1]
    figures["notifications"] = len(rows)
    out.add(
        "every email claimed once and sent",
        by_status.get("sent", 0) == len(rows),
        f"{len(rows)} notification rows {dict(by_status)}; {len(reclaimed)} re-claimed after a stale claim"
        + (f" ({', '.join(r.key for r in reclaimed[:5])})" if reclaimed else ""),
    )
    return rows


def check_digests(session, out: Outcome, figures: dict[str, Any]) -> list:  # noqa: ANN001
    """Every digest record sent. Returns the records."""
    digests = session.execute(
        select(DigestRecord.coordinator_id, DigestRecord.period_key, DigestRecord.status, DigestRecord.attempts)
    ).all()
    d_status = Counter(d.status for d in digests)
    figures["digests"] = len(digests)
    out.add(
        "every digest sent",
        bool(digests) and d_status.get("sent", 0) == len(digests),
        f"{len(digests)} digest records {dict(d_status)}; attempts {dict(Counter(d.attempts for d in digests))}",
    )
    return digests


def check_notices(session, rows: list, out: Outcome, figures: dict[str, Any]) -> None:  # noqa: ANN001
    """Every notice has its sent email (the key ends with the notice id); a kind never raised is noted."""
    notices = session.execute(select(Notice.id, Notice.kind, Notice.recipient_id)).all()
    mailed_notices: dict[int, str] = {}
    for r in rows:
        parts = r.key.split(":")
        if r.template.endswith("_notice") and len(parts) == 4 and parts[3].isdigit():
            mailed_notices[int(parts[3])] = r.status
    kinds = Counter(n.kind for n in notices)
    unmailed = [n.id for n in notices if mailed_notices.get(n.id) != "sent"]
    figures["notices"] = dict(kinds)
    out.add(
        "every notice mailed",
        not unmailed,
        f"{len(notices)} notices {dict(kinds)}"
        + (f"; not mailed: {len(unmailed)} e.g. {unmailed[:5]}" if unmailed else ""),
    )
    for kind in ("lookalike", "repeat_respondent", "deadline"):
        if not kinds.get(kind):
            out.notes.append(f"no {kind} notice was raised: that path was not exercised")


def check_events(session, out: Outcome) -> None:  # noqa: ANN001
    """The consumers owe nothing, and nothing was dead-lettered."""
    owes = owed(session)
    dead = dict(
        session.execute(
            select(HandledMessage.consumer, func.count())
            .where(HandledMessage.outcome != "done")
            .group_by(HandledMessage.consumer)
        ).all()
    )
    republished = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.publish_count > 1))
    events = session.scalar(select(func.count()).select_from(OutboxMessage))
    out.add(
        "every event handled by every consumer",
        not any(owes.values()) and not dead,
        f"{events} events; owed {owes}; dead-lettered {dead or 0}; {republished} published more than once",
    )


def check_inbox(inbox: Inbox, rows: list, digests: list, out: Outcome, figures: dict[str, Any]) -> None:
    """What the SMTP server received: each email at least once, and twice only if re-claimed."""
    digest_keys = {
        message_id_for(f"digest:{d.coordinator_id}:{d.period_key}"): d.attempts for d in digests if d.status == "sent"
    }
    total, received = inbox.snapshot()
    expected = {message_id_for(r.key): r.attempts for r in rows if r.status == "sent"} | digest_keys
    lost = [m for m in expected if m not in received]
    duplicates = {m: n for m, n in received.items() if n > 1}
    # a claim taken again after a worker died mid-send: at most one email per claim
    explained = {m: n for m, n in duplicates.items() if n <= expected.get(m, 1)}
    unexplained = {m: n for m, n in duplicates.items() if m not in explained}
    strangers = [m for m in received if m not in expected]
    figures["emails"] = total
    figures["duplicate_emails"] = sum(n - 1 for n in duplicates.values())
    out.add(
        "the SMTP server got exactly the emails recorded as sent",
        not lost and not strangers and not inbox.without_id,
        f"{len(expected)} expected, {len(received)} distinct Message-IDs received ({total} messages)"
        + (f"; never received: {len(lost)} e.g. {lost[:3]}" if lost else "")
        + (f"; received but not recorded: {len(strangers)} e.g. {strangers[:3]}" if strangers else "")
        + (f"; {inbox.without_id} without a Message-ID" if inbox.without_id else ""),
    )
    out.add(
        "no email received twice (unless re-claimed)",
        not unexplained,
        f"{len(duplicates)} Message-ID(s) received more than once, {len(explained)} explained by a re-claim "
        f"(a worker killed between sending and recording)"
        + (f"; unexplained: {dict(list(unexplained.items())[:5])}" if unexplained else ""),
    )


def check_dead_letters(sessions, config: Config) -> tuple[Check, int]:  # noqa: ANN001
    """Take every message off the dead-letter queues and judge it by its reason and fate."""
    letters = drain_dead_letters(config)
    with sessions() as session:
        outcomes = {
            (c, m): o
            for c, m, o in session.execute(
                select(HandledMessage.consumer, HandledMessage.message_id, HandledMessage.outcome)
            ).all()
        }
    reasons = []
    unexplained = 0
    for consumer, props, headers in letters:
        message_id = props.get("message_id")
        # dead_letter() marks the message handled as "dead_lettered" unless a parallel delivery had
        # handled it: only a "done" one is harmless
        key = (consumer, int(message_id)) if str(message_id).isdigit() else None
        harmless = key is not None and outcomes.get(key) == "done"
        unexplained += not harmless
        reasons.append(
            f"{consumer} message {message_id} ({props.get('type')}): {headers.get('x-reason')!r}"
            + (" -- handled by another delivery: harmless" if harmless else "")
        )
    detail = f"{len(letters)} dead-lettered" + "".join(f"\n      {r}" for r in reasons[:20])
    return Check("dead-letter queues empty (or explained)", unexplained == 0, detail), len(letters)


def last_event(sessions) -> int:  # noqa: ANN001
    with sessions() as session:
        return session.scalar(select(func.max(OutboxMessage.id))) or 0


# --------------------------------------------------------------------------------------------
# the run


def create_people(sessions) -> tuple[list[str], list[User]]:  # noqa: ANN001
    """The enterprises (with their API tokens), experts, coordinators and watched marks; returns the
    enterprises' tokens and the coordinators."""
    with sessions.begin() as session:
        enterprises = []
        for i in range(ENTERPRISES):
            language = "zh" if i % 3 else "en"
            organisation = f"陕西浸泡测试{i}号科技有限公司"
            email = f"soak-enterprise-{i}@example.cn"
            enterprises.append(
                create_user(session, email, None, "enterprise", f"Enterprise {i}", language, organisation)
            )
        for i in range(EXPERTS):
            # Every right type, large capacity, half cleared for trade secrets: every case can
            # be assigned, so "not assigned" can only mean lost.
            profile = {"confidential_ok": i % 2 == 0, "competence": {"legal": 1 + i % 3, "technical": 1 + i % 2}}
            create_user(
                session,
                f"soak-expert-{i:02d}@example.cn",
                None,
                "expert",
                f"Expert {i:02d}",
                "zh" if i % 2 else "en",
                f"西北知识产权服务中心{i}",
                right_types=list(RIGHT_WEIGHTS),
                capacity=100_000,
                profile=profile,
            )
        for i in range(COORDINATORS):
            email = f"soak-coordinator-{i}@example.cn"
            create_user(session, email, None, "coordinator", f"Coordinator {i}", "zh" if i % 2 else "en")
        session.flush()
        for owner, mark, classes in WATCHED:
            watch_mark(session, enterprises[owner], {"text": mark, "classes": classes})
        tokens = [create_token(session, user) for user in enterprises]
    with sessions() as session:
        coordinators = list(session.scalars(select(User).where(User.role == "coordinator")))
    return tokens, coordinators


class Soak:
    """One soak run: the services and processes it starts, what it measured and checked. Each phase
    is a method; :func:`run` calls them in order."""

    def __init__(self, plan: Plan, args: argparse.Namespace, started: float, database_url: str, smtp_port: int) -> None:
        self.plan = plan
        self.args = args
        self.started = started
        self.rng = random.Random(plan.seed)
        self.database_url = database_url
        self.instance = Path(tempfile.mkdtemp(prefix="rpa-soak-"))
        self.log_dir = self.instance / "logs"
        self.log_dir.mkdir()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.smtp_port = smtp_port
        self.env = self.environment()
        self.broker = Broker()
        self.system = System(self.env, self.log_dir, self.port)
        self.sampler: Sampler | None = None
        self.engine = None
        self.sessions = None
        self.config: Config | None = None
        self.tokens: list[str] = []
        self.coordinators: list[User] = []
        self.stop_load = threading.Event()
        self.outcome = Outcome()
        self.figures: dict[str, Any] = {}
        self.results: list[Submitted] = []
        self.broker_outage = float("nan")
        self.rounds = 0

    def environment(self) -> dict[str, str]:
        """The same ``WORKSTATION_*`` settings for every process of the system."""
        plan = self.plan
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
        return env | {
            "WORKSTATION_DATABASE_URL": self.database_url,
            "WORKSTATION_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{self.args.vhost}",
            "WORKSTATION_INSTANCE_PATH": str(self.instance),
            "WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "WORKSTATION_SECRET_KEY": "soak-secret-key",
            "WORKSTATION_BASE_URL": self.base_url,
            "WORKSTATION_RECONCILE_AFTER": str(plan.reconcile_after),
            "WORKSTATION_RECONCILE_INTERVAL": str(plan.reconcile_interval),
            "WORKSTATION_STALE_CLAIM": str(plan.stale_claim),
            "PYTHONUNBUFFERED": "1",
        }

    # 1. services and people
    def set_up(self) -> None:
        """Migrate the database, a fresh virtual host, the people."""
        upgrade(self.database_url)
        prepare_vhost(self.args.vhost)
        self.config = Config.from_env(self.env)
        self.engine = make_engine(self.database_url)
        self.sessions = make_session_factory(self.engine)
        self.tokens, self.coordinators = create_people(self.sessions)

    # 2. the system
    def start_system(self) -> None:
        """Start every process as production does, wait for ``/readyz``, start sampling memory."""
        system, base_url = self.system, self.base_url
        gunicorn = ["-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--graceful-timeout", "5"]
        system.add("web", [PYTHON, *gunicorn, "workstation.web.wsgi:app"])
        system.add("scheduler", [PYTHON, "-m", "workers", "scheduler"])
        for k in (1, 2):
            system.add(f"consumers-{k}", [PYTHON, "-m", "workers", *SUBSCRIPTIONS], killable=True)
        for consumer in SUBSCRIPTIONS:
            system.add(consumer, [PYTHON, "-m", "workers", consumer])
        system.start_all()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"/readyz not 200 after 60 s; see {self.log_dir}")
            if died := system.check_alive():
                raise RuntimeError(f"{died} exited during start-up; see {self.log_dir}")
            time.sleep(0.3)
        time.sleep(1.0)  # the consumers declare and subscribe beside gunicorn
        log(f"system up in {time.monotonic() - self.started:.1f}s on {base_url}; SMTP on {self.smtp_port}")
        self.sampler = Sampler(system, self.plan.sample_every)
        self.sampler.start()

    # 3. the load, with kills, one broker restart, digests and sweeps
    def apply_load(self, inbox: Inbox) -> list[str]:
        """Submit the cases while killing workers, restarting the broker once and filing digest
        rounds; returns the references of the accepted cases."""
        plan, system = self.plan, self.system
        stream = CaseStream(plan.seed)
        load = threading.Thread(
            target=open_loop,
            args=(self.base_url, self.tokens, stream, plan.rate, plan.seconds, self.stop_load, self.results),
            daemon=True,
            name="load",
        )
        t0 = time.monotonic()
        load.start()
        next_kill = t0 + plan.kill_every
        restart_at = t0 + plan.seconds / 2 if plan.broker_restart else math.inf
        next_round = t0 + plan.first_round
        next_report = t0 + 30
        periods = (date(2000, 1, 1) + timedelta(days=k) for k in itertools.count())
        while load.is_alive():
            now = time.monotonic()
            if died := system.check_alive():
                log(f"UNEXPECTED: {', '.join(died)} exited; started again")
            if now >= restart_at:
                restart_at = math.inf
                log("restarting RabbitMQ (stop_app, 3 s, start_app)")
                self.broker_outage = self.broker.restart()
                log(f"RabbitMQ back after {self.broker_outage:.1f}s")
                continue
            if now >= next_kill and now < t0 + plan.seconds:
                next_kill += plan.kill_every
                log(f"SIGKILL {system.kill_one(self.rng)}; replacement started")
            if now >= next_round and now < t0 + plan.seconds:
                next_round += plan.digest_every
                self.digest_round(now - t0, periods)
            if now >= next_report:
                next_report += 30
                self.progress(now - t0, inbox)
            time.sleep(0.25)
        load_seconds = time.monotonic() - t0
        accepted = [r.reference for r in self.results if r.status == 201 and r.reference]
        errors = [r for r in self.results if r.status != 201]
        log(f"load done: {len(accepted)} accepted, {len(errors)} errors in {load_seconds:.0f}s; draining")
        return accepted

    def digest_round(self, elapsed: float, periods: Iterator[date]) -> None:
        """A digest due for each coordinator for a new synthetic period, then the deadline sweep."""
        self.rounds += 1
        # The first round files three periods, so that every notify process most likely builds a
        # digest before the memory comparison starts (the first build in a process imports the
        # holiday calendars and locale data: a one-time step in RSS).
        keys = []
        with self.sessions() as session:
            end = datetime.now(UTC)
            for _ in range(3 if self.rounds == 1 else 1):
                # A new synthetic period (a date long past, so the scheduler's own jobs never file
                # one with the same key), covering the soak so far.
                period = Period(f"daily:{next(periods).isoformat()}", end - timedelta(seconds=elapsed + 1), end)
                keys.append(period.key)
                for coordinator in self.coordinators:
                    record_due(session, session.merge(coordinator), period)
            session.commit()
        swept = sweep_deadlines(self.sessions)
        log(f"round {self.rounds}: digests {', '.join(keys)} due for each coordinator; the sweep raised {swept}")

    def progress(self, elapsed: float, inbox: Inbox) -> None:
        done = len(self.results)
        errors = sum(1 for r in self.results if r.status != 201)
        busy = {k: v for k, v in pending(self.sessions).items() if v}
        log(f"{elapsed:.0f}s: {done} submitted ({errors} errors); in flight {busy}; emails {inbox.total}")

    # 4. drain (bounded), then check
    def drain_and_check(self, inbox: Inbox, accepted: list[str]) -> tuple[Outcome, bool, float, dict[str, int]]:
        """Wait for the system to drain, then check everything. Scheduled jobs keep adding work after
        the load (the scheduler's deadline sweep, a digest falling due): the checks count only if no
        event was added and nothing was in flight from before they started until after they ended.
        Returns the checks, whether it drained, how long that took and what was left in flight."""
        sessions, plan = self.sessions, self.plan
        drain_t0 = time.monotonic()
        for attempt in itertools.count(1):
            state = pending(sessions)
            while any(state.values()) and time.monotonic() - drain_t0 < plan.drain_timeout:
                if died := self.system.check_alive():
                    log(f"UNEXPECTED: {', '.join(died)} exited; started again")
                time.sleep(1)
                state = pending(sessions)
                if int(time.monotonic() - drain_t0) % 10 == 0:
                    log(f"draining: {state}")
            drained = not any(state.values())
            drain_seconds = time.monotonic() - drain_t0
            log(f"{'drained' if drained else 'NOT drained'} in {drain_seconds:.1f}s: {state}")
            before = last_event(sessions)
            checked, self.figures = check_everything(sessions, inbox, accepted)
            after, state_after = last_event(sessions), pending(sessions)
            if not drained or (after == before and not any(state_after.values())) or attempt == 3:
                break
            log(f"new events while checking ({before} -> {after}: a scheduled job); draining and checking again")
        self.sampler.stop.set()
        return checked, drained, drain_seconds, state

    # 5. the checks
    def judge(self, checked: Outcome, accepted: list[str], drained: bool, drain_seconds: float, state: dict) -> None:
        """Gather every check in the report's order: intake, drain, the database and SMTP checks, the
        dead-letter queues, unexpected exits, memory; and count the database connections left."""
        plan, outcome, system = self.plan, self.outcome, self.system
        errors = [r for r in self.results if r.status != 201]
        outcome.add(
            "intake: every request accepted",
            not errors,
            f"{len(accepted)} of {len(self.results)} accepted"
            + (f"; errors e.g. {[(r.status, r.error[:120]) for r in errors[:3]]}" if errors else ""),
        )
        outcome.add(
            "drained within the bound",
            drained,
            f"{drain_seconds:.1f}s (bound {plan.drain_timeout:.0f}s); left: { {k: v for k, v in state.items() if v} }",
        )
        outcome.checks += checked.checks
        outcome.notes += checked.notes
        dead_letters, self.figures["dlq"] = check_dead_letters(self.sessions, self.config)
        outcome.checks.append(dead_letters)
        outcome.add(
            "no process died unless killed",
            not system.unexpected_exits,
            f"{len(system.kills)} kills; unexpected exits: {system.unexpected_exits or 'none'}",
        )
        growth = rss_growth(self.sampler.samples, plan.warmup)
        worst = max((g.pct for g in growth), default=float("nan"))
        outcome.add(
            f"memory: no long-lived process grew over {plan.max_rss_growth:g} %",
            bool(growth) and worst <= plan.max_rss_growth,
            "; ".join(f"{g.label} {g.first_mb:.0f}->{g.last_mb:.0f} MB ({g.pct:+.1f} %)" for g in growth),
        )
        with self.engine.connect() as connection:
            self.figures["pg_connections"] = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": self.args.database}
            ).scalar()

    def stop(self) -> None:
        """Stop the load, the sampler and every process; put RabbitMQ back if it was stopped."""
        self.stop_load.set()
        if self.sampler is not None:
            self.sampler.stop.set()
        with contextlib.suppress(Exception):
            self.broker.ensure_running()
        self.system.stop_all()

    # 6. the report
    def report(self, inbox: Inbox) -> int:
        """Print the figures, the checks and the last line; clean up; the exit status."""
        growth = rss_growth(self.sampler.samples if self.sampler else {}, self.plan.warmup)
        print("\n" + "\n".join(self.summary_lines(inbox, growth)), flush=True)
        print()
        self.print_checks()
        ok = self.outcome.ok and bool(self.outcome.checks)
        self.clean_up(ok)
        worst = max((g.pct for g in growth), default=float("nan"))
        growth_text = "nan" if math.isnan(worst) else f"{worst:.1f}"
        figures = self.figures
        print(
            f"soak: minutes={self.plan.minutes:g} cases={self.accepted_count()} "
            f"assigned_once={figures.get('assigned_once', False)} "
            f"emails={figures.get('emails', inbox.total)} duplicate_emails={figures.get('duplicate_emails', 0)} "
            f"dlq={figures.get('dlq', 0)} rss_growth_pct={growth_text} kills={self.kill_count()} ok={ok}",
            flush=True,
        )
        return 0 if ok else 1

    def faults_summary(self) -> str:
        """The faults injected, for the report."""
        restarted = f"yes, port closed {self.broker_outage:.1f} s" if not math.isnan(self.broker_outage) else "no"
        killed = ", ".join(n for _, n, _ in self.system.kills) or "none"
        return f"{len(self.system.kills)} kills ({killed}); RabbitMQ restarted: {restarted}"

    def kill_count(self) -> int:
        """Faults injected (the broker restart aside)."""
        return len(self.system.kills)

    def accepted_count(self) -> int:
        return sum(1 for r in self.results if r.status == 201)

    def summary_lines(self, inbox: Inbox, growth: list[Growth]) -> list[str]:
        plan, figures = self.plan, self.figures
        starts = sorted(r.started for r in self.results if r.status == 201)
        throughput = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else float("nan")
        http = [(r.finished - r.started) * 1000 for r in self.results if r.status == 201]
        nan = float("nan")
        lines = [
            f"soak report ({plan.minutes:g} min at {plan.rate:g} cases/s; {os.cpu_count()} cores; "
            f"{time.monotonic() - self.started:.0f}s in all)",
            f"  settings: kill every {plan.kill_every:g}s, digest round every {plan.digest_every:g}s, "
            f"RECONCILE_AFTER={plan.reconcile_after:g} RECONCILE_INTERVAL={plan.reconcile_interval:g} "
            f"STALE_CLAIM={plan.stale_claim:g}",
            f"  throughput: {throughput:.2f} cases/s accepted ({self.accepted_count()} cases); "
            f"HTTP p50 {percentile(http, 50):.0f} ms p99 {percentile(http, 99):.0f} ms",
            f"  time to assignment: p50 {figures.get('assign_p50_ms', nan):.0f} ms, "
            f"p99 {figures.get('assign_p99_ms', nan):.0f} ms, max {figures.get('assign_max_ms', nan):.0f} ms",
            f"  emails received: {figures.get('emails', inbox.total)} ({figures.get('notifications', '?')} "
            f"notification rows, {figures.get('digests', '?')} digests); notices {figures.get('notices', {})}; "
            f"digest rounds {self.rounds}",
            f"  faults: {self.faults_summary()}",
            f"  PostgreSQL connections to {self.args.database} at the end: {figures.get('pg_connections', '?')}",
        ]
        return lines + [
            f"  memory {g.label:<14} {g.first_mb:6.1f} -> {g.last_mb:6.1f} MB ({g.pct:+5.1f} %) over {g.samples} "
            f"samples, trend {g.mb_per_hour:+.1f} MB/h; open fds {g.fds_first} -> {g.fds_last}; "
            f"along the run: {g.series}"
            for g in growth
        ]

    def print_checks(self) -> None:
        outcome = self.outcome
        width = max((len(c.name) for c in outcome.checks), default=10)
        for c in outcome.checks:
            print(f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
        for note in outcome.notes:
            print(f"  note: {note}")
        problems = self.system.problems_in_logs()
        if problems:
            print(f"  log lines worth a look (in {self.log_dir}; kills and the broker restart cause some):")
            for name, lines in problems.items():
                print(f"    {name}: {len(lines)} line(s), e.g. {lines[0][:180]}")

    def clean_up(self, ok: bool) -> None:
        """Close the engine; keep the logs if asked or if a check failed, else remove the instance folder."""
        args = self.args
        if self.engine is not None:
            self.engine.dispose()
        if args.keep or not ok:
            print(
                f"  kept: logs in {self.log_dir}"
                + (f", database {args.database}, vhost {args.vhost}" if args.keep else "")
            )
        else:
            shutil.rmtree(self.instance, ignore_errors=True)


def run(plan: Plan, args: argparse.Namespace) -> int:
    """The soak's phases in order, on a throwaway database; the exit status."""
    started = time.monotonic()
    for name, p in (("PostgreSQL", 5432), ("RabbitMQ", 5672)):
        if not port_open(p):
            log(f"{name} is not listening on 127.0.0.1:{p}")
            return 2
    with throwaway_database(args.pg_url, args.database, keep=args.keep) as database:
        from aiosmtpd.controller import Controller

        inbox = Inbox()
        smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        soak = Soak(plan, args, started, database.url, smtp.port)
        try:
            log(f"soak: {plan.minutes:g} min at {plan.rate:g}/s, a kill every {plan.kill_every:g}s; in {soak.instance}")
            soak.set_up()
            soak.start_system()
            accepted = soak.apply_load(inbox)
            checked, drained, drain_seconds, state = soak.drain_and_check(inbox, accepted)
            soak.judge(checked, accepted, drained, drain_seconds, state)
        finally:
            soak.stop()
            smtp.stop()
        return soak.report(inbox)


def run_on_cluster(plan: Plan, args: argparse.Namespace) -> int:
    """The soak on the cluster deployment, with ``faults.py``'s nodes and fault injection; the
    system's own RabbitMQ and PostgreSQL are not touched."""
    import faults  # (it imports this module: here, not at the top)

    args.vhost = faults.VHOST  # (in the run's own cluster; the report names it)
    with contextlib.suppress(KeyboardInterrupt):
        return faults.run(plan, args, faults.ClusterSoak)
    return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="length of the load (default 30; --quick 2)")
    parser.add_argument("--rate", type=float, default=5.0, help="cases per second (default 5)")
    parser.add_argument("--kill-every", type=float, help="seconds between worker kills (default 180; --quick 30)")
    parser.add_argument("--quick", action="store_true", help="2 minutes, a kill every 30 s, short time constants")
    parser.add_argument("--no-broker-restart", action="store_true", help="do not restart RabbitMQ half-way")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="on a RabbitMQ cluster and a PostgreSQL primary + standby of its own (benchmarks/faults.py), a fault "
        "every --kill-every s (default 120; --quick 20) in turn: broker node, worker, database primary, scheduler",
    )
    parser.add_argument("--down", type=float, default=8.0, help="--cluster: seconds a killed node stays down")
    parser.add_argument("--max-rss-growth", type=float, default=20.0, help="percent (default 20)")
    parser.add_argument("--drain-timeout", type=float, help="seconds (default 240; 60 for runs of 5 minutes or less)")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/rpa_soak")
    parser.add_argument("--database", default="rpa_soak", help="the throwaway database (dropped and created)")
    parser.add_argument("--vhost", default="rpa_soak", help="the throwaway RabbitMQ virtual host")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database, virtual host and logs")
    args = parser.parse_args(argv)

    minutes = args.minutes if args.minutes is not None else (2.0 if args.quick else 30.0)
    default_kill_every = {(False, False): 180.0, (False, True): 30.0, (True, False): 120.0, (True, True): 20.0}
    kill_every = args.kill_every if args.kill_every is not None else default_kill_every[args.cluster, args.quick]
    short = minutes <= 5
    plan = Plan(
        minutes=minutes,
        rate=args.rate,
        kill_every=kill_every,
        # (the cluster's faults are its nodes' deaths; the plain soak's restart is of the system node)
        broker_restart=not args.no_broker_restart and not args.cluster,
        first_round=15.0 if short else 60.0,
        digest_every=30.0 if short else 180.0,
        sample_every=5.0 if short else 10.0,
        # Until each periodic job has run on real data once: its first run in a process is a one-time
        # step in RSS (imports, caches, a working set it keeps as RSS), not a leak. Short runs: the
        # first digest round reaching every notify process. Long ones: the scheduler's pricing (every
        # 10 min) and deadline sweep (every 15 min; the one at start-up has no cases to look at).
        warmup=45.0 if short else min(960.0, 0.55 * minutes * 60),
        drain_timeout=args.drain_timeout if args.drain_timeout is not None else (60.0 if short else 240.0),
        max_rss_growth=args.max_rss_growth,
        # A worker killed mid-send leaves a claim that is re-sent after STALE_CLAIM, found by the
        # reconciler's re-publications (after RECONCILE_AFTER, then doubling): short enough that
        # the last kill's leftovers drain within the bound, longer than the SMTP timeout (10 s).
        reconcile_after=3.0 if short else 15.0,
        reconcile_interval=1.0 if short else 5.0,
        stale_claim=15.0 if short else 60.0,
        seed=args.seed,
    )

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    if args.cluster:
        return run_on_cluster(plan, args)
    try:
        return run(plan, args)  # drops its database at the end, also after a failure or SIGTERM
    finally:
        # also after a failure or SIGTERM (the processes are stopped by then)
        if not args.keep:
            with contextlib.suppress(Exception):
                rabbitmqctl("delete_vhost", args.vhost, check=False)


if __name__ == "__main__":
    sys.exit(main())
