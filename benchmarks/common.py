"""What the benchmark scripts share: logging, percentiles, free ports, throwaway databases, and
what /proc says about processes and the machine (no psutil needed).

Each script runs as ``python benchmarks/<name>.py``, so this folder is on ``sys.path`` and
``import common`` finds this module.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(url: str) -> str:
    # psycopg takes libpq URLs: no "+psycopg" dialect suffix
    return url.replace("+psycopg", "")


def recreate_database(server_url: str, database: str) -> None:
    """Drop ``database`` (closing its connections) and create it empty; ``server_url`` names any
    database of the server, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``."""
    import psycopg

    with psycopg.connect(_server(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop_database(server_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(_server(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def unique_database_name(prefix: str) -> str:
    """``prefix`` with this process's id and a random suffix: two runs at once never share a database."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Database:
    """A throwaway database: its name, and its URL in the scheme of the URL it was made from."""

    name: str
    url: str


@contextlib.contextmanager
def throwaway_database(
    server_url: str, name: str | None = None, *, prefix: str = "rpa_bench", keep: bool = False
) -> Iterator[Database]:
    """A fresh, empty PostgreSQL database for one benchmark run, dropped when the block ends, also
    when it fails or is interrupted (unless ``keep``).

    ``server_url`` is the URL of any database of the server (e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, trust auth); the maintenance
    database ``postgres`` is used to create and drop. ``name`` is the database's name (a left-over
    of that name is dropped first); without it, a unique name starting with ``prefix``. The
    yielded :class:`Database` has the name and the URL to connect to it, in ``server_url``'s scheme.
    """
    base = server_url.rsplit("/", 1)[0]
    admin_url = base + "/postgres"
    name = name or unique_database_name(prefix)
    recreate_database(admin_url, name)
    try:
        yield Database(name, f"{base}/{name}")
    finally:
        if not keep:
            try:
                drop_database(admin_url, name)
            except Exception as err:  # noqa: BLE001 - never hide the block's own error
                log(f"could not drop the database {name}: {err!r}")


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process (seconds, from /proc); processes gone are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return out


def pids_named(*names: str) -> list[int]:
    """Every process whose command name (``/proc/<pid>/comm``) is one of ``names``: the database
    server's and the broker's, to tell their CPU apart from ours."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in names:
                        found.append(int(entry))
            except OSError:
                pass
    return found


#: Command names of the servers the PostgreSQL + RabbitMQ deployment runs on.
SERVERS = {"PostgreSQL": ("postgres",), "RabbitMQ": ("beam.smp", "erl_child_setup", "epmd", "inet_gethost")}


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (forked by its main thread, as gunicorn's workers and our
    supervisor's processes are), from /proc: one small read, cheap enough to sample often."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def rss_kb(pid: int) -> int | None:
    """Resident memory of ``pid`` in KB; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / ticks, sum(values) / ticks


def machine_busy_share(seconds: float = 1.0) -> float:
    """Share of the machine's CPU busy over the next ``seconds`` (other work skews every figure)."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)
