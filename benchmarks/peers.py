"""Side by side with django-helpdesk: end to end with real mail, and intake against a peer's ticket
creation and a bare INSERT.

Run from the repository root::

    .venv/bin/python benchmarks/peers.py            # 4 alternating rounds of 10 s each, ~6 min
    .venv/bin/python benchmarks/peers.py --quick    # 2 rounds of 5 s, ~2-3 min

Two phases, one after the other: intake only (below, as it was before the end-to-end phase was
added: its figures stay comparable with the earlier runs), then end to end.

**Intake only.** Three HTTP servers run side by side, each under gunicorn with the same settings (``--workers 2``
sync workers, no access log, no control socket) on its own throwaway PostgreSQL database on
127.0.0.1:5432 (named below, then a unique suffix; dropped at the end):

* **ours** -- ``POST /api/v1/cases`` of ``workstation.web.wsgi:app`` (bearer token of an enterprise,
  database ``rpa_peers_ours``, broker RabbitMQ as in the PostgreSQL deployment: intake never
  talks to it, the outbox row is all it writes);
* **helpdesk** -- django-helpdesk 2.6.1's ``POST /helpdesk/api/tickets/`` (DRF token of a staff
  user, database ``rpa_peers_helpdesk``), installed with Django and gunicorn in a virtual
  environment of its own (``benchmarks/.peers-venv/``, created on the first run, reused after);
* **bare** -- a Flask endpoint doing one INSERT of the same JSON body with psycopg 3 (one
  connection per worker, autocommit) and answering 201 JSON: the practical limit of intake on
  this stack (database ``rpa_peers_bare``).

One load generator drives all three: ``--concurrency`` (16) threads, each with its own
``http.client`` connection (re-opened whenever the server closes it, as sync workers do after
every response), sending back to back for the round's length. Rounds alternate between the
servers and the order rotates from round to round. Only 2xx answers count; everything else is
reported as an error. The JSON bodies of ours and bare are the same bytes (a realistic case: a
respondent, a right, a key date); the helpdesk's ticket (queue, title, description,
submitter_email, priority) is padded in its description to exactly the same size.

Printed per server: requests/s, p50/p99 latency, the peak of the summed RSS of its gunicorn master
and workers (sampled every 0.2 s), the CPU milliseconds per request of its workers, of the
PostgreSQL backends of its database and of this process (the load generator), the share of the
machine's CPU that other processes took during its rounds (the machine is shared: that moves
every figure, the ratios least), and the ratios, then the phase's line::

    peers: ours_rps=<n> helpdesk_rps=<n> bare_rps=<n> vs_helpdesk=<ratio> vs_bare=<ratio>

**End to end.** One SMTP server (aiosmtpd on a loopback port, in a process of its own) takes
every email of both sides. Ours: the whole system on a database and a RabbitMQ virtual host of its
own (``rpa_peers_e2e``, ``rpa_peers_<pid>``, dropped at the end): gunicorn as above, ``python -m
workers scheduler`` (relay, reconciler, jobs) and one ``python -m workers <consumer>`` per
consumer, as ``python -m workstation run`` has them, with 20 experts who take trademark cases. A
case counts as done when routing assigned it (its ``assign`` event) and the SMTP server accepted
both emails that assignment causes (the expert's and the enterprise's; ``workers/notify.py``).
The helpdesk: a second gunicorn of it, the same settings but Django's SMTP backend to the same
server, each ticket assigned to an agent in the request (so it mails two: the submitter's
acknowledgement and the agent's), counted when the SMTP server accepted both. A round: the same
closed-loop load for the round's length, then the drain (at most ``--drain`` s); its rate is the
cases done over the time from the first submission to the last case done. Rounds alternate
between the two, after a warm-up round of each. Printed per side: that rate, the CPU milliseconds
per case done of its gunicorn, of our workers and scheduler, of the PostgreSQL backends of its
database and of RabbitMQ (the whole node, others' use of it included), and apart the load
generator's and the SMTP server's, and the CPU of each of our workers. The last line::

    peers: e2e_rps=<n> helpdesk_rps=<n> vs_helpdesk_e2e=<n> intake_rps=<n> bare_rps=<n> intake_vs_bare=<n>

(e2e_rps and helpdesk_rps end to end; intake_rps and bare_rps from the intake-only phase).
``--no-e2e`` runs the first phase alone, ``--e2e-only`` the second (``--only`` implies
``--no-e2e``). ``--profile-workers DIR`` runs our workers under cProfile (CPU time; every thread)
and prints where their time went (those figures are not comparable: the profiler slows them
several times).

``--profile DIR`` adds one more round of ours with py-spy attached to its workers (raw collapsed
stacks into DIR, sampled while holding the GIL, and the hottest frames printed); its figures are
not counted. py-spy must be installed in our virtual environment (``.venv/bin/pip install py-spy``).
``--ours-root DIR`` runs our side from another checkout (e.g. ``git archive`` of an older commit
unpacked in DIR), for a before/after comparison against the same peers.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common import SERVERS as DAEMONS
from common import (
    children,
    cpu_by_pid,
    free_port,
    log,
    machine_busy,
    machine_busy_share,
    percentile,
    pids_named,
    rss_kb,
    throwaway_database,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
PEERS_VENV = HERE / ".peers-venv"

#: What the helpdesk's environment gets. django-helpdesk 2.6.1 asks for Django >= 5.2; Django 6
#: needs Python >= 3.12, and we compare on the interpreter the workstation runs on (3.11), so the
#: newest Django for it, the 5.2 LTS. gunicorn and psycopg as in our requirements.txt.
HELPDESK_REQUIREMENTS = (
    "django-helpdesk==2.6.1",
    "Django==5.2.19",
    "djangorestframework==3.18.3",
    "gunicorn==27.0.1",
    "psycopg[binary]==3.3.9",
)
#: Each server's throwaway database is named this, then a unique suffix (two runs never share one).
DATABASES = {"ours": "rpa_peers_ours", "helpdesk": "rpa_peers_helpdesk", "bare": "rpa_peers_bare"}
SERVERS = ("ours", "helpdesk", "bare")
NCPU = os.cpu_count() or 1
BROKER_PROCESSES = DAEMONS["RabbitMQ"]

# A realistic case, as an enterprise's system would send it (about 1.3 KB of JSON).
CASE_BODY: dict[str, Any] = {
    "right_type": "trademark",
    "service": "infringement_judgment",
    "title": "网店销售仿冒“星河”商标的蓝牙耳机",
    "description": (
        "我司于2019年取得“星河”文字商标注册（第9类，耳机、音箱）。2026年10月起，某电商平台上的一家店铺"
        "以“星河牌”名义销售外观与我司产品近似的蓝牙耳机，售价约为正品的三分之一，商品详情页使用了我司的"
        "产品图片。已有多名消费者误以为是我司产品并来电投诉质量问题。我们已对店铺页面和三次购买过程做了"
        "公证保全，并保留了订单、付款记录和实物。希望专家判断是否构成商标侵权，并就证据是否充分、下一步"
        "向平台投诉还是起诉给出意见。The seller ships from Shenzhen; we also sell in the EU."
    ),
    "jurisdiction": "CN",
    "language": "zh",
    "technical_field": "electronics_ict",
    "urgency": "high",
    "parties": [{"role": "respondent", "name": "深圳市某某电子商务有限公司", "credit_code": "91440300MA5F1234XC"}],
    "rights": [{"kind": "trademark", "number": "34567890", "mark_text": "星河"}],
    "key_dates": {"known_on": "2026-10-12"},
}

# The helpdesk's own settings: the apps its API needs, Django's default middleware, persistent
# database connections (as any production deployment sets: without them every request would
# open a PostgreSQL connection) and DRF token authentication (one indexed look-up, like our
# bearer tokens; basic auth would hash a password with PBKDF2 on every request). Mail: in the
# intake-only rounds, the dummy backend (the helpdesk builds its new-ticket emails inside the
# request, as shipped, but nothing is delivered: our intake leaves mail to the notify worker); in
# the end-to-end rounds (PEERS_SMTP_PORT set), Django's SMTP backend to the benchmark's server.
HELPDESK_SETTINGS = """\
import os

SECRET_KEY = "peers-benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "peers_helpdesk.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["PEERS_DB_NAME"],
        "USER": os.environ.get("PEERS_DB_USER", "postgres"),
        "HOST": os.environ.get("PEERS_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("PEERS_DB_PORT", "5432"),
        "CONN_MAX_AGE": None,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
STATIC_URL = "/static/"
MEDIA_ROOT = os.path.join(os.path.dirname(__file__), "media")
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
if os.environ.get("PEERS_SMTP_PORT"):  # end to end: delivered to the benchmark's SMTP server
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = "127.0.0.1"
    EMAIL_PORT = int(os.environ["PEERS_SMTP_PORT"])
DEFAULT_FROM_EMAIL = "helpdesk@example.com"
# pinax-teams is an optional extra; the API does not need it.
HELPDESK_TEAMS_MODE_ENABLED = False
HELPDESK_API_ENABLED = True
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
}
"""

HELPDESK_URLS = """\
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls"))]
"""

# Run inside the helpdesk's environment after ``migrate``: a queue, a staff user and its token.
HELPDESK_SETUP = """\
import django

django.setup()
from django.contrib.auth import get_user_model
from helpdesk.models import Queue
from rest_framework.authtoken.models import Token

user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
user.is_staff = True
user.set_unusable_password()
user.save()
queue, _ = Queue.objects.get_or_create(slug="ip", defaults={"title": "IP cases"})
token, _ = Token.objects.get_or_create(user=user)
# The agent a ticket is assigned to (end to end: the helpdesk mails them, as we mail our expert).
agent, _ = get_user_model().objects.get_or_create(username="agent", defaults={"email": "agent@example.com"})
agent.is_staff = True
agent.set_unusable_password()
agent.save()
print(queue.id, token.key, agent.id)
"""


# --------------------------------------------------------------------------------------------
# small helpers


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def pg_conninfo(server_url: str, database: str) -> str:
    """``server_url`` (a libpq URL of the server's maintenance database) with another database."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{database}"


# --------------------------------------------------------------------------------------------
# processes: each server is a gunicorn in its own process group, killed on exit


_STARTED: list[subprocess.Popen] = []


def start(cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc in _STARTED:
        _STARTED.remove(proc)


def rss_mb(pids: list[int]) -> float:
    return sum(rss_kb(pid) or 0 for pid in pids) / 1024


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` (their process title names it): its share of
    PostgreSQL's work, whatever else uses the server."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and f" {database} " in title:
                pids.append(int(entry))
    return pids


# --------------------------------------------------------------------------------------------
# set-up of the three servers


def ensure_helpdesk_venv() -> Path:
    """The helpdesk's virtual environment, created and installed once (a marker names the pins)."""
    python = PEERS_VENV / "bin" / "python"
    pins = "\n".join(HELPDESK_REQUIREMENTS)
    marker = PEERS_VENV / ".installed"
    if python.exists() and marker.exists() and marker.read_text() == pins:
        return python
    log(f"creating {PEERS_VENV.relative_to(ROOT)} and installing {', '.join(HELPDESK_REQUIREMENTS)}")
    if not python.exists():
        subprocess.run([PYTHON, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *HELPDESK_REQUIREMENTS],
        check=True,
    )
    marker.write_text(pins)
    return python


@dataclass(frozen=True)
class Helpdesk:
    """The helpdesk's set-up: its interpreter, project folder, environment, database, queue, token and agent."""

    python: Path
    project: Path
    env: dict[str, str]
    database: str
    queue_id: int
    token: str
    agent_id: int


def setup_helpdesk(python: Path, server_url: str, database: str) -> Helpdesk:
    """Settings module, migrate its (fresh) database, a queue, a staff token and an agent."""
    project = PEERS_VENV / "project"
    package = project / "peers_helpdesk"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(HELPDESK_SETTINGS)
    (package / "urls.py").write_text(HELPDESK_URLS)
    host, port, user = _pg_parts(server_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "peers_helpdesk.settings",
        "PEERS_DB_NAME": database,
        "PEERS_DB_HOST": host,
        "PEERS_DB_PORT": port,
        "PEERS_DB_USER": user,
        "PYTHONPATH": str(project),
    }
    subprocess.run([str(python), "-m", "django", "migrate", "-v0"], cwd=project, env=env, check=True)
    out = subprocess.run(
        [str(python), "-c", HELPDESK_SETUP], cwd=project, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return Helpdesk(python, project, env, database, int(out[0]), out[1], int(out[2]))


def _pg_parts(server_url: str) -> tuple[str, str, str]:
    parts = urlsplit(server_url)
    return parts.hostname or "127.0.0.1", str(parts.port or 5432), parts.username or "postgres"


def setup_ours(
    server_url: str, database: str, amqp_url: str, instance: Path, experts: int = 0
) -> tuple[dict[str, str], str]:
    """Migrate its (fresh) database, an enterprise and its API token, and ``experts`` experts who
    take trademark cases (end to end: routing picks one): (env for gunicorn, token)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from workstation.services.auth import create_token, create_user
    from workstation.services.db import make_engine, make_session_factory, transaction
    from workstation.services.migrate import upgrade

    url = "postgresql+psycopg://" + pg_conninfo(server_url, database).split("://", 1)[1]
    upgrade(url)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        user = create_user(
            session, "peers@example.com", "peers-password-123", "enterprise", name="陕西某某科技有限公司"
        )
        token = create_token(session, user)
        for i in range(experts):
            name = f"专家{i:02d}"
            email = f"expert-{i:02d}@example.com"
            create_user(session, email, None, "expert", name, right_types=["trademark"], capacity=100_000)
    engine.dispose()
    env = {
        **os.environ,
        "WORKSTATION_DATABASE_URL": url,
        "WORKSTATION_BROKER_URL": amqp_url,
        "WORKSTATION_INSTANCE_PATH": str(instance),
        "WORKSTATION_SECRET_KEY": "peers-benchmark-only",
    }
    return env, token


BARE_TABLE = """
CREATE TABLE intake (
    id bigserial PRIMARY KEY,
    enterprise_id bigint NOT NULL,
    title varchar(200) NOT NULL,
    description text NOT NULL,
    body jsonb NOT NULL,
    status varchar(24) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


def setup_bare(server_url: str, database: str) -> dict[str, str]:
    import psycopg

    conninfo = pg_conninfo(server_url, database)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(BARE_TABLE)
    return {**os.environ, "PEERS_BARE_DB": conninfo, "PYTHONPATH": str(HERE)}


def make_bare_app():  # noqa: ANN201 - a Flask app; imported by gunicorn as peers:make_bare_app()
    """The bare endpoint: parse the JSON body, one INSERT, 201 JSON. One connection per worker
    process (a sync worker serves one request at a time), autocommit: one round trip."""
    import psycopg
    from flask import Flask, jsonify, request

    app = Flask("bare")
    conninfo = os.environ["PEERS_BARE_DB"]
    state: dict[str, Any] = {}

    def connection() -> psycopg.Connection:
        conn = state.get("conn")
        if conn is None or conn.closed:
            conn = state["conn"] = psycopg.connect(conninfo, autocommit=True)  # after the fork, per worker
        return conn

    @app.post("/intake")
    def intake():  # noqa: ANN202
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("title") or not body.get("description"):
            return jsonify(errors={"_request": ["title and description are required"]}), 400
        row = (
            connection()
            .execute(
                "INSERT INTO intake (enterprise_id, title, description, body, status) "
                "VALUES (%s, %s, %s, %s, 'submitted') RETURNING id, created_at",
                (1, body["title"], body["description"], psycopg.types.json.Jsonb(body)),
            )
            .fetchone()
        )
        return jsonify(id=row[0], status="submitted", created_at=row[1].isoformat()), 201

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return jsonify(status="ok")

    return app


# --------------------------------------------------------------------------------------------
# the servers


@dataclass
class Server:
    name: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    proc: subprocess.Popen
    #: its throwaway database (its PostgreSQL backends are found by the name)
    database: str = ""
    peak_rss_mb: float = 0.0
    # figures over the measured rounds
    ok: int = 0
    errors: int = 0
    error_kinds: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0
    #: CPU the rest of the machine used during this server's rounds (other work skews the figures)
    other_cpu: float = 0.0
    rounds: list[float] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else float("nan")

    def per_request_ms(self, cpu: float) -> float:
        return cpu * 1000 / self.ok if self.ok else float("nan")


def gunicorn_cmd(python: Path | str, app: str, port: int, workers: int) -> list[str]:
    """The same gunicorn settings for every server: only the app differs."""
    return [
        str(python),
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--graceful-timeout",
        "5",
        "--no-control-socket",  # three gunicorns at once would share ~/.gunicorn/gunicorn.ctl
        app,
    ]


def wait_ready(server: Server, probe: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", probe)
            conn.getresponse().read()
            conn.close()
            if len(children(server.proc.pid)) > 0:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not answering on port {server.port} after {timeout:.0f}s")


class MemorySampler:
    """Samples each server's summed RSS (master + workers) every 0.2 s; keeps the peak."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for server in self.servers:
                server.peak_rss_mb = max(server.peak_rss_mb, rss_mb(server.pids()))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------------------------
# the load generator (one implementation for all three)


@dataclass
class RoundResult:
    ok: int
    errors: Counter
    seconds: float
    latencies_ms: list[float]


def drive(server: Server, concurrency: int, seconds: float) -> RoundResult:
    """``concurrency`` closed-loop clients POST the server's body back to back for ``seconds``.

    Only requests that complete within the window count (2xx as done, anything else as an error);
    one still in flight at the end is finished but not counted.
    """
    t_start = time.perf_counter()
    stop_at = t_start + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter = Counter()
    ok = 0

    def client() -> None:
        nonlocal ok
        mine: list[float] = []
        my_errors: Counter = Counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while (t0 := time.perf_counter()) < stop_at:
            try:
                conn.request("POST", server.path, server.body, server.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as err:
                status = type(err).__name__
                conn.close()
            t1 = time.perf_counter()
            if t1 > stop_at:
                break
            if isinstance(status, int) and 200 <= status < 300:
                mine.append((t1 - t0) * 1000)
            else:
                my_errors[status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.update(my_errors)
            ok += len(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return RoundResult(ok, errors, seconds, latencies)


def measured_round(server: Server, concurrency: int, seconds: float) -> RoundResult:
    """One counted round, with the CPU its workers, PostgreSQL and this process used."""
    pg_before = cpu_by_pid(postgres_pids(server.database))
    srv_before = cpu_by_pid(server.pids())
    own_before = sum(os.times()[:2])
    busy_before = machine_busy()[0]
    result = drive(server, concurrency, seconds)
    busy = machine_busy()[0] - busy_before
    own = sum(os.times()[:2]) - own_before
    srv_after = cpu_by_pid(server.pids())
    pg_after = cpu_by_pid(postgres_pids(server.database))
    srv = sum(v - srv_before.get(pid, 0.0) for pid, v in srv_after.items())
    pg = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
    server.server_cpu += srv
    server.postgres_cpu += pg
    server.client_cpu += own
    server.other_cpu += max(busy - srv - pg - own, 0.0)
    server.ok += result.ok
    server.errors += sum(result.errors.values())
    server.error_kinds.update(result.errors)
    server.seconds += result.seconds
    server.latencies_ms.extend(result.latencies_ms)
    server.rounds.append(result.ok / result.seconds)
    return result


# --------------------------------------------------------------------------------------------
# profiling (optional)


def profile_ours(server: Server, concurrency: int, seconds: float, out_dir: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(py_spy).exists():
        log("--profile: py-spy not found; .venv/bin/pip install py-spy")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    profilers = []
    for pid in children(server.proc.pid):
        out = out_dir / f"ours-{pid}.txt"
        cmd = [py_spy, "record", "--pid", str(pid), "--rate", "250", "--gil", "--format", "raw", "--output", str(out)]
        cmd += ["--duration", str(int(seconds) + 1), "--nonblocking"]
        profilers.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    time.sleep(1.0)  # let py-spy attach
    result = drive(server, concurrency, seconds)
    for proc, _ in profilers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
    log(f"profiled round (not counted): ours {result.ok / seconds:.1f} req/s under py-spy")
    print_profile([out for _, out in profilers])


def print_profile(files: list[Path], top: int = 25) -> None:
    """Where the workers' Python time went, from py-spy's raw stacks (sampled while holding the
    GIL, so waits for PostgreSQL or the socket are left out): the frames in the most samples
    below the request's entry (inclusive), then the frames most often on top (own)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split("/")[-1] for f in stack.split(";")]
            total += n
            for frame in set(frames):
                inclusive[frame] += n
            own[frames[-1]] += n
    if not total:
        return
    below = [(f, n) for f, n in inclusive.most_common() if n < 0.9 * total]  # not the worker's loop
    print(f"\n  py-spy: {total} samples holding the GIL; inclusive %, frames under the request:")
    for frame, n in below[:top]:
        print(f"    {100 * n / total:5.1f}  {frame}")
    print("  own % (on top of the stack):")
    for frame, n in own.most_common(12):
        print(f"    {100 * n / total:5.1f}  {frame}")
    print()


# --------------------------------------------------------------------------------------------
# end to end: an SMTP server on loopback, our whole system, the helpdesk mailing, the rounds

#: A case is done end to end when routing assigned it and both its emails were accepted: the
#: expert's (``expert_case_assigned``) and the enterprise's (``enterprise_case_assigned``), the two
#: that ``case.assigned`` causes in workers/notify.py. A helpdesk ticket assigned to its agent on
#: creation causes two as well, sent inside the request: the submitter's (``newticket_submitter``)
#: and the agent's (``assigned_owner``).
MAILS_PER_CASE = 2

#: The SMTP server, in a process of its own (so that neither side waits for the load generator's
#: GIL to have a mail accepted): aiosmtpd on loopback, writing one line per email accepted, the
#: case it is about and when (CLOCK_MONOTONIC, the same clock in every process). Our emails name
#: their case in ``References`` (``mailrules.thread_root``), the helpdesk's in their subject
#: (``[ip-<ticket id>]``).
SMTP_SINK = r"""
import re, signal, sys, time
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from aiosmtpd.controller import Controller

THREAD, TICKET = re.compile(r"<case\.([^@>]+)@"), re.compile(r"\[([a-z]+-\d+)\]")
out, parser = open(sys.argv[1], "a", buffering=1), BytesHeaderParser()

class Sink:
    async def handle_DATA(self, server, session, envelope):
        headers = parser.parsebytes(envelope.original_content)
        found = THREAD.search(headers.get("References") or "")
        if found is None:
            found = TICKET.search(str(make_header(decode_header(headers.get("Subject") or ""))))
        out.write(f"{found.group(1) if found else '-'}\t{time.monotonic():.6f}\n")
        return "250 OK"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[2]))
controller.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
"""

#: The cases (tickets) made since an id: (id, the key their emails name, assigned).
NEW_WORK = {
    "ours": (
        "SELECT c.id, c.reference, EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id "
        "AND e.action = 'assign') FROM cases c WHERE c.id > %s"
    ),
    "helpdesk": "SELECT t.id, 'ip-' || t.id, t.assigned_to_id IS NOT NULL FROM helpdesk_ticket t WHERE t.id > %s",
}


class SmtpSink:
    """The SMTP server's process and what it has accepted so far: emails per case and the last one's time."""

    def __init__(self, work: Path) -> None:
        self.path = work / "smtp.tsv"
        self.path.touch()
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PYTHON, "-c", SMTP_SINK, str(self.path), str(self.port)], stdout=subprocess.PIPE, start_new_session=True
        )
        _STARTED.append(self.proc)
        if self.proc.stdout is None or self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the SMTP server did not start")
        self.offset = 0
        self.count: Counter = Counter()
        self.last: dict[str, float] = {}

    def update(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        for line in whole.decode().splitlines():
            key, _, at = line.partition("\t")
            self.count[key] += 1
            self.last[key] = float(at)


@dataclass
class Side:
    """One side of the end-to-end rounds: its web server, what works behind it, and its figures."""

    server: Server
    conninfo: str
    #: what works behind the web server, by name (ours: the scheduler and each consumer)
    behind: dict[str, subprocess.Popen] = field(default_factory=dict)
    last_id: int = 0
    made: int = 0
    done: int = 0
    seconds: float = 0.0
    drain_s: list[float] = field(default_factory=list)
    cpu: Counter = field(default_factory=Counter)
    #: the CPU seconds of each process behind the web server
    behind_cpu: Counter = field(default_factory=Counter)
    rounds: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def rps(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")

    def parts(self) -> dict[str, list[int]]:
        """The processes whose CPU the side's cases cost, by part."""
        parts = {"web": self.server.pids(), "PG": postgres_pids(self.server.database)}
        if self.behind:
            parts["workers"] = [pid for p in self.behind.values() for pid in (p.pid, *children(p.pid))]
            parts["broker"] = pids_named(*BROKER_PROCESSES)
        return parts

    def behind_seconds(self) -> dict[str, float]:
        return {name: sum(cpu_by_pid([p.pid, *children(p.pid)]).values()) for name, p in self.behind.items()}

    def new_work(self) -> list[tuple[int, str, bool]]:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return conn.execute(NEW_WORK[self.name], (self.last_id,)).fetchall()


def start_ours_system(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack, smtp_port: int) -> Side:
    """Our whole system on a throwaway database and RabbitMQ virtual host: gunicorn (the same
    settings as the peers'), the scheduler (relay, reconciler, jobs) and one process per consumer,
    as ``python -m workstation run`` has them; 20 experts who take trademark cases."""
    from soak import prepare_vhost, rabbitmqctl

    database = stack.enter_context(throwaway_database(args.pg_url, prefix="rpa_peers_e2e")).name
    vhost = f"rpa_peers_{os.getpid()}"
    prepare_vhost(vhost)
    stack.callback(rabbitmqctl, "delete_vhost", vhost, check=False)
    amqp_url = urlunsplit(urlsplit(args.amqp_url)._replace(path="/" + vhost))
    env, token = setup_ours(args.pg_url, database, amqp_url, work / "instance-e2e", experts=20)
    port = free_port()
    env |= {"WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "WORKSTATION_BASE_URL": f"http://127.0.0.1:{port}"}
    env |= {"PYTHONUNBUFFERED": "1"}
    root = args.ours_root.resolve()
    layered = (root / "workstation/web/wsgi.py").exists()
    app = "workstation.web.wsgi:app" if layered else "workstation.wsgi:app"
    web = start(gunicorn_cmd(PYTHON, app, port, args.workers), env, root, work / "ours-e2e.log")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    server = Server("ours", port, "/api/v1/cases", body_bytes(CASE_BODY), headers, web, database)
    behind = {
        name: start([*worker_python(args, name), "workers", name], env, root, work / "ours-e2e-workers.log")
        for name in ("scheduler", *consumer_names())
    }
    wait_ready(server, "/healthz")
    return Side(server, pg_conninfo(args.pg_url, database), behind)


#: ``python -m workers <name>`` under cProfile counting CPU time (``time.process_time``: waits for
#: the database, the broker and the SMTP server are left out), in every thread (the scheduler's
#: relay runs in APScheduler's), the stats written to ``argv[1]`` when the worker stops.
PROFILED_WORKER = r"""
import cProfile, runpy, sys, threading, time
out, sys.argv = sys.argv[1], ["workers", *sys.argv[3:]]  # -c, the file, "workers", the names
profile = cProfile.Profile(time.process_time)
threading.setprofile(lambda *_: profile.enable())
try:
    profile.runcall(runpy.run_module, "workers", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""


def worker_python(args: argparse.Namespace, name: str) -> list[str]:
    """How a worker is started: ``python -m``, or under cProfile with ``--profile-workers``."""
    if args.profile_workers is None:
        return [PYTHON, "-m"]
    args.profile_workers.mkdir(parents=True, exist_ok=True)
    return [PYTHON, "-c", PROFILED_WORKER, str(args.profile_workers.resolve() / f"{name}.prof")]


def print_worker_profiles(folder: Path, top: int = 15) -> None:
    """Where each profiled worker's CPU went: our functions by inclusive time, every function by its own."""
    import pstats

    for path in sorted(folder.glob("*.prof")):
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in stats.values()) or 1e-9
        ours = [(k, v) for k, v in stats.items() if "/workers/" in k[0] or "/workstation/" in k[0]]
        print(f"\n  {path.stem}: {total:.2f} CPU s profiled; ours by inclusive time, then all by own time:")
        for rows, index in ((ours, 3), (list(stats.items()), 2)):
            for (file, line, func), v in sorted(rows, key=lambda kv: kv[1][index], reverse=True)[:top]:
                print(f"    {100 * v[index] / total:5.1f}%  {v[1]:>8} calls  {Path(file).name}:{line}({func})")
            print("    --")


def consumer_names() -> list[str]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from workstation.services.messaging import SUBSCRIPTIONS

    return list(SUBSCRIPTIONS)


def start_helpdesk_side(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack, smtp_port: int) -> Side:
    """The helpdesk with Django's SMTP backend to the same server, on its database of the first phase."""
    hd = prepare_helpdesk(args, stack)
    server = start_helpdesk(hd, args, work, smtp_port)
    wait_ready(server, "/helpdesk/api/")
    side = Side(server, pg_conninfo(args.pg_url, hd.database))
    side.last_id = max((row[0] for row in side.new_work()), default=0)
    return side


def wait_done(side: Side, sink: SmtpSink, timeout: float) -> tuple[int, int, float]:
    """Once the load has stopped: wait until every case made since the last round has both its
    emails (at most ``timeout`` s); then (cases made, cases done, the time the last one was done)."""
    made = side.new_work()
    keys = [key for _, key, _ in made]
    deadline = time.monotonic() + timeout
    while True:
        sink.update()
        if all(sink.count[k] >= MAILS_PER_CASE for k in keys) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assigned = {key for _, key, ok in side.new_work() if ok}
    done = [k for k in keys if k in assigned and sink.count[k] >= MAILS_PER_CASE]
    side.last_id = max((row[0] for row in made), default=side.last_id)
    return len(made), len(done), max((sink.last[k] for k in done), default=float("nan"))


def e2e_round(side: Side, sink: SmtpSink, args: argparse.Namespace, counted: bool = True) -> float:
    """``args.concurrency`` clients submit for ``args.seconds``; then the drain. Counted: the cases
    done, the time from the first submission to the last case done, the CPU of each part. Returns
    the round's cases/s."""
    before = {part: cpu_by_pid(pids) for part, pids in side.parts().items()}
    own_before, busy_before = sum(os.times()[:2]), machine_busy()[0]
    smtp_before = sum(cpu_by_pid([sink.proc.pid]).values())
    behind_before = side.behind_seconds()
    t0 = time.monotonic()
    drive(side.server, args.concurrency, args.seconds)
    load_end = time.monotonic()
    made, done, last = wait_done(side, sink, args.drain)
    seconds = (last - t0) if done else time.monotonic() - t0
    if not counted:
        return done / seconds
    for part, pids in side.parts().items():
        earlier = before.get(part, {})
        after = cpu_by_pid(sorted(set(pids) | set(earlier)))
        side.cpu[part] += sum(v - earlier.get(pid, 0.0) for pid, v in after.items())
    side.cpu["client"] += sum(os.times()[:2]) - own_before
    side.cpu["SMTP"] += sum(cpu_by_pid([sink.proc.pid]).values()) - smtp_before
    side.cpu["machine"] += machine_busy()[0] - busy_before
    for name, cpu in side.behind_seconds().items():
        side.behind_cpu[name] += cpu - behind_before.get(name, 0.0)
    side.made, side.done, side.seconds = side.made + made, side.done + done, side.seconds + seconds
    side.drain_s.append(max(last - load_end, 0.0) if done else float("nan"))
    side.rounds.append(done / seconds)
    return done / seconds


#: The parts of a side's CPU that its cases cost (the load generator and the SMTP server are shown apart).
COST_PARTS = ("web", "workers", "PG", "broker")


def measure_e2e(sides: list[Side], sink: SmtpSink, args: argparse.Namespace) -> None:
    """A warm-up round of each side (not counted), then the counted rounds, alternating, the order rotating."""
    for side in sides:
        saved, args.seconds = args.seconds, min(args.seconds, 3.0)
        rate = e2e_round(side, sink, args, counted=False)
        args.seconds = saved
        log(f"end-to-end warm-up {side.name}: {rate:.1f} cases/s")
    for i in range(args.rounds):
        order = sides[i % len(sides) :] + sides[: i % len(sides)]
        line = [f"{side.name} {e2e_round(side, sink, args):.1f}" for side in order]
        log(f"end-to-end round {i + 1}/{args.rounds}: " + ", ".join(line) + " cases/s")


def side_cost_ms(side: Side) -> float:
    """CPU milliseconds per case done: the side's own processes, and the SMTP server's work for it."""
    spent = sum(side.cpu[part] for part in (*COST_PARTS, "SMTP"))
    return spent * 1000 / side.done if side.done else float("nan")


def report_e2e(sides: dict[str, Side], args: argparse.Namespace, intake: dict[str, float]) -> None:
    """The end-to-end figures of each side, the ratios, and the last line (with the intake-only figures)."""
    print()
    print(
        f"== end to end: {args.concurrency} clients submit for {args.seconds:g} s, then the drain; "
        f"{args.rounds} rounds alternating; mail to an SMTP server on loopback =="
    )
    print(
        f"  {'':9} {'cases/s':>8} {'done':>6} {'of':>6} {'drain s':>8}   CPU ms per case: "
        f"{' '.join(f'{p:>7}' for p in COST_PARTS)} {'total':>7} | {'client':>7} {'SMTP':>6} {'other':>6}"
        "   per round (cases/s)"
    )
    for side in sides.values():
        per = {part: side.cpu[part] * 1000 / side.done if side.done else float("nan") for part in side.cpu}
        costs = " ".join(f"{fmt(per[p], 2) if p in per else '-':>7}" for p in COST_PARTS)
        total = sum(per.get(p, 0.0) for p in COST_PARTS)
        mine = sum(side.cpu[p] for p in (*COST_PARTS, "client", "SMTP"))
        other = max(side.cpu["machine"] - mine, 0.0) / max(side.seconds * NCPU, 1e-9)
        drain = statistics.median(side.drain_s) if side.drain_s else float("nan")
        print(
            f"  {side.name:9} {fmt(side.rps):>8} {side.done:>6} {side.made:>6} {fmt(drain):>8}   {'':16}"
            f"{costs} {fmt(total, 2):>7} | {fmt(per['client'], 2):>7} {fmt(per['SMTP'], 2):>6} "
            f"{fmt(100 * other, 0):>5}%   {' '.join(fmt(r) for r in side.rounds)}"
        )
    print(
        "  (done: cases assigned with both emails accepted by the SMTP server, of those made; cases/s: done over the"
        " time from the first submission to the last case done; drain: median seconds from the end of the load to the"
        " last case done; CPU: its gunicorn, our workers and scheduler, the PostgreSQL backends of its database,"
        " RabbitMQ (the whole node); other: share of the machine used by other processes)"
    )
    for side in sides.values():
        if side.done and side.behind_cpu:
            each = ", ".join(f"{name} {seconds * 1000 / side.done:.2f}" for name, seconds in side.behind_cpu.items())
            print(f"  {side.name} behind the web server, CPU ms per case: {each}")
    e2e, helpdesk = sides["ours"].rps, sides["helpdesk"].rps
    ours, bare = intake.get("ours", float("nan")), intake.get("bare", float("nan"))
    cost = {name: side_cost_ms(side) for name, side in sides.items()}
    no_broker = cost["ours"] - sides["ours"].cpu["broker"] * 1000 / max(sides["ours"].done, 1)
    print(
        f"  CPU per case (web, workers, PG, broker; and the SMTP server's): ours {cost['ours']:.1f} ms, helpdesk "
        f"{cost['helpdesk']:.1f} ms: {cost['helpdesk'] / cost['ours']:.2f}x, the ratio the rates tend to where"
        f" both are bound by CPU alone ({cost['helpdesk'] / no_broker:.2f}x without RabbitMQ, whose whole node"
        " is counted: others' use of it too)"
    )
    print(
        f"  ours / helpdesk end to end = {e2e / helpdesk:.2f}x (goal >= 3)   "
        f"our intake / bare = {ours / bare:.2f} (goal >= 0.5)"
    )
    print(
        f"peers: e2e_rps={e2e:.1f} helpdesk_rps={helpdesk:.1f} vs_helpdesk_e2e={e2e / helpdesk:.2f} "
        f"intake_rps={ours:.1f} bare_rps={bare:.1f} intake_vs_bare={ours / bare:.2f}"
    )


def run_e2e(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack, intake: dict[str, float]) -> None:
    """The second phase: our whole system and the helpdesk mailing, both to one SMTP server."""
    sink = SmtpSink(work)
    t0 = time.monotonic()
    sides = {
        "ours": start_ours_system(args, work, stack, sink.port),
        "helpdesk": start_helpdesk_side(args, work, stack, sink.port),
    }
    log(f"end to end: set up and started in {time.monotonic() - t0:.1f} s; SMTP on port {sink.port}")
    measure_e2e(list(sides.values()), sink, args)
    report_e2e(sides, args, intake)
    for name in ("ours-e2e-workers.log", "ours-e2e.log", "helpdesk-e2e.log"):
        lines = (work / name).read_text(errors="replace").splitlines() if (work / name).exists() else []
        bad = [line for line in lines if "Traceback" in line or " ERROR " in line or "[ERROR]" in line]
        if bad:
            print(f"  note: {len(bad)} error line(s) in {name} (--keep-logs to read it), first: {bad[0][:160]}")
    if args.profile_workers is not None:
        for proc in sides["ours"].behind.values():
            stop(proc, grace=30)  # cProfile writes its file as the worker exits
        print_worker_profiles(args.profile_workers)


# --------------------------------------------------------------------------------------------
# the run


def helpdesk_body(queue_id: int, size: int, assigned_to: int | None = None) -> bytes:
    """A ticket like our case (title, description, submitter_email, priority; assigned to the agent
    ``assigned_to``), padded to ``size`` bytes."""
    ticket: dict[str, Any] = {
        "queue": queue_id,
        "title": CASE_BODY["title"],
        "description": CASE_BODY["description"],
        "submitter_email": "peers@example.com",
        "priority": 3,
    }
    if assigned_to is not None:
        ticket["assigned_to"] = assigned_to
    filler = "。补充说明：店铺仍在销售。"
    while len(body_bytes(ticket)) < size:
        ticket["description"] += filler
    while len(body_bytes(ticket)) > size:
        ticket["description"] = ticket["description"][:-1]
    if len(body_bytes(ticket)) < size:  # the last cut removed a multi-byte character
        ticket["description"] += "." * (size - len(body_bytes(ticket)))
    return body_bytes(ticket)


def fmt(value: float, digits: int = 1) -> str:
    return "nan" if value != value else f"{value:.{digits}f}"


def report(servers: dict[str, Server], args: argparse.Namespace, body_size: int) -> None:
    print()
    print(
        f"== peers: {args.concurrency} clients, gunicorn {args.workers} sync workers each, "
        f"{args.rounds} rounds x {args.seconds:g} s alternating, JSON body {body_size} bytes =="
    )
    print(
        f"  {'':9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'peak MB':>8} {'errors':>7} "
        f"{'worker CPU':>11} {'PG CPU':>8} {'client CPU':>11} {'other':>6}   per round (req/s)"
    )
    for name in SERVERS:
        s = servers[name]
        print(
            f"  {name:9} {fmt(s.rps):>8} {fmt(percentile(s.latencies_ms, 50)):>8} "
            f"{fmt(percentile(s.latencies_ms, 99)):>8} {fmt(s.peak_rss_mb, 0):>8} {s.errors:>7} "
            f"{fmt(s.per_request_ms(s.server_cpu), 2):>8} ms {fmt(s.per_request_ms(s.postgres_cpu), 2):>5} ms "
            f"{fmt(s.per_request_ms(s.client_cpu), 2):>8} ms {fmt(100 * s.other_cpu / (s.seconds * NCPU), 0):>5}%"
            f"   {' '.join(fmt(r) for r in s.rounds)}"
        )
        if s.error_kinds:
            print(f"  {'':9} errors: {dict(s.error_kinds)}")
    print(
        "  (CPU: milliseconds per successful request, of its gunicorn workers, of the PostgreSQL backends of its"
        " database, of this client;"
        " other: share of the machine's CPU used by other processes during its rounds)"
    )
    ours, helpdesk, bare = (servers[n].rps for n in SERVERS)
    print(f"  ours / helpdesk = {ours / helpdesk:.2f}x (goal >= 2)   ours / bare = {ours / bare:.2f} (goal >= 0.5)")
    print(
        f"peers: ours_rps={ours:.1f} helpdesk_rps={helpdesk:.1f} bare_rps={bare:.1f} "
        f"vs_helpdesk={ours / helpdesk:.2f} vs_bare={ours / bare:.2f}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s (about a minute)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per server (4; quick 2)")
    parser.add_argument("--seconds", type=float, help="length of one round (10; quick 5)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients (16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers of every server (2)")
    parser.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL maintenance database"
    )
    parser.add_argument(
        "--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//", help="our broker (unused by intake)"
    )
    parser.add_argument("--only", choices=SERVERS, action="append", help="measure only these (repeatable)")
    parser.add_argument(
        "--ours-root", type=Path, default=ROOT, help="run our side from this checkout (before/after comparisons)"
    )
    parser.add_argument("--profile", type=Path, help="one more round of ours under py-spy; raw stacks to this folder")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    parser.add_argument(
        "--drain", type=float, default=180.0, help="end to end: longest wait for a round's cases (180 s)"
    )
    parser.add_argument("--profile-workers", type=Path, help="end to end: our workers under cProfile, files here")
    phase = parser.add_mutually_exclusive_group()
    phase.add_argument("--no-e2e", action="store_true", help="the intake-only rounds alone")
    phase.add_argument("--e2e-only", action="store_true", help="the end-to-end rounds alone")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 4)
    args.seconds = args.seconds or (5.0 if args.quick else 10.0)
    return args


def prepare_helpdesk(args: argparse.Namespace, databases: contextlib.ExitStack) -> Helpdesk:
    """The helpdesk's environment and its set-up on a throwaway database (made once, for both phases)."""
    if getattr(args, "helpdesk", None) is None:
        database = databases.enter_context(throwaway_database(args.pg_url, prefix=DATABASES["helpdesk"])).name
        args.helpdesk = setup_helpdesk(ensure_helpdesk_venv(), args.pg_url, database)
    return args.helpdesk


def start_helpdesk(hd: Helpdesk, args: argparse.Namespace, work: Path, smtp_port: int | None = None) -> Server:
    """The helpdesk under gunicorn: mail to the dummy backend, or with ``smtp_port`` to that SMTP
    server with each ticket assigned to the agent (who is mailed, as our expert is)."""
    port = free_port()
    app = "django.core.wsgi:get_wsgi_application()"
    env = hd.env if smtp_port is None else hd.env | {"PEERS_SMTP_PORT": str(smtp_port)}
    size = len(body_bytes(CASE_BODY))
    body = helpdesk_body(hd.queue_id, size, None if smtp_port is None else hd.agent_id)
    log_path = work / ("helpdesk.log" if smtp_port is None else "helpdesk-e2e.log")
    return Server(
        "helpdesk",
        port,
        "/helpdesk/api/tickets/",
        body,
        {"Content-Type": "application/json", "Authorization": f"Token {hd.token}"},
        start(gunicorn_cmd(hd.python, app, port, args.workers), env, hd.project, log_path),
        hd.database,
    )


def start_servers(
    wanted: list[str], args: argparse.Namespace, work: Path, databases: contextlib.ExitStack
) -> dict[str, Server]:
    """Set up each wanted server on its throwaway database (dropped when ``databases`` closes) and
    start it under gunicorn; wait until every one answers."""
    servers: dict[str, Server] = {}
    case = body_bytes(CASE_BODY)
    json_type = {"Content-Type": "application/json"}
    if "helpdesk" in wanted:
        servers["helpdesk"] = start_helpdesk(prepare_helpdesk(args, databases), args, work)
    if "ours" in wanted:
        ours_database = databases.enter_context(throwaway_database(args.pg_url, prefix=DATABASES["ours"])).name
        ours_env, token = setup_ours(args.pg_url, ours_database, args.amqp_url, work / "instance")
        port = free_port()
        # (a checkout from before the layers, e.g. for a before/after run, kept its app at the top)
        layered = (args.ours_root / "workstation/web/wsgi.py").exists()
        app = "workstation.web.wsgi:app" if layered else "workstation.wsgi:app"
        command = gunicorn_cmd(PYTHON, app, port, args.workers)
        servers["ours"] = Server(
            "ours",
            port,
            "/api/v1/cases",
            case,
            json_type | {"Authorization": f"Bearer {token}"},
            start(command, ours_env, args.ours_root.resolve(), work / "ours.log"),
            ours_database,
        )
    if "bare" in wanted:
        bare_database = databases.enter_context(throwaway_database(args.pg_url, prefix=DATABASES["bare"])).name
        bare_env = setup_bare(args.pg_url, bare_database)
        port = free_port()
        command = gunicorn_cmd(PYTHON, "peers:make_bare_app()", port, args.workers)
        servers["bare"] = Server(
            "bare", port, "/intake", case, json_type, start(command, bare_env, HERE, work / "bare.log"), bare_database
        )
    probes = {"ours": "/healthz", "helpdesk": "/helpdesk/api/", "bare": "/healthz"}
    for server in servers.values():
        wait_ready(server, probes[server.name])
    return servers


def measure(servers: dict[str, Server], args: argparse.Namespace, warmup: float) -> None:
    """A warm-up of each server, then the counted rounds in a rotating order, with memory sampled
    throughout; then the profiled round of ours with ``--profile``."""
    with MemorySampler(list(servers.values())):
        for server in servers.values():
            result = drive(server, args.concurrency, warmup)
            log(f"warm-up {server.name}: {result.ok / warmup:.1f} req/s, errors {dict(result.errors) or 0}")
        order = [n for n in SERVERS if n in servers]
        for i in range(args.rounds):
            # rotate the order, so no server always follows the same one
            names = order[i % len(order) :] + order[: i % len(order)]
            line = []
            for name in names:
                result = measured_round(servers[name], args.concurrency, args.seconds)
                bad = f" ({sum(result.errors.values())} errors)" if result.errors else ""
                line.append(f"{name} {result.ok / result.seconds:.1f}{bad}")
                time.sleep(0.5)
            log(f"round {i + 1}/{args.rounds}: " + ", ".join(line) + " req/s")
        if args.profile and "ours" in servers:
            profile_ours(servers["ours"], args.concurrency, args.seconds, args.profile)


def report_some(servers: dict[str, Server]) -> None:
    """The figures of each server measured, when not all three were (no ratios, no last line)."""
    for s in servers.values():
        print(
            f"  {s.name}: {s.rps:.1f} req/s p50 {fmt(percentile(s.latencies_ms, 50))} ms "
            f"p99 {fmt(percentile(s.latencies_ms, 99))} ms peak {s.peak_rss_mb:.0f} MB, "
            f"CPU/req worker {fmt(s.per_request_ms(s.server_cpu), 2)} ms "
            f"PG {fmt(s.per_request_ms(s.postgres_cpu), 2)} ms, errors {s.errors}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warmup = 1.5 if args.quick else 3.0
    wanted = args.only or list(SERVERS)

    busy = machine_busy_share()
    if busy > 0.15:
        log(f"WARNING: the machine was {100 * busy:.0f} % busy before the start; every figure will be lower")

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    work = Path(tempfile.mkdtemp(prefix="rpa-peers-"))
    # the databases are dropped last, once the servers using them are stopped
    with contextlib.ExitStack() as databases:
        try:
            intake: dict[str, float] = {}
            if not args.e2e_only:
                t0 = time.monotonic()
                servers = start_servers(wanted, args, work, databases)
                log(f"set up and started in {time.monotonic() - t0:.1f} s (logs in {work})")
                measure(servers, args, warmup)
                if len(servers) == len(SERVERS):
                    report(servers, args, len(body_bytes(CASE_BODY)))
                else:
                    report_some(servers)
                intake = {name: server.rps for name, server in servers.items()}
                for server in servers.values():  # the second phase has the machine to itself
                    stop(server.proc)
            if not (args.no_e2e or args.only):
                run_e2e(args, work, databases, intake)
            return 0
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        finally:
            for proc in list(_STARTED):
                stop(proc)
            if args.keep_logs:
                log(f"logs kept in {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
