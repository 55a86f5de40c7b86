"""``python -m workstation run``: one command, one process tree.

Children: gunicorn serving the app, N consumer processes and one scheduler (relay, reconciler,
scheduled jobs). A child that dies is started again; Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from workstation.config import Config
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.migrate import upgrade


def _children(host: str, port: int, web_workers: int, consumers: int) -> dict[str, list[str]]:
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(web_workers),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
            "workstation.web.wsgi:app",
        ],
        "scheduler": [python, "-m", "workers", "scheduler"],
    }
    # One process per consumer (routing, notify), so they use both cores; N copies of each.
    for consumer in SUBSCRIPTIONS:
        for i in range(consumers):
            commands[f"{consumer}-{i + 1}"] = [python, "-m", "workers", consumer]
    return commands


def run_all(config: Config, host: str, port: int, web_workers: int = 2, consumers: int = 1) -> int:
    upgrade(config.database_url)
    env = {**os.environ, "WORKSTATION_INSTANCE_PATH": str(config.instance_path)}
    commands = _children(host, port, web_workers, consumers)
    processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    mail = f"SMTP {config.smtp_url.split('@')[-1]}" if config.smtp_url else f"files in {config.mail_dir}"
    print(
        f"\nRPA workstation on http://{host}:{port}  (database {config.database_url.split('@')[-1]}, "
        f"broker {', '.join(url.split('@')[-1] for url in config.broker_urls)}, mail to {mail})\n"
        "Create a first user in another terminal, e.g.:\n"
        "  .venv/bin/python -m workstation create-user --role enterprise --email you@example.com \\\n"
        "      --password 'choose-a-password'\n"
        "  .venv/bin/python -m workstation create-user --role expert --email expert@example.com \\\n"
        "      --password 'choose-a-password' --right-types trademark,patent\n"
        "  .venv/bin/python -m workstation create-token --email you@example.com\n"
        "Stop with Ctrl-C.\n",
        flush=True,
    )
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts: dict[str, float] = {}
    while not stopping:
        time.sleep(0.5)
        for name, process in list(processes.items()):
            if process.poll() is not None and not stopping:
                # Back off a little if a child keeps dying, so the log stays readable.
                wait = 1.0 if time.monotonic() - restarts.get(name, 0) > 30 else 5.0
                print(
                    f"{name} exited with {process.returncode}; starting it again in {wait:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(wait)
                restarts[name] = time.monotonic()
                processes[name] = subprocess.Popen(commands[name], env=env)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return 0
