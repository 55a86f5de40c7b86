"""A RabbitMQ cluster of three nodes on this machine, beside the system's own node on 5672.

Used by the broker-failover test (``tests/test_cluster.py``, session-scoped, services pass only)
and by ``benchmarks/faults.py``. The nodes are Debian's rabbitmq-server run straight from
``/usr/lib/rabbitmq/bin`` as this user, each with a node name, AMQP port, distribution port and
data folder of its own under a temporary folder; nodes 2 and 3 join node 1 with
``rabbitmqctl join_cluster``. A node can be killed the hard way (SIGKILL of its Erlang VM, as a
crash or the OOM killer would) and started again; it rejoins the cluster by itself.

What was learned getting here (``/work/shared/RECIPES.md`` has the long version):

- ``/usr/sbin/rabbitmq*`` switch to the system node's user, HOME and cookie: call the scripts in
  ``/usr/lib/rabbitmq/bin``.
- Without ``RABBITMQ_CONF_ENV_FILE`` and ``RABBITMQ_CONFIG_FILE`` of their own, the nodes read
  ``/etc/rabbitmq/*`` and all become ``rabbit@localhost`` on 5672.
- The servers and the CLI find each other's Erlang cookie in ``$HOME/.erlang.cookie``; one HOME
  (the cluster's folder) for all of them.
- ``rabbitmq-server -detached`` returns at once: ``rabbitmqctl wait <pid file>`` waits for the
  node (``await_startup`` fails while the node is not yet registered with epmd). The pid file
  holds the pid of ``beam.smp``, which is what to kill; it must go before a killed node restarts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
#: Node 1 waits for its peers' names in epmd, and a cold start of three nodes on two busy cores
#: takes 10-30 s; this is the most any one start or CLI call may take.
START_TIMEOUT_S = 120


def available() -> bool:
    """Debian's rabbitmq-server is installed (the cluster can be started on this machine)."""
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and (RABBITMQ_BIN / "rabbitmqctl").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    number: int  # 1, 2, 3
    name: str  # rpa1_<tag>@localhost
    port: int  # AMQP
    dist_port: int  # Erlang distribution
    base: Path  # data, logs, pid file and config of this node

    @property
    def pid_file(self) -> Path:
        return self.base / "beam.pid"

    def pid(self) -> int | None:
        """The pid of the node's running Erlang VM, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid


class RabbitCluster:
    """Three RabbitMQ nodes clustered on 127.0.0.1; ``start()``, then ``url()``, ``kill()``,
    ``restart()``, ``leader_of()``, and ``stop()`` (which also removes their folders)."""

    def __init__(self, size: int = 3, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="rpa-rabbit-"))
        self.root.mkdir(parents=True, exist_ok=True)
        tag = secrets.token_hex(3)  # node names unique on this machine's epmd
        self.nodes = [
            Node(n, f"rpa{n}_{tag}@localhost", _free_port(), _free_port(), self.root / f"node{n}")
            for n in range(1, size + 1)
        ]
        # The CLI's own distribution ports: away from the system CLI's 35672-35682.
        self._ctl_port = _free_port()
        self._launched: set[int] = set()  # nodes started and not killed since (by number)
        self._prepare()

    # -- setting up -------------------------------------------------------------------------------

    def _prepare(self) -> None:
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("")  # nothing from /etc/rabbitmq
        (self.root / "enabled_plugins").write_text("[].\n")
        for node in self.nodes:
            (node.base / "log").mkdir(parents=True, exist_ok=True)
            (node.base / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.port}\n"
                # a node that lost its peers keeps serving what it can; the quorum queues
                # themselves refuse to act without a majority
                "cluster_partition_handling = ignore\n"
            )

    def _env(self, node: Node) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.root),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(node.port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.base / "log"),
            RABBITMQ_PID_FILE=str(node.pid_file),
            RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(node.base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(node.base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_CTL_DIST_PORT_MIN=str(self._ctl_port),
            RABBITMQ_CTL_DIST_PORT_MAX=str(self._ctl_port + 10),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def ctl(self, node: Node, *args: str, tool: str = "rabbitmqctl", timeout: float = START_TIMEOUT_S) -> str:
        """A CLI command (``rabbitmqctl``, ``rabbitmq-queues``...) addressed to ``node``; its output."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / tool), "-n", node.name, *args],
            env=self._env(node),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} on {node.name}: {done.stderr or done.stdout}")
        return done.stdout

    def _launch(self, node: Node) -> None:
        node.pid_file.unlink(missing_ok=True)  # a killed node's stale pid file would fool `wait`
        self._launched.add(node.number)
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"],
            env=self._env(node),
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )

    def _wait(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not node.pid_file.exists():  # written by the VM once it runs
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} did not start: {self.log_tail(node)}")
            time.sleep(0.1)
        self.ctl(node, "wait", str(node.pid_file), "--timeout", str(START_TIMEOUT_S))

    def start(self) -> RabbitCluster:
        """All nodes started and clustered (about 15-30 s)."""
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._wait(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "reset")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        running = self.running_nodes()
        if running != {node.name for node in self.nodes}:
            raise RuntimeError(f"the cluster did not form: running {sorted(running)}")
        return self

    # -- looking at it ----------------------------------------------------------------------------

    def running_nodes(self, via: Node | None = None) -> set[str]:
        """The names of the nodes the cluster counts as running (asked of ``via``, else any live node)."""
        asked = via or self.live_nodes()[0]
        status = self.ctl(asked, "cluster_status", "--formatter", "json")
        return set(json.loads(status)["running_nodes"])

    def live_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.pid() is not None]

    def url(self, vhost: str = "/", user: str = "guest", password: str = "guest") -> str:
        """The broker URL of every node, for kombu's failover (``;``-separated)."""
        path = "" if vhost == "/" else vhost
        return ";".join(f"amqp://{user}:{password}@127.0.0.1:{node.port}/{path}" for node in self.nodes)

    def add_vhost(self, vhost: str) -> None:
        node = self.live_nodes()[0]
        self.ctl(node, "add_vhost", vhost)
        self.ctl(node, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def delete_vhost(self, vhost: str) -> None:
        self.ctl(self.live_nodes()[0], "delete_vhost", vhost)

    def queues(self, vhost: str = "/", *columns: str) -> list[dict]:
        """``rabbitmqctl list_queues name <columns>`` of ``vhost``, a dict per queue. (Its message
        counts of quorum queues lag: count messages with a passive ``queue_declare``.)"""
        out = self.ctl(
            self.live_nodes()[0], "list_queues", "-p", vhost, "name", *columns, "--quiet", "--formatter", "json"
        )
        return json.loads(out or "[]")

    def leaders(self, vhost: str = "/") -> dict[str, str]:
        """Queue name -> the node name of its leader (a quorum queue) or home (a classic one)."""
        return {row["name"]: row["leader"] for row in self.queues(vhost, "leader")}

    def wait_for_replicas(self, vhost: str = "/", timeout: float = 60) -> None:
        """Until every quorum queue of ``vhost`` has all its members online again (a restarted
        node has caught up): only then may another node die without costing a queue its majority."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.queues(vhost, "type", "online")
            lagging = [r["name"] for r in rows if r["type"] == "quorum" and len(r["online"] or []) < len(self.nodes)]
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"quorum queues still missing members after {timeout}s: {lagging}")
            time.sleep(0.2)

    def clients(self, vhost: str = "/") -> dict[str, int]:
        """Node name -> how many client connections to ``vhost`` it holds (by the AMQP port)."""
        out = self.ctl(self.live_nodes()[0], "list_connections", "-p", vhost, "port", "--quiet", "--formatter", "json")
        by_port = {node.port: node.name for node in self.nodes}
        held = dict.fromkeys(by_port.values(), 0)
        for row in json.loads(out or "[]"):
            if row.get("port") in by_port:
                held[by_port[row["port"]]] += 1
        return held

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def leader_of(self, queue: str, vhost: str = "/") -> Node:
        return self.node(self.leaders(vhost)[queue])

    def log_tail(self, node: Node, lines: int = 30) -> str:
        logs = sorted((node.base / "log").glob("*.log"))
        text = "\n".join(path.read_text(errors="replace") for path in logs)
        return "\n".join(text.splitlines()[-lines:])

    # -- faults -----------------------------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL the node's Erlang VM: no goodbye to its peers or its clients."""
        pid = node.pid()
        if pid is None:
            raise RuntimeError(f"{node.name} is not running")
        os.kill(pid, signal.SIGKILL)
        self._launched.discard(node.number)
        deadline = time.monotonic() + 10
        while node.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, node: Node) -> None:
        """Start a killed node again and wait until it is back in the cluster (about 5 s)."""
        self._launch(node)
        self._wait(node)
        deadline = time.monotonic() + START_TIMEOUT_S
        while node.name not in self.running_nodes(via=node):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} did not rejoin: {self.log_tail(node)}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Every node killed and the cluster's folder removed; also after a start that failed or was
        interrupted half-way. (SIGKILL, not ``rabbitmqctl stop``: the data is thrown away, and a
        polite stop took 5 s a node.)"""
        killed = []
        for node in self.nodes:
            # A node launched a moment ago writes its pid file only once its VM runs.
            deadline = time.monotonic() + 15
            while node.number in self._launched and node.pid() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if (pid := node.pid()) is not None:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.kill(pid, signal.SIGKILL)
                    killed.append(node)
        deadline = time.monotonic() + 10  # all at once: a VM takes about a second to go
        while any(node.pid() is not None for node in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RabbitCluster:
        try:
            return self.start()
        except BaseException:  # a failed or interrupted start leaves no node running
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()
