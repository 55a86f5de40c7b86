"""Test fixtures. The same tests run on two deployments, chosen by ``WORKSTATION_TEST_BACKEND``:

- ``embedded`` (default): SQLite and kombu's filesystem transport in a temporary instance folder;
- ``services``: PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) on this machine.

With ``CI=true`` the services pass must run: if PostgreSQL or RabbitMQ cannot be reached the
run fails instead of skipping.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import Engine, event, text
from sqlalchemy.util import LRUCache
from werkzeug.routing import Rule

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("WORKSTATION_TEST_BACKEND", "embedded")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("WORKSTATION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_TEST_DB = f"rpa_test_{os.getpid()}"
# A virtual host of its own per test run, so a workstation running beside the tests on the same
# RabbitMQ (a developer's, a benchmark) never takes the tests' messages.
AMQP_VHOST = f"rpa_test_{os.getpid()}"
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{AMQP_VHOST}"

from tests import forkserver, rabbitcluster  # noqa: E402
from tests.forkserver import Forked  # noqa: E402
from tests.rabbitcluster import RabbitCluster  # noqa: E402
from workstation.config import Config  # noqa: E402
from workstation.services import auth, db  # noqa: E402
from workstation.services.auth import create_token, create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import Base  # noqa: E402
from workstation.web import create_app  # noqa: E402


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # ``make test`` runs the two passes side by side: a test that mostly waits overlaps best with
    # the other pass's busy start.
    items.sort(key=lambda item: "run_first" not in item.keywords)  # stable: the rest keep their order
    if BACKEND != "services":
        return
    # Pure tests need no services: they ran in the embedded pass already.
    pure = [item for item in items if "pure" in item.keywords]
    if pure:
        config.hook.pytest_deselected(items=pure)
        items[:] = [item for item in items if "pure" not in item.keywords]


def pytest_report_header(config: pytest.Config) -> str:
    return f"workstation backend: {BACKEND}{' (CI: services required)' if IN_CI else ''}"


#: The password hasher the workstation runs with (the tests swap in a cheap one, below).
PRODUCTION_HASHER = auth._hasher  # noqa: SLF001


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its cheapest (still argon2id: logins work, and a hash made here verifies anywhere,
    as argon2 reads its parameters from the hash): a hash or a check at the real cost takes about
    0.12 s, and the suite makes and logs in thousands of users. ``test_web`` checks the real one.
    Autouse, so it is in place before ``people`` makes anyone."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class _TemplateBytecode(jinja2.BytecodeCache):
    """Compiled templates kept in memory for every app of the session: each test's app has a Jinja
    environment of its own, which otherwise compiles each template it renders again (about 12 ms
    a template; a page renders several). Jinja checks each template's source against its checksum."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


def _url_builders_compiled_once(compile_builder: Callable[..., Any]) -> Callable[..., Any]:
    """werkzeug's ``Rule._compile_builder``, remembered: each app compiles Python code for each of
    its 133 routes' URL builders (40 ms an app), the same code for the same route in every app. The
    code depends on the route's pattern, its defaults and ``append_unknown`` only (it reads the
    rule's converters when called), so one compilation serves every app's copy of a route."""
    compiled: dict[tuple, Callable[..., Any]] = {}

    def compile_once(rule: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = (rule.rule, tuple(rule._trace), repr(sorted((rule.defaults or {}).items())), append_unknown)  # noqa: SLF001
        if key not in compiled:
            compiled[key] = compile_builder(rule, append_unknown)
        return compiled[key]

    return compile_once


def _sql_compiled_once(create_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    """SQLAlchemy's ``create_engine``, with each engine made to share the compiled SQL of the first
    engine of its kind (the same driver and options) that has met its database: SQLAlchemy keeps
    compiled statements per engine, keyed by the engine's dialect, and each test's app and
    ``sessions`` make engines of their own, which compiled every statement again (18 % of seven
    test files' time under cProfile). A dialect is the same for every database of one kind here (one SQLite
    library, one PostgreSQL version); each engine keeps its own pool, connections and listeners."""
    met: dict[tuple, Engine] = {}

    def create(url: Any, **kwargs: Any) -> Engine:
        engine = create_engine(url, **kwargs)
        key = (engine.url.drivername, repr(sorted(kwargs.items(), key=lambda item: item[0])))
        first = met.get(key)
        if first is not None:
            engine.dialect = engine.pool._dialect = first.dialect  # noqa: SLF001
            engine._compiled_cache = first._compiled_cache  # noqa: SLF001
            return engine

        # (after create_engine's own first_connect, which initialises the dialect from the server)
        @event.listens_for(engine, "first_connect")
        def _met(*_: Any) -> None:
            if key not in met:
                engine._compiled_cache = LRUCache(5000)  # noqa: SLF001 - every test's statements
                met[key] = engine

        return engine

    return create


@pytest.fixture(scope="session", autouse=True)
def apps_compile_once() -> Iterator[None]:
    """What every test's app would compile again the same (templates, URL builders, SQL), compiled
    once for the session. The apps still differ in everything else: configuration, database, state."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": _TemplateBytecode()})
        patch.setattr(Rule, "_compile_builder", _url_builders_compiled_once(Rule._compile_builder))  # noqa: SLF001
        patch.setattr(db, "create_engine", _sql_compiled_once(db.create_engine))
        yield


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
def services_database() -> Iterator[str | None]:
    """On the services pass: a fresh PostgreSQL database, migrated once for the session."""
    if BACKEND != "services":
        yield None
        return
    missing = [name for name, port in (("PostgreSQL", 5432), ("RabbitMQ", 5672)) if not _reachable("127.0.0.1", port)]
    if missing:
        message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
        if IN_CI:
            pytest.exit(f"CI=true and {message}: the real-service tests must run", returncode=3)
        pytest.skip(message)
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{PG_TEST_DB}"'))
        # A commit need not wait for its WAL to reach the disk (about 3.5 ms a commit here, and a
        # test commits dozens of times): what a crash of the machine would lose is a throwaway
        # database. Every commit is still a commit to every other connection.
        connection.execute(text(f'ALTER DATABASE "{PG_TEST_DB}" SET synchronous_commit = off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_TEST_DB
    upgrade(url)
    rabbitmqctl("add_vhost", AMQP_VHOST)
    rabbitmqctl("set_permissions", "-p", AMQP_VHOST, "guest", ".*", ".*", ".*")
    yield url
    rabbitmqctl("delete_vhost", AMQP_VHOST)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def rabbit_cluster(services_database: str | None) -> Iterator[RabbitCluster]:
    """On the services pass: three RabbitMQ nodes clustered beside the system's node (started once,
    in about 25 s, and removed at the end). With ``CI=true`` it must run: no rabbitmq-server fails."""
    if BACKEND != "services":
        pytest.skip("the RabbitMQ cluster belongs to the services pass")
    if not rabbitcluster.available():
        message = f"Debian's rabbitmq-server is not installed ({rabbitcluster.RABBITMQ_BIN})"
        if IN_CI:
            pytest.exit(f"CI=true and {message}: the cluster tests must run", returncode=3)
        pytest.skip(message)
    with RabbitCluster() as cluster:  # stopped and removed also if its start fails half-way
        yield cluster


_cluster_vhosts = itertools.count(1)


@pytest.fixture
def cluster_env(env: dict[str, str], rabbit_cluster: RabbitCluster) -> Iterator[dict[str, str]]:
    """``env`` with the cluster as the broker: every node's URL (kombu's failover), quorum queues,
    and a virtual host of this test's own (so nothing a previous test left is in its queues)."""
    for node in rabbit_cluster.nodes:
        if node.pid() is None:  # a previous test failed before it restarted what it killed
            rabbit_cluster.restart(node)
    vhost = f"{AMQP_VHOST}_{next(_cluster_vhosts)}"
    rabbit_cluster.add_vhost(vhost)
    yield {**env, "WORKSTATION_BROKER_URL": rabbit_cluster.url(vhost), "WORKSTATION_QUORUM_QUEUES": "1"}
    for node in rabbit_cluster.nodes:
        if node.pid() is None:
            rabbit_cluster.restart(node)
    rabbit_cluster.delete_vhost(vhost)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "workstation.db"
    upgrade(f"sqlite:///{path}")
    return path


def purge_rabbitmq() -> None:
    from kombu import Connection

    from workstation.services.messaging import SUBSCRIPTIONS, dead_letter_queue_name, queue_name

    with Connection(AMQP_URL) as connection:
        channel = connection.channel()
        for consumer in SUBSCRIPTIONS:
            for name in (queue_name(consumer), dead_letter_queue_name(consumer)):
                try:
                    channel.queue_purge(name)
                except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                    channel = connection.channel()


#: Every table emptied, and every sequence a test drew from restarted, as ``TRUNCATE ... RESTART
#: IDENTITY`` would: on tables this small ``DELETE`` takes 6 ms where ``TRUNCATE`` (new files for 24
#: tables) took 75, and restarting only the sequences that moved (``last_value`` is NULL until a
#: sequence is drawn from, and again after a restart) a few ms where restarting all 33 took 20.
#: The audit tables refuse DELETE (a trigger); a test database's owner may switch triggers off for
#: this one session's emptying, as a restore would.
_EMPTYING = "; ".join(
    [
        "SET session_replication_role = replica",
        *(f'DELETE FROM "{table.name}"' for table in reversed(Base.metadata.sorted_tables)),
        "SET session_replication_role = DEFAULT",
        """DO $$ DECLARE name text; BEGIN
        FOR name IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL
        LOOP EXECUTE 'ALTER SEQUENCE ' || quote_ident(name) || ' RESTART'; END LOOP; END $$""",
    ]
)


@pytest.fixture(scope="session")
def emptying_engine(services_database: str | None) -> Iterator[Engine | None]:
    """The services pass's one engine for emptying the database before each test (a connection
    kept, not opened for each test)."""
    if services_database is None:
        yield None
        return
    engine = make_engine(services_database)
    yield engine
    engine.dispose()


@pytest.fixture
def env(
    tmp_path: Path, services_database: str | None, emptying_engine: Engine | None, sqlite_template: Path
) -> dict[str, str]:
    """The ``WORKSTATION_*`` environment of one test's deployment (also given to worker processes)."""
    instance = tmp_path / "instance"
    instance.mkdir()
    values = {
        "WORKSTATION_INSTANCE_PATH": str(instance),
        "WORKSTATION_SECRET_KEY": "test-secret-key",
        "WORKSTATION_RECONCILE_AFTER": "2",
        "WORKSTATION_RECONCILE_INTERVAL": "0.5",
        "WORKSTATION_BASE_URL": "http://testserver",
    }
    if BACKEND == "services":
        with emptying_engine.begin() as connection:
            connection.exec_driver_sql(_EMPTYING)
        purge_rabbitmq()
        values["WORKSTATION_DATABASE_URL"] = services_database
        values["WORKSTATION_BROKER_URL"] = AMQP_URL
    else:
        shutil.copy(sqlite_template, instance / "workstation.db")
    return values


@pytest.fixture
def config(env: dict[str, str]) -> Config:
    return Config.from_env(env)


@pytest.fixture
def sessions(config: Config):  # noqa: ANN201
    engine = make_engine(config.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def app(config: Config):  # noqa: ANN201
    app = create_app(config)
    app.config["TESTING"] = True
    yield app
    app.extensions["workstation"]["engine"].dispose()


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


class People:
    """Users of one test, with API tokens: ``people.enterprise``, ``people.token('expert')``..."""

    def __init__(self, sessions) -> None:  # noqa: ANN001
        self.sessions = sessions
        self.users: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}

    def add(self, key: str, role: str, **kwargs: Any) -> Any:
        with self.sessions.begin() as session:
            defaults = {"right_types": ["trademark", "patent"], "capacity": 5} if role == "expert" else {}
            options = {"name": key, **defaults, **kwargs}
            user = create_user(session, f"{key}@example.cn", "password123", role, **options)
            self.tokens[key] = create_token(session, user)
        self.users[key] = user
        return user

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[key]}"}

    def __getattr__(self, key: str) -> Any:
        try:
            return self.users[key]
        except KeyError:
            raise AttributeError(key) from None


@pytest.fixture
def people(sessions) -> People:  # noqa: ANN001
    team = People(sessions)
    team.add("enterprise", "enterprise", organisation="陕西星河科技有限公司")
    team.add("other_enterprise", "enterprise", language="en")
    team.add("coordinator", "coordinator")
    return team


CASE = {
    "right_type": "trademark",
    "service": "infringement_judgment",
    "title": "仿冒“星河”商标的商品",
    "description": "某网店销售带有与我司注册商标近似标志的商品。",
}


@pytest.fixture
def submit(client, people: People) -> Callable[..., Any]:  # noqa: ANN001
    def _submit(who: str = "enterprise", **overrides: Any):  # noqa: ANN202
        response = client.post("/api/v1/cases", json={**CASE, **overrides}, headers=people.headers(who))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return _submit


class Processes:
    """Worker and scheduler processes, each running ``python -m workers ...`` as in production,
    forked from the session's fork server (``tests/forkserver.py``), which has their code imported."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}  # (unbuffered output: the fork server runs with -u)
        self.log_dir = log_dir
        self.running: list[Forked] = []

    def start(self, *args: str) -> Forked:
        name = "-".join(args) or "workers"
        log = self.log_dir / f"{name}-{len(self.running)}.log"
        process = forkserver.shared(ROOT).start(list(args), self.env, ROOT, log)
        self.running.append(process)
        return process

    def kill(self, process: Forked) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.log_dir.glob("*.log"))


@pytest.fixture
def processes(env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    running = Processes(env, tmp_path)
    yield running
    running.stop_all()
    print(running.logs())  # captured: pytest shows it only when the test failed


@pytest.fixture
def pipeline(processes: Processes) -> Processes:
    """The whole back end running: one consumer process and the scheduler (relay, reconciler)."""
    processes.start()
    processes.start("scheduler")
    return processes


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        import threading

        self.messages: list = []
        self.peers: list = []  # the client's (host, port) of each message: one per connection
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook name
        import email

        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.original_content))
            self.peers.append(session.peer)
        return "250 OK"


class HoldingInbox(Inbox):
    """Holds each message a moment before answering, counting how many are on their way at once
    (the server's loop runs in one thread); refuses those whose Message-ID is in ``refuse``, and
    the ``refuse_number``-th message it is given (counting from 1)."""

    def __init__(self, hold: float = 0.05) -> None:
        super().__init__()
        self.hold, self.on_the_way, self.most_at_once, self.given = hold, 0, 0, 0
        self.refuse: set[str] = set()
        self.refuse_number, self.refused = 0, 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        import asyncio

        self.on_the_way += 1
        self.given += 1
        number = self.given
        self.most_at_once = max(self.most_at_once, self.on_the_way)
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.on_the_way -= 1
        if number == self.refuse_number or message_id(envelope) in self.refuse:
            self.refused += 1
            return "554 refused"
        return await super().handle_DATA(server, session, envelope)


def message_id(envelope) -> str:  # noqa: ANN001
    import email

    return email.message_from_bytes(envelope.original_content)["Message-ID"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving_smtp(inbox: Inbox) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free loopback port handing what it receives to ``inbox``:
    its controller."""
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():  # noqa: ANN201
    """A real SMTP server on loopback: (controller, inbox)."""
    inbox = Inbox()
    with serving_smtp(inbox) as controller:
        yield controller, inbox


@pytest.fixture
def cli_run(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``python -m workstation <args>`` in-process, on this test's deployment."""
    from click.testing import CliRunner

    from workstation.__main__ import cli

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return lambda *args: CliRunner().invoke(cli, list(args))


def wait_for(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.1, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


@pytest.fixture
def live_server(app) -> Iterator[str]:  # noqa: ANN001
    """The app served over HTTP on loopback (for the browser): its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "test-output" / "screenshots"


class Browser:
    """Headless Debian chromium driven by selenium, with screenshots under test-output/."""

    def __init__(self, driver, base_url: str, downloads: Path) -> None:  # noqa: ANN001
        self.driver = driver
        self.base_url = base_url
        self.downloads = downloads  # where the browser saves a download, without asking

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def fill(self, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.by import By

        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            if element.get_attribute("type") == "date":
                # Typing into a date input follows the browser locale's format: set the ISO value.
                self.driver.execute_script("arguments[0].value = arguments[1]", element, value)
                continue
            element.clear()
            element.send_keys(value)

    def click(self, css: str, new_page: bool = True) -> None:
        """Click; by default wait until the browser has loaded the next page (a submit or a link)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.wait import WebDriverWait

        # A mark on the current page's window: gone once another page has loaded. (Waiting for an
        # element to go stale trips over chromedriver's "node does not belong to the document".)
        self.driver.execute_script("window.__before_click = true")
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        if new_page:
            WebDriverWait(self.driver, 15).until(
                lambda d: d.execute_script(
                    "return window.__before_click === undefined && document.readyState === 'complete'"
                )
            )

    def text(self) -> str:
        # One script call, no element reference: safe while a page refreshes itself.
        return self.driver.execute_script("return document.body ? document.body.innerText : ''")

    def screenshot(self, name: str, width: int = 1280) -> Path:
        """The whole page (as tall as its content) at ``width`` CSS pixels: 1280 a laptop, 390 a phone."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.set_window_size(width, 800)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, max(800, min(int(height), 6000)))
        self.driver.save_screenshot(str(path))
        return path

    def csp_violations(self) -> list[str]:
        """What the browser refused under the Content-Security-Policy since the last call (its
        console messages): the pages' own scripts and styles must never be among them."""
        return [e["message"] for e in self.driver.get_log("browser") if "Content Security Policy" in e["message"]]

    def login(self, email: str, password: str = "password123") -> None:
        self.open("/login")
        self.fill({"email": email, "password": password})
        self.click("main button[type=submit]")  # (the header's is "log out" when someone is logged in)


@pytest.fixture(scope="session")
def chromium():  # noqa: ANN201
    """One headless chromium for the session's browser tests (a start and a quit cost 2 to 3 s):
    ``browser`` hands it to each test as new (no cookies, no cache, a console read to its end, a
    download folder of the test's own)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if IN_CI:
            pytest.fail("chromium and chromium-driver are missing: `make browser` installs them")
        pytest.skip("no chromium/chromedriver (run `make browser`)")
    os.environ["SE_OFFLINE"] = "true"  # selenium must never download a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=1280,800", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for csp_violations()
    options.add_experimental_option("prefs", {"download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, live_server: str, tmp_path: Path) -> Iterator[Browser]:  # noqa: ANN001
    from selenium.common.exceptions import NoAlertPresentException

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    # Each test's server has a port (an origin) of its own, so no page storage carries over; the
    # cookies of 127.0.0.1 are the same whatever the port, and are cleared.
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.execute_cdp_cmd("Network.clearBrowserCache", {})
    chromium.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    chromium.set_window_size(1280, 800)
    chromium.get_log("browser")  # what earlier tests' pages logged is not this test's
    yield Browser(chromium, live_server, downloads)
    with contextlib.suppress(NoAlertPresentException):  # a test that failed may have left a dialog open
        chromium.switch_to.alert.dismiss()
    chromium.get("about:blank")  # no page of this test's goes on asking its server (refreshes)
