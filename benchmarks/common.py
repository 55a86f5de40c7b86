"""What the benchmark scripts share: logging, percentiles, free ports and throwaway databases.

Each script runs as ``python benchmarks/<name>.py``, so this folder is on ``sys.path`` and
``import common`` finds this module.
"""

from __future__ import annotations

import math
import socket
import time


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
