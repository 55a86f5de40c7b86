"""PostgreSQL clusters of a test's own, beside the machine's ``15 main`` on 5432 (which other tests
and other runs share, and which must never be stopped): a primary, and a synchronous streaming
standby made from it with ``pg_basebackup``, each in a folder of a temporary directory on a port of
its own, to crash (SIGKILL of the postmaster), stop, start and promote. Removed at the end.

Used by the database outage and failover tests, and meant for the benchmarks too
(``../shared/RECIPES.md``: "PostgreSQL primary + synchronous standby"). ``initdb`` and ``pg_ctl``
refuse to run as root: as root they run as the ``postgres`` user, and the data folders are its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def _server_programs() -> Path:
    """``WORKSTATION_TEST_PG_BIN``, else the newest of Debian's installed PostgreSQL versions."""
    if given := os.environ.get("WORKSTATION_TEST_PG_BIN"):
        return Path(given)

    def version(bin_dir: Path) -> list[int]:
        return [int(part) for part in bin_dir.parent.name.split(".") if part.isdigit()]

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version)
    return versions[-1] if versions else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _server_programs()
#: Settings of a throwaway cluster: small, and no fsync (a killed postmaster is not a crashed
#: machine: what the kernel was given survives it). Replication slots and senders for one standby.
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
max_connections = 60
shared_buffers = 32MB
fsync = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
wal_keep_size = 64MB
hot_standby = on
logging_collector = off
"""


def available() -> bool:
    """Whether clusters can be made here: PostgreSQL's server programs, and root or the postgres user."""
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*command: str | Path, timeout: float = 60) -> subprocess.CompletedProcess:
    argv = [str(part) for part in command]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=True, capture_output=True, timeout=timeout, text=True)


class Cluster:
    """One PostgreSQL cluster: its data folder (``root/name``), port and log."""

    def __init__(self, root: Path, name: str, port: int | None = None) -> None:
        self.root, self.name = root, name
        self.data = root / name
        self.port = port or free_port()
        self.log = root / f"{name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _write_settings(self) -> None:
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(_SETTINGS.format(port=self.port, sockets=self.data))

    def init(self) -> Cluster:
        _as_postgres(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8",
                     "--locale=C.UTF-8")  # fmt: skip
        self._write_settings()
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        return self

    def start(self, wait: float = 30) -> None:
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", str(int(wait)), "start")

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``: ``immediate`` is an abrupt stop (no checkpoint, recovery at start)."""
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would, and its backends with it (they would go on
        serving their sessions for a while otherwise), then wait until the port is free."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for process in (pid, *map(int, children)):
            with suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        # Until it is reaped (by init, which here takes a moment) a dead postmaster's pid still
        # answers kill(pid, 0), and a new postmaster refuses to start over its lock file.
        deadline = time.monotonic() + 15
        while (self.accepts() or Path(f"/proc/{pid}").exists()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def promote(self) -> None:
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-w", "promote")

    def accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = _as_postgres(PG_BIN / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                           "-Atc", sql)  # fmt: skip
        return out.stdout.strip()

    def standby(self, name: str = "standby1", port: int | None = None) -> Cluster:
        """A streaming standby of this (running) cluster, started: ``cluster_name`` ``name``, which
        ``synchronous_standby_names`` waits for (``port``: e.g. the dead primary's, so that a
        multi-host URL stays right). It is told to wait for no standby itself, or once promoted it
        would wait for one forever (every commit hanging in SyncRep)."""
        replica = Cluster(self.root, name, port)
        _as_postgres(PG_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                     "-D", replica.data, "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        replica._write_settings()
        with (replica.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"cluster_name = '{name}'\nsynchronous_standby_names = ''\n")
        replica.start()
        return replica

    def wait_for_standby(self, name: str) -> None:
        """Commits wait for the standby ``name`` from now on (``FIRST 1 (name)``)."""
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ({name})'")
        self.psql("SELECT pg_reload_conf()")

    def wait_for_sync_standby(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        query = f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
        while self.psql(query) != "sync":
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} is not a synchronous standby after {timeout}s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def discard(self) -> None:
        if self.postmaster_pid() is not None and self.accepts():
            try:
                self.stop("immediate")
            except subprocess.SubprocessError:
                self.kill()


@contextmanager
def cluster_root() -> Iterator[Path]:
    """A temporary folder the postgres user owns, removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="rpa-pgcluster-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def single(database: str = "workstation") -> Iterator[Cluster]:
    """A running cluster with an empty ``database``, stopped and removed at the end."""
    with cluster_root() as root:
        primary = Cluster(root, "primary").init()
        try:
            primary.start()
            primary.psql(f'CREATE DATABASE "{database}"')
            yield primary
        finally:
            primary.discard()


@contextmanager
def primary_and_standby(
    database: str = "workstation", standby_name: str = "standby1"
) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary with ``database`` and a synchronous streaming standby (``FIRST 1 (standby1)``: a
    commit returns once the standby has it), both running; stopped and removed at the end."""
    with cluster_root() as root:
        primary = Cluster(root, "primary").init()
        standby = None
        try:
            primary.start()
            primary.psql(f'CREATE DATABASE "{database}"')
            standby = primary.standby(standby_name)
            primary.wait_for_standby(standby_name)  # (only now: before it is there, commits would hang)
            primary.wait_for_sync_standby(standby_name)
            yield primary, standby
        finally:
            for cluster in (primary, standby):
                if cluster is not None:
                    cluster.discard()


def multi_host_url(clusters: list[Cluster], database: str = "workstation") -> str:
    """libpq's multi-host URL over ``clusters``: the first of them that takes writes."""
    hosts = ",".join(f"127.0.0.1:{c.port}" for c in clusters)
    return f"postgresql+psycopg://postgres@{hosts}/{database}?target_session_attrs=read-write&connect_timeout=2"
