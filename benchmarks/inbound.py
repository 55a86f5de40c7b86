"""Replies by email, end to end: mails dropped into the Maildir until they are messages in the API.

    .venv/bin/python benchmarks/inbound.py                 # embedded (SQLite + filesystem broker)
    .venv/bin/python benchmarks/inbound.py --only pg       # PostgreSQL + RabbitMQ (throwaway database and vhost)
    .venv/bin/python benchmarks/inbound.py --mails 200     # fewer
    .venv/bin/python benchmarks/inbound.py --only pg --via imap  # into a real Dovecot (root, dovecot-imapd)

One enterprise, one case. The consumers (``python -m workers mailin``, ``notify``, ``routing
watch``: one process each, as ``python -m workstation run`` has them) and the scheduler
(``python -m workers scheduler``: the Maildir poll, the relay) run as in production. Two phases, ``--mails``
replies each, every reply a distinct Message-ID from the enterprise to its reply address, written
in ``tmp/`` and renamed into ``new/`` as an MTA delivers (with ``--via imap``: into the INBOX of a
Dovecot of the benchmark's own, ``tests/dovecot.py``, which the scheduler's leader watches in IDLE):

- **burst**: all at once; mails/s = replies / (last visible - first dropped);
- **steady**: at ``--rate`` a second (default 50, the issue's goal); latency from each drop to
  the message being listed by ``GET /api/v1/cases/<reference>/messages`` (the app in this process,
  polled every 20 ms), p50 / p99.

Lost: replies never listed (within ``--timeout`` s); duplicated: listed more than once. Last line:
``inbound: mails_per_s=<n> p99_ms=<n> lost=<n> duplicated=<n>``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from email.mime.text import MIMEText
from pathlib import Path

from common import cpu_by_pid, log, percentile, throwaway_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workstation.config import Config  # noqa: E402
from workstation.mailrules import reply_address  # noqa: E402
from workstation.services.auth import create_token, create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.web import create_app  # noqa: E402


def reply(to: str, sender: str, n: int, phase: str) -> bytes:
    body = f"第 {n} 封回复（{phase}）。\n\n在 2026年12月7日周一 10:00，RPA 工作站 写道：\n> 请补充材料。\n"
    message = MIMEText(body, "plain", "utf-8")
    message["From"], message["To"], message["Subject"] = sender, to, f"Re: case {n}"
    message["Message-ID"] = f"<bench-{phase}-{n}-{os.getpid()}@example.cn>"
    return message.as_bytes()


def marker(body: str) -> str | None:
    """``burst-17`` from a message's body."""
    if not body.startswith("第 "):
        return None
    number, _, rest = body[2:].partition(" ")
    phase = rest.partition("（")[2].partition("）")[0]
    return f"{phase}-{number}"


class Watcher:
    """Lists the case's thread through the API, remembering when each reply first appeared."""

    def __init__(self, client, path: str, headers: dict[str, str]) -> None:  # noqa: ANN001
        self.client, self.path, self.headers = client, path, headers
        self.since = 0
        self.seen: dict[str, float] = {}
        self.counts: Counter[str] = Counter()

    def poll(self) -> None:
        while True:
            answer = self.client.get(f"{self.path}?since={self.since}&limit=200", headers=self.headers).get_json()
            now = time.monotonic()
            for message in answer["messages"]:
                self.since = max(self.since, message["id"])
                key = marker(message["body"])
                if key:
                    self.counts[key] += 1
                    self.seen.setdefault(key, now)
            if answer["next"] is None:
                return


def drop(maildir: Path, n: int, raw: bytes) -> None:
    tmp = maildir / "tmp" / f"{time.time():.6f}.{n}.bench"
    tmp.write_bytes(raw)
    os.replace(tmp, maildir / "new" / tmp.name)


def wait_all(watcher: Watcher, keys: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(k in watcher.seen for k in keys):
        watcher.poll()
        time.sleep(0.02)


def run(env: dict[str, str], mails: int, rate: float, timeout: float, deliver=None) -> dict[str, float]:  # noqa: ANN001
    """``deliver(n, raw)``: how a mail arrives (default: into the instance's Maildir)."""
    config = Config.from_env(env)
    upgrade(config.database_url)
    sessions = make_session_factory(make_engine(config.database_url))
    with sessions.begin() as s:
        enterprise = create_user(s, "bench-enterprise@example.cn", "password123", "enterprise", "企业")
        token = create_token(s, enterprise)
    app = create_app(config)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    case = {"right_type": "trademark", "service": "consultation", "title": "邮件回复", "description": "基准测试"}
    made = client.post("/api/v1/cases", headers=headers, json=case)
    reference = made.get_json()["reference"]
    to = reply_address(config.secret_key, config.reply_domain, reference, enterprise.id)
    maildir = config.mail_in_dir
    for sub in ("new", "tmp", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    deliver = deliver or (lambda n, raw: drop(maildir, n, raw))
    proc_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    log_file = (config.instance_path / "system.log").open("wb")
    processes = [
        subprocess.Popen([sys.executable, "-m", "workers", *args], cwd=ROOT, env=proc_env, stdout=log_file,
                         stderr=subprocess.STDOUT, start_new_session=True)
        for args in (["mailin"], ["notify"], ["routing", "watch"], ["scheduler"])
    ]  # fmt: skip
    watcher = Watcher(client, f"/api/v1/cases/{reference}/messages", headers)
    try:
        time.sleep(3)  # the workers declare their queues, the scheduler takes the lead
        # burst
        burst = [(f"burst-{n}", reply(to, enterprise.email, n, "burst")) for n in range(mails)]
        started = time.monotonic()
        for n, (_key, raw) in enumerate(burst):
            deliver(n, raw)
        wait_all(watcher, [k for k, _ in burst], timeout)
        seen_burst = [watcher.seen[k] for k, _ in burst if k in watcher.seen]
        burst_rate = len(seen_burst) / (max(seen_burst) - started) if seen_burst else 0.0
        log(f"burst: {len(seen_burst)}/{mails} in {max(seen_burst, default=started) - started:.1f}s")
        # steady
        dropped: dict[str, float] = {}
        steady = [(f"steady-{n}", reply(to, enterprise.email, n, "steady")) for n in range(mails)]
        began = time.monotonic()
        for n, (key, raw) in enumerate(steady):
            due = began + n / rate
            while (now := time.monotonic()) < due:
                watcher.poll()
                time.sleep(min(0.02, max(due - time.monotonic(), 0)))
            deliver(mails + n, raw)
            dropped[key] = now
        wait_all(watcher, list(dropped), timeout)
        latencies = [(watcher.seen[k] - t) * 1000 for k, t in dropped.items() if k in watcher.seen]
        keys = [k for k, _ in burst] + list(dropped)
        cpu = cpu_by_pid([p.pid for p in processes])
        names = ["mailin", "notify", "routing+watch", "scheduler"]
        log("CPU seconds: " + ", ".join(f"{n} {cpu.get(p.pid, 0):.1f}" for n, p in zip(names, processes, strict=True)))
        return {
            "mails_per_s": burst_rate,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "lost": sum(1 for k in keys if k not in watcher.seen),
            "duplicated": sum(c - 1 for c in watcher.counts.values() if c > 1),
        }
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log_file.close()
        app.extensions["workstation"]["engine"].dispose()


def measure(env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    if args.via == "maildir":
        return run(env, args.mails, args.rate, args.timeout)
    from tests.dovecot import dovecot_missing, running_dovecot

    if why := dovecot_missing():
        raise SystemExit(f"--via imap: {why}")
    with running_dovecot() as server:
        env["WORKSTATION_IMAP_URL"] = server.url
        return run(env, args.mails, args.rate, args.timeout, lambda _n, raw: server.deliver(raw))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--via", choices=["maildir", "imap"], default="maildir",
                        help="imap: delivered to a real Dovecot the scheduler watches in IDLE")  # fmt: skip
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="rpa-inbound-"))
    env = {"WORKSTATION_INSTANCE_PATH": str(instance), "WORKSTATION_SECRET_KEY": "bench-secret"}
    try:
        if args.only == "pg":
            vhost = f"rpa_inbound_{os.getpid()}"
            subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
            subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                           capture_output=True)  # fmt: skip
            try:
                with throwaway_database(args.pg_url, prefix="rpa_inbound", keep=args.keep) as database:
                    env["WORKSTATION_DATABASE_URL"] = database.url
                    env["WORKSTATION_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
                    figures = measure(env, args)
            finally:
                subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)
        else:
            figures = measure(env, args)
    finally:
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)
    log(f"via {args.via}; steady at {args.rate:g}/s: p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms")
    print(
        f"inbound: mails_per_s={figures['mails_per_s']:.1f} p99_ms={figures['p99_ms']:.0f} "
        f"lost={figures['lost']} duplicated={figures['duplicated']}"
    )


if __name__ == "__main__":
    main()
