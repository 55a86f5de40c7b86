"""Worker and scheduler processes forked from a server that has imported their code once.

A ``python -m workers`` process spends one to two seconds of CPU importing (SQLAlchemy, the
models, kombu, Jinja, numpy...) before it does anything, and the suite starts dozens in each pass,
on two cores: in the embedded pass, almost all the CPU of the tests that run workers. The fork server (``python -m
tests.forkserver``, one per test process, started on first use: ``shared``) imports that code once. Each
process it forks takes the test's environment, working folder and log file, then runs
``workers.__main__.main`` as ``python -m workers ARGS`` does, and leaves the interpreter the same
way when it returns. It is a process of its own: its pid takes SIGTERM and SIGKILL, and its exit
code comes back as a Popen's would (``Forked``).

The protocol, one JSON object a line: the test process writes ``{"argv", "env", "cwd", "log"}``;
the server answers ``{"pid"}``, and ``{"exited", "code"}`` whenever one of its children ends.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


def serve() -> list[str] | None:
    """The server's loop: returns None when the test session closes its end, and in each forked
    child, the arguments it is to run."""
    import workers.__main__  # noqa: F401 - imported here once, for every child
    import workers.runtime  # noqa: F401

    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # (a handler, so that the wakeup fd is written)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wakeup_r, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fd == wakeup_r:
                os.read(wakeup_r, 4096)
                _report_exits()
                continue
            chunk = os.read(0, 65536)
            if not chunk:  # the test session has ended
                return None
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)  # (before its fds are closed: a signal would write to one)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for fd in (wakeup_r, wakeup_w):
                        os.close(fd)
                    return _become_child(request)
                _send({"pid": pid})


def _become_child(request: dict[str, Any]) -> list[str]:
    """In the child: what ``python -m workers ARGS`` would have been given, then its arguments."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [sys.modules["workers.__main__"].__file__, *request["argv"]]  # (as ``python -m`` sets it)
    return request["argv"]


def _report_exits() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class ForkServer:
    """The test session's side: starts the server, asks it for processes, keeps their exit codes."""

    def __init__(self, root: Path) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-u", "-m", "tests.forkserver"], cwd=root, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.lock = threading.Lock()  # one request at a time: the answers come back in order
        self.changed = threading.Condition()
        self.pids: list[int] = []
        self.codes: dict[int, int] = {}
        self.reader = threading.Thread(target=self._read, daemon=True, name="fork-server")
        self.reader.start()

    def _read(self) -> None:
        assert self.server.stdout is not None
        for line in self.server.stdout:
            message = json.loads(line)
            with self.changed:
                if "pid" in message:
                    self.pids.append(message["pid"])
                else:
                    self.codes[message["exited"]] = message["code"]
                self.changed.notify_all()
        with self.changed:  # the server is gone: nothing more will come
            self.server.wait()
            self.changed.notify_all()

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Forked:
        assert self.server.stdin is not None
        request = {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
        with self.lock:
            with self.changed:
                self.pids.clear()
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            with self.changed:
                if not self.changed.wait_for(lambda: self.pids or self.server.returncode is not None, 30):
                    raise RuntimeError("the fork server did not answer within 30 s")
                if not self.pids:
                    raise RuntimeError(f"the fork server has stopped ({self.server.returncode})")
                return Forked(self, self.pids.pop(), ["python", "-m", "workers", *argv])

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        with self.changed:
            self.changed.wait_for(lambda: pid in self.codes or self.server.returncode is not None, timeout)
            return self.codes.get(pid)

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(10)


_shared: list[ForkServer] = []


def shared(root: Path) -> ForkServer:
    """This test process's fork server, started on first use and closed when the process exits."""
    if not _shared:
        _shared.append(ForkServer(root))
        atexit.register(_shared[0].close)
    return _shared[0]


class Forked:
    """A forked worker, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server, self.pid, self.args = server, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # (not a pid that has ended, which another process may have now)
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    arguments = serve()
    if arguments is not None:  # a forked child: be ``python -m workers ARGS``
        from workers.__main__ import main

        main(arguments)
