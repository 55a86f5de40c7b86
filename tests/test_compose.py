"""Static checks of docker-compose.yml, the Dockerfile and .dockerignore (no Docker needed).

Every service built from our image must run a command that exists in the code, set only
``WORKSTATION_*`` variables that ``workstation/config.py`` reads, keep secrets out of the file, and
the image must contain what those commands need.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
import yaml

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONFIG_SOURCE = ROOT / "workstation" / "config.py"

PREFIX = "WORKSTATION_"
RABBIT_NODES = ("rabbit1", "rabbit2", "rabbit3")
PRIMARY, STANDBY = "db1", "db2"
EXPECTED_SERVICES = {PRIMARY, STANDBY, *RABBIT_NODES, "mailpit", "migrate", "api", "worker", "scheduler"}
OUR_SERVICES = {"migrate", "api", "worker", "scheduler"}
#: Without these the app silently falls back to SQLite, the filesystem broker or a generated key.
REQUIRED_SETTINGS = {"DATABASE_URL", "BROKER_URL", "SMTP_URL", "SECRET_KEY", "BASE_URL", "INSTANCE_PATH"}
INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[?-][^}]*)?\}$")
REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")
WSGI_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
SECRET_NAME = re.compile(r"PASSWORD|_PASS$|SECRET|TOKEN", re.IGNORECASE)


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def ours(services: dict[str, dict]) -> dict[str, dict]:
    """The services built from our image (the others use upstream images)."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def command_of(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "a service built from our image must say which role it runs"
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def with_sample_values(value: str) -> str:
    """``value`` as the container sees it, each ``${VAR...}`` replaced by a URL-safe sample."""
    return re.sub(r"\$\{[^}]*\}", "sample", value)


def module_target(command: list[str]) -> tuple[str, list[str]]:
    """``python -m X args`` -> (X, args); ``gunicorn ... mod:attr`` -> (mod:attr, [])."""
    if Path(command[0]).name.startswith("python") and len(command) >= 3 and command[1] == "-m":
        return command[2], command[3:]
    if Path(command[0]).name == "gunicorn":
        # gunicorn [OPTIONS] APP_MODULE: the target comes last.
        assert WSGI_TARGET.fullmatch(command[-1]), f"no module:app target at the end of {command}"
        return command[-1], []
    pytest.fail(f"unrecognised command {command}: expected `python -m <module>` or `gunicorn ... <module>:<app>`")


def top_level_packages(services: dict[str, dict]) -> set[str]:
    return {module_target(command_of(svc))[0].split(":")[0].split(".")[0] for svc in ours(services).values()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def copy_sources() -> list[str]:
    sources = []
    for keyword, rest in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            sources += [p.rstrip("/") or "." for p in parts[:-1]]
    return sources


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a match on a parent covers its content."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(fnmatch.fnmatchcase(prefix, cand) for prefix in prefixes for cand in candidates):
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines() if DOCKERIGNORE.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


# --- services and commands -------------------------------------------------------------------------


def test_expected_services_exist(services: dict[str, dict]) -> None:
    assert set(services) >= EXPECTED_SERVICES
    assert set(ours(services)) == OUR_SERVICES


def test_our_services_share_one_image(services: dict[str, dict]) -> None:
    built = ours(services)
    assert len({str(svc.get("build")) for svc in built.values()}) == 1
    assert len({svc.get("image") for svc in built.values()}) == 1


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_command_target_exists(services: dict[str, dict], name: str) -> None:
    target, _args = module_target(command_of(services[name]))
    module, _, attribute = target.partition(":")
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{name}: no module {module}"
    if attribute:
        # Importing workstation.web.wsgi would create the app: look for the assignment instead.
        tree = ast.parse(Path(spec.origin).read_text())
        assigned = {
            t.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        assert attribute in assigned, f"{name}: {module} defines no {attribute}"
    elif spec.submodule_search_locations is not None:
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{name}: {module} has no __main__"


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_command_arguments_exist(services: dict[str, dict], name: str) -> None:
    target, args = module_target(command_of(services[name]))
    if target == "workstation":
        from workstation.__main__ import cli

        assert args, f"{name}: `python -m workstation` needs a command"
        assert args[0] in cli.commands, f"{name}: no command {args[0]!r} among {sorted(cli.commands)}"
    elif target == "workers":
        from workstation.services.messaging import SUBSCRIPTIONS

        if "scheduler" in args:
            assert args == ["scheduler"], f"{name}: 'scheduler' runs alone, got {args}"
        else:
            unknown = set(args) - set(SUBSCRIPTIONS)
            assert not unknown, f"{name}: unknown consumer(s) {sorted(unknown)}"


def test_roles(services: dict[str, dict]) -> None:
    targets = {name: module_target(command_of(services[name])) for name in OUR_SERVICES}
    assert targets["migrate"] == ("workstation", ["init-db"])
    assert targets["api"] == ("workstation.web.wsgi:app", [])
    assert targets["worker"][0] == "workers" and "scheduler" not in targets["worker"][1]
    assert targets["scheduler"] == ("workers", ["scheduler"])


def test_two_of_each_process_and_workers_scalable(services: dict[str, dict]) -> None:
    """Two app replicas, two consumer replicas and two schedulers (one leads, one waits on the
    advisory lock), so that the death of any one process stops nothing."""
    for name in ("api", "worker", "scheduler"):
        # Stated, not defaulted: a missing key must fail here, not pass as "1".
        assert services[name]["deploy"]["replicas"] == 2, name
        assert "container_name" not in services[name], "a fixed container name prevents replicas"
    for name in ("worker", "scheduler"):
        assert "ports" not in services[name]
    # Two app replicas cannot publish the same host port: a range with one port per replica.
    published = [str(p) for p in services["api"]["ports"]]
    first, _, last = published[0].rsplit(":", 1)[0].rpartition(":")[-1].partition("-")
    assert last and int(last) - int(first) + 1 >= services["api"]["deploy"]["replicas"], published


def test_admin_interfaces_listen_on_this_host_only(services: dict[str, dict]) -> None:
    """Mailpit's web UI (unauthenticated, showing confidential case titles) and RabbitMQ's
    management UI are published on 127.0.0.1 only, never on every interface."""
    for name in ("mailpit", "rabbit1"):
        assert services[name].get("ports"), f"{name} publishes its UI (the test would prove nothing otherwise)"
    for name, svc in services.items():
        if name == "api":
            continue
        for port in (str(p) for p in svc.get("ports", [])):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_start_order(services: dict[str, dict]) -> None:
    assert services["migrate"].get("restart") == "no"
    assert services["migrate"]["depends_on"][PRIMARY]["condition"] == "service_healthy"
    for name in ("api", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        # Every node, healthy meaning clustered: a quorum queue declared before the cluster has
        # formed would get members only on the nodes already up.
        for node in RABBIT_NODES:
            assert depends[node]["condition"] == "service_healthy", f"{name} does not wait for {node}"
    # A service waited on as healthy must have a health check.
    for svc in services.values():
        for dependency, rule in (svc.get("depends_on") or {}).items():
            if isinstance(rule, dict) and rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_api_healthcheck_hits_a_real_route(services: dict[str, dict]) -> None:
    api = services["api"]
    test = api["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "curl" not in text and "wget" not in text, "neither is in python:3.11-slim"
    match = re.search(r"http://[^/:]+:(\d+)(/\w+)", text)
    assert match, text
    port, path = match.groups()
    bind = command_of(api)[command_of(api).index("--bind") + 1]
    assert bind.endswith(f":{port}")
    health_routes = re.findall(r'@bp\.get\("([^"]+)"\)', (ROOT / "workstation/web/health.py").read_text())
    assert path in health_routes
    assert any(str(p).split(":")[-1] == port for p in api.get("ports", []))


# --- environment and secrets -----------------------------------------------------------------------


def test_workstation_variables_are_read_by_config(services: dict[str, dict]) -> None:
    source = CONFIG_SOURCE.read_text()
    assert f'PREFIX = "{PREFIX}"' in source
    for name, svc in ours(services).items():
        env = environment_of(svc)
        for variable in env:
            if variable.startswith(PREFIX):
                setting = variable[len(PREFIX) :]
                assert f'"{setting}"' in source, f"{name}: workstation/config.py never reads {variable}"
        missing = {s for s in REQUIRED_SETTINGS if PREFIX + s not in env}
        assert not missing, f"{name}: {sorted(missing)} unset"


def test_production_backends(services: dict[str, dict]) -> None:
    for svc in ours(services).values():
        env = environment_of(svc)
        assert env["WORKSTATION_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["WORKSTATION_BROKER_URL"].startswith("amqp://")
        assert env["WORKSTATION_SMTP_URL"].startswith("smtp://mailpit:")


def test_broker_url_names_every_node_and_queues_are_quorum(services: dict[str, dict]) -> None:
    """The workstation fails over between the nodes (kombu's ";"-separated alternates) and declares
    quorum queues, which survive the death of one node of three."""
    from kombu import Connection

    for name, svc in ours(services).items():
        env = environment_of(svc)
        urls = env["WORKSTATION_BROKER_URL"].split(";")
        hosts = [re.search(r"@([^:/]+):5672/", url).group(1) for url in urls]
        assert hosts == list(RABBIT_NODES), f"{name}: {hosts}"
        assert all(url.startswith("amqp://") for url in urls)
        alternates = Connection(with_sample_values(env["WORKSTATION_BROKER_URL"])).alt
        assert len(alternates) == len(RABBIT_NODES), f"{name}: kombu reads {alternates}"
        assert env["WORKSTATION_QUORUM_QUEUES"] == "1", f"{name}: quorum queues off"


def test_rabbitmq_nodes_form_one_cluster(services: dict[str, dict]) -> None:
    cookies, conf_mounts = set(), set()
    for node in RABBIT_NODES:
        svc = services[node]
        assert svc["hostname"] == node, "the node name (rabbit@<hostname>) is what the cluster and its data know"
        cookie = environment_of(svc)["RABBITMQ_ERLANG_COOKIE"]
        assert REQUIRED_INTERPOLATION.match(cookie), f"{node}: the cookie must come from the environment"
        cookies.add(cookie)
        for volume in map(str, svc["volumes"]):
            if volume.split(":")[1].startswith("/etc/rabbitmq/conf.d/"):
                conf_mounts.add(volume.split(":")[0])
        test = svc["healthcheck"]["test"]
        assert "disk_nodes" in " ".join(test), f"{node}: healthy must mean clustered"
    assert len(cookies) == 1, "the nodes must share one Erlang cookie to cluster"
    assert len(conf_mounts) == 1, "one cluster configuration for every node"
    conf = (ROOT / conf_mounts.pop()).read_text()
    assert "peer_discovery_backend = classic_config" in conf
    for number, node in enumerate(RABBIT_NODES, start=1):
        assert f"classic_config.nodes.{number} = rabbit@{node}" in conf
    # Their data folders are their own.
    volumes = [str(v) for node in RABBIT_NODES for v in services[node]["volumes"]]
    data = {v.split(":")[0] for v in volumes if v.split(":")[1] == "/var/lib/rabbitmq"}
    assert len(data) == len(RABBIT_NODES)


def test_database_url_names_primary_then_standby(services: dict[str, dict]) -> None:
    """libpq's multi-host form: a new connection goes to whichever server takes writes, the primary
    or, after a promotion, the standby (README, "The database out of reach")."""
    from workstation.services.db import engine_url

    for name, svc in ours(services).items():
        url = with_sample_values(environment_of(svc)["WORKSTATION_DATABASE_URL"])
        hosts = url.split("@", 1)[1].split("/", 1)[0].split(",")
        assert hosts == [f"{PRIMARY}:5432", f"{STANDBY}:5432"], f"{name}: {hosts}"
        query = url.partition("?")[2].split("&")
        assert "target_session_attrs=read-write" in query, f"{name}: a standby could take writes"
        assert any(part.startswith("connect_timeout=") for part in query), f"{name}: a dead host would hang"
        assert engine_url(url).count("host=") == 2


def test_primary_streams_to_a_standby(services: dict[str, dict]) -> None:
    primary, standby = services[PRIMARY], services[STANDBY]
    command = " ".join(command_of(primary))
    assert "wal_level=replica" in command and "max_wal_senders=" in command
    init = [str(v).split(":")[0] for v in primary["volumes"] if "/docker-entrypoint-initdb.d/" in str(v)]
    assert init, "the primary must create the replication role, its slot and its pg_hba line"
    init_script = (ROOT / init[0]).read_text()
    assert "REPLICATION LOGIN" in init_script and "host replication" in init_script
    assert "pg_create_physical_replication_slot('db2')" in init_script
    entrypoint = " ".join(standby["entrypoint"])
    scripts = [str(v).split(":")[0] for v in standby["volumes"] if str(v).split(":")[1] in entrypoint]
    assert scripts, "the standby's entrypoint is a script of ours"
    standby_script = (ROOT / scripts[0]).read_text()
    assert "pg_basebackup" in standby_script and f"--host={PRIMARY}" in standby_script
    assert "--write-recovery-conf" in standby_script and "--slot=db2" in standby_script
    # Promoted, it must not wait for a standby of its own (every commit would hang).
    assert "synchronous_standby_names=" in standby_script.split("exec postgres", 1)[1]
    assert standby["depends_on"][PRIMARY]["condition"] == "service_healthy"
    for name in (PRIMARY, STANDBY):
        assert "pg_isready" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["volumes"][0].split(":")[1] == "/var/lib/postgresql/data"
    assert services[PRIMARY]["volumes"][0] != services[STANDBY]["volumes"][0]


def test_every_server_has_a_healthcheck(services: dict[str, dict]) -> None:
    for name in (PRIMARY, STANDBY, *RABBIT_NODES, "api"):
        assert services[name]["healthcheck"]["test"], name


def test_secret_key_comes_from_the_environment(services: dict[str, dict]) -> None:
    for name, svc in ours(services).items():
        value = environment_of(svc)["WORKSTATION_SECRET_KEY"]
        assert REQUIRED_INTERPOLATION.match(value), f"{name}: the secret key must be ${{VAR:?...}}, got {value!r}"


def test_no_hard_coded_secrets(services: dict[str, dict]) -> None:
    for name, svc in services.items():
        for variable, value in environment_of(svc).items():
            if SECRET_NAME.search(variable):
                assert INTERPOLATION.match(value), f"{name}: {variable} is hard-coded"
            # Passwords inside URLs (scheme://user:password@host).
            for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert INTERPOLATION.match(password), f"{name}: {variable} has a hard-coded password"


def test_instance_volume_shared(compose: dict, services: dict[str, dict]) -> None:
    for name, svc in ours(services).items():
        instance = environment_of(svc)["WORKSTATION_INSTANCE_PATH"]
        mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in svc.get("volumes", []) if ":" in str(v)}
        assert instance in mounts, f"{name}: {instance} is not a volume"
        assert mounts[instance] in (compose.get("volumes") or {}), "a named volume, shared by api and workers"
    sources = {str(v).split(":")[0] for svc in ours(services).values() for v in svc.get("volumes", []) if ":" in str(v)}
    assert len(sources) == 1


# --- the image -------------------------------------------------------------------------------------


def test_dockerfile_base_user_and_default_command(services: dict[str, dict]) -> None:
    rows = dockerfile_instructions()
    assert rows[0] == ("FROM", "python:3.11-slim")
    users = [rest for keyword, rest in rows if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert any(k == "RUN" and "pip install" in r and "-r requirements.txt" in r for k, r in rows)
    cmd = [rest for keyword, rest in rows if keyword == "CMD"][-1]
    assert ast.literal_eval(cmd) == command_of(services["api"])


def test_dockerfile_copies_what_the_commands_need(services: dict[str, dict]) -> None:
    from workstation.services.mail import TEMPLATES_DIR

    sources = set(copy_sources())
    needed = top_level_packages(services) | {"requirements.txt", TEMPLATES_DIR.relative_to(ROOT).as_posix()}
    assert sources >= needed, f"not copied: {sorted(needed - sources)}"
    assert "." not in sources, "copy named paths only"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"


def test_dockerignore_keeps_the_sources_and_drops_local_state() -> None:
    patterns = dockerignore_patterns()
    for source in copy_sources():
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if file.suffix in (".pyc", ".mo") or "__pycache__" in file.parts:
                continue
            assert not dockerignored(relative, patterns), f"{relative} is copied but .dockerignore drops it"
    for local in (".env", ".venv/bin/python", "instance/secret_key", ".git/config"):
        assert dockerignored(local, patterns), f"{local} would be sent to the build"
