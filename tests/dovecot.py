"""A real Dovecot IMAP server (Debian's ``dovecot-imapd``; ``make setup-dev`` installs it) on a
loopback port, for the IMAP tests and ``benchmarks/inbound.py --via imap``: one user
``rpa``/``secret`` whose INBOX a test fills by delivering into its Maildir as an MTA would.
The recipe and its pitfalls: the shared RECIPES.md ("Dovecot (IMAP) for the mail-in tests")."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = Path("/usr/sbin/dovecot")
DOVECOT_CONF = """protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def dovecot_missing() -> str | None:
    """Why Dovecot cannot run here, or None."""
    if not DOVECOT.exists():
        return "dovecot-imapd is not installed"
    if os.geteuid() != 0:
        return "Dovecot's test runs as root"
    return None


@dataclass
class Dovecot:
    url: str
    maildir: Path
    uid: int
    gid: int

    def __post_init__(self) -> None:
        self._count = itertools.count()

    def deliver(self, raw: bytes) -> None:
        """Put ``raw`` in the INBOX as an MTA does: written in ``tmp/``, owned by the mail user
        (a root-owned 0600 file cannot be fetched), renamed into ``new/``."""
        name = f"{time.time():.6f}.{next(self._count)}.test"
        (self.maildir / "tmp" / name).write_bytes(raw)
        os.chown(self.maildir / "tmp" / name, self.uid, self.gid)
        os.replace(self.maildir / "tmp" / name, self.maildir / "new" / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """Start Dovecot in a folder of its own, wait for its greeting, stop it and remove the folder."""
    # (in /tmp itself: the auth process reads the users file as another user, through every parent)
    base = Path(tempfile.mkdtemp(prefix="rpa-dovecot-"))
    base.chmod(0o755)
    account = pwd.getpwnam("dovecot")
    uid, gid, port = account.pw_uid, account.pw_gid, _free_port()
    (base / "users").write_text("rpa:{PLAIN}secret::::::\n")
    maildir = base / "mail" / "rpa" / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for path in [base / "mail", *(base / "mail").rglob("*")]:
        os.chown(path, uid, gid)
    conf = base / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(base=base, uid=uid, gid=gid, port=port))
    with (base / "stderr").open("wb") as errors:
        master = subprocess.Popen([str(DOVECOT), "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=errors,
                                  start_new_session=True)  # fmt: skip
    try:
        _wait_for_greeting(master, port, base)
        yield Dovecot(f"imap://rpa:secret@127.0.0.1:{port}/INBOX", maildir, uid, gid)
    finally:
        try:
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(5)
            os.killpg(master.pid, signal.SIGKILL)  # what is left of its group (half-open logins)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_greeting(master: subprocess.Popen, port: int, base: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if master.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dovecot did not start: {(base / 'stderr').read_text()}")
        time.sleep(0.02)
