"""Login throttling and login timing, measured over HTTP against gunicorn with 2 workers (the
embedded deployment: SQLite in a fresh temporary instance folder, the real argon2 cost).

    .venv/bin/python benchmarks/logins.py [--seconds 60] [--tries 7] [--root CHECKOUT]

Prints, for one client address guessing for ``--seconds``:
- the passwords checked (401) and refused unchecked (429) guessing at one account, and spread over
  new emails (the address limit); both workers share the count through the database;
- the median time of a wrong password for a known email and for an unknown one.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import free_port, log

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-password"


@contextmanager
def deployment(root: Path) -> Iterator[str]:
    """A fresh embedded deployment of the code in ``root``, with one enterprise (known@example.cn),
    under gunicorn -w 2."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "WORKSTATION_INSTANCE_PATH": folder, "WORKSTATION_SECRET_KEY": "bench"}
        python = [sys.executable, "-m", "workstation"]
        subprocess.run([*python, "init-db"], env=env, cwd=root, check=True, capture_output=True)
        subprocess.run([*python, "create-user", "--role", "enterprise", "--email", "known@example.cn",
                        "--password", PASSWORD], env=env, cwd=root, check=True, capture_output=True)  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "workstation.web.wsgi:app"],
            env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            yield base
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)


def attempt(base: str, email: str, password: str) -> tuple[int, float]:
    """One login as a browser makes it (the form, then the POST): the status and the POST's seconds."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    started = time.perf_counter()
    try:
        status = opener.open(urllib.request.Request(base + "/login", data=body)).status
    except urllib.error.HTTPError as err:
        status = err.code
    return status, time.perf_counter() - started


def guesses(base: str, seconds: float, spread: bool) -> Counter:
    """Wrong passwords as fast as one client sends them: at one account, or each at a new email."""
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        email = f"guess{n}@example.cn" if spread else "known@example.cn"
        statuses[attempt(base, email, f"wrong-{n}")[0]] += 1
        n += 1
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--tries", type=int, default=7, help="timed tries per email (odd: a median)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to run (another, to compare)")
    args = parser.parse_args()
    with deployment(args.root) as base:
        one = guesses(base, args.seconds, spread=False)
        log(f"one account: {dict(one)}")
    with deployment(args.root) as base:
        spread = guesses(base, args.seconds, spread=True)
        log(f"new email each time: {dict(spread)}")
    with deployment(args.root) as base:
        # Alternating, one timed try at each in turn; the known account stays under its limit
        # (a right password now and then forgives its failures), the address under its own.
        known, unknown = [], []
        for n in range(args.tries):
            known.append(attempt(base, "known@example.cn", "wrong")[1])
            unknown.append(attempt(base, f"nobody{n}@example.cn", "wrong")[1])
            if n % 4 == 3:
                attempt(base, "known@example.cn", PASSWORD)
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    print(
        f"logins: seconds={args.seconds:g} account_checked={one[401]} account_refused_429={one[429]}"
        f" address_checked={spread[401]} address_refused_429={spread[429]}"
        f" known_ms={known_ms:.1f} unknown_ms={unknown_ms:.1f} ratio={known_ms / unknown_ms:.2f}"
    )


if __name__ == "__main__":
    main()
