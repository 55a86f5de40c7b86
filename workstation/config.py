"""One configuration for the app, the workers and the scheduler.

Everything comes from ``WORKSTATION_*`` environment variables (a ``.env`` file in the working
directory is read too). Unset variables fall back to the embedded default: SQLite, kombu's
filesystem transport and mail written as ``.eml`` files, all under the instance folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

PREFIX = "WORKSTATION_"
#: API tokens: how many days a new token lasts unless asked otherwise, and the most it may
#: (``WORKSTATION_TOKEN_DAYS``, ``WORKSTATION_TOKEN_MAX_DAYS``).
TOKEN_DAYS = 90
TOKEN_MAX_DAYS = 365
#: Working days a referral may wait for the partner's next step before whoever referred it is
#: reminded (``WORKSTATION_REFERRAL_WAIT_DAYS``; ``services.referrals``).
REFERRAL_WAIT_DAYS = 5


def _env(environ: dict[str, str], name: str, default: str | None = None) -> str | None:
    value = environ.get(PREFIX + name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Config:
    instance_path: Path
    database_url: str
    broker_url: str
    smtp_url: str | None
    mail_from: str
    secret_key: str
    base_url: str
    max_upload_bytes: int = 20 * 1024 * 1024
    max_request_bytes: int = 64 * 1024 * 1024
    # How often the relay looks for unpublished outbox rows (seconds), and the longest it waits
    # to gather a busy round (``workers.runtime.relay_wait``).
    relay_interval: float = 0.05
    relay_max_wait: float = 0.25
    # A published event that a consumer has not handled after this long is published again.
    reconcile_after: float = 30.0
    reconcile_interval: float = 5.0
    # Failed handling is retried with back-off (2 s doubling to 10 min) this many times, then
    # dead-lettered: 12 attempts span about an hour, longer than a typical SMTP or database outage.
    max_attempts: int = 12
    broker_polling_interval: float = 0.05
    # An email claimed this long ago and not marked sent belongs to a worker that died mid-send.
    stale_claim: float = 120.0
    quorum_queues: bool = False
    # Emails on their way at once, each on an SMTP connection of its own (the notify worker's).
    smtp_connections: int = 4
    token_days: int = TOKEN_DAYS
    token_max_days: int = TOKEN_MAX_DAYS
    # A web login ends after this long without a request, or this long after it began, whichever
    # comes first (``services.logins``).
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    # Login throttling: at most this many failed logins per account, and per client address,
    # within the window; beyond that, 429 without checking the password.
    login_window_minutes: int = 15
    login_failures_per_account: int = 5
    login_failures_per_address: int = 20
    # How long a password-reset link mailed by /password/forgot stays valid.
    password_reset_minutes: int = 60
    # How long a mailed invitation or email-confirmation link stays valid (``services.accounts``).
    account_link_days: int = 7
    # How long the API keeps a creating request's answer under its Idempotency-Key, for a client's
    # retry to get it again (``services.idempotency``).
    idempotency_key_hours: int = 24
    # Served over HTTPS (behind TLS): HSTS, and cookies marked Secure.
    https: bool = False
    # Mail in (``services.mailin``): the domain of the reply addresses (default: the sender's),
    # the largest mail taken, an IMAP mailbox to poll (else only the Maildir and the pipe), the
    # folder a message is moved to once received, and how often the Maildir and IMAP are polled.
    inbound_domain: str = ""
    #: the address that opens a case by mail (default ``intake@<reply domain>``)
    intake_address_setting: str = ""
    max_mail_bytes: int = 50 * 1024 * 1024
    imap_url: str | None = None
    imap_processed_folder: str = "Processed"
    maildir_interval: float = 0.25
    imap_interval: float = 10.0
    # Webhooks (``services.webhooks``): how long a receiver has to answer, after how many failed
    # deliveries in a row a hook is disabled, and whether hooks may point at private or loopback
    # addresses (off: a hook must not make the server call into its own network).
    webhook_timeout: float = 5.0
    webhook_max_failures: int = 10
    webhook_private_ok: bool = False
    # Referrals (``services.referrals``): after this many working days without the partner's next
    # step, the one who referred is reminded (once per wait) and the desk lists it first.
    referral_wait_days: int = REFERRAL_WAIT_DAYS
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mail_dir(self) -> Path:
        return self.instance_path / "mail"

    @property
    def mail_in_dir(self) -> Path:
        """The Maildir the scheduler polls (drop a message in its ``new/``)."""
        return self.instance_path / "mail-in"

    @property
    def received_dir(self) -> Path:
        """Every mail received, kept as it came, by its SHA-256."""
        return self.instance_path / "received"

    @property
    def reply_domain(self) -> str:
        """The domain of the reply addresses: ``WORKSTATION_INBOUND_DOMAIN``, else the sender's."""
        return (self.inbound_domain or self.mail_from.rsplit("@", 1)[-1].rstrip(">").strip()).lower()

    @property
    def intake_address(self) -> str:
        """Mail to this address from an approved enterprise opens a case (``services.mailin``)."""
        return (self.intake_address_setting or f"intake@{self.reply_domain}").lower()

    @property
    def evidence_dir(self) -> Path:
        return self.instance_path / "evidence"

    @property
    def broker_dir(self) -> Path:
        return self.instance_path / "broker"

    @property
    def broker_urls(self) -> list[str]:
        """The broker's URLs: one, or one for each node of a cluster (``;``-separated, as kombu takes them)."""
        return [url.strip() for url in self.broker_url.split(";") if url.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        if environ is None:
            load_dotenv(Path.cwd() / ".env")
            environ = dict(os.environ)
        instance = Path(_env(environ, "INSTANCE_PATH") or Path.cwd() / "instance").resolve()
        _private_folder(instance)
        database_url = _env(environ, "DATABASE_URL") or f"sqlite:///{instance / 'workstation.db'}"
        token_days = int(_env(environ, "TOKEN_DAYS", str(TOKEN_DAYS)))
        token_max_days = int(_env(environ, "TOKEN_MAX_DAYS", str(TOKEN_MAX_DAYS)))
        if not 1 <= token_days <= token_max_days:
            raise ValueError(f"{PREFIX}TOKEN_DAYS must be from 1 to {PREFIX}TOKEN_MAX_DAYS ({token_max_days})")
        return cls(
            instance_path=instance,
            database_url=database_url,
            broker_url=_env(environ, "BROKER_URL", "filesystem://"),
            smtp_url=_env(environ, "SMTP_URL"),
            smtp_connections=int(_env(environ, "SMTP_CONNECTIONS", "4")),
            mail_from=_env(environ, "MAIL_FROM", "RPA Workstation <noreply@rpa.localhost>"),
            secret_key=_env(environ, "SECRET_KEY") or _instance_secret(instance),
            base_url=_env(environ, "BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            max_upload_bytes=int(_env(environ, "MAX_UPLOAD_BYTES", str(20 * 1024 * 1024))),
            relay_interval=float(_env(environ, "RELAY_INTERVAL", "0.05")),
            relay_max_wait=float(_env(environ, "RELAY_MAX_WAIT", "0.25")),
            reconcile_after=float(_env(environ, "RECONCILE_AFTER", "30")),
            reconcile_interval=float(_env(environ, "RECONCILE_INTERVAL", "5")),
            max_attempts=int(_env(environ, "MAX_ATTEMPTS", "12")),
            broker_polling_interval=float(_env(environ, "BROKER_POLLING_INTERVAL", "0.05")),
            stale_claim=float(_env(environ, "STALE_CLAIM", "120")),
            quorum_queues=_flag(_env(environ, "QUORUM_QUEUES", "0")),
            session_idle_minutes=int(_env(environ, "SESSION_IDLE_MINUTES", "120")),
            session_max_hours=int(_env(environ, "SESSION_MAX_HOURS", "12")),
            login_window_minutes=int(_env(environ, "LOGIN_WINDOW_MINUTES", "15")),
            login_failures_per_account=int(_env(environ, "LOGIN_FAILURES_PER_ACCOUNT", "5")),
            login_failures_per_address=int(_env(environ, "LOGIN_FAILURES_PER_ADDRESS", "20")),
            password_reset_minutes=int(_env(environ, "PASSWORD_RESET_MINUTES", "60")),
            account_link_days=int(_env(environ, "ACCOUNT_LINK_DAYS", "7")),
            idempotency_key_hours=int(_env(environ, "IDEMPOTENCY_KEY_HOURS", "24")),
            https=_flag(_env(environ, "HTTPS", "0")),
            inbound_domain=_env(environ, "INBOUND_DOMAIN", ""),
            intake_address_setting=_env(environ, "INTAKE_ADDRESS", ""),
            max_mail_bytes=int(_env(environ, "MAX_MAIL_BYTES", str(50 * 1024 * 1024))),
            imap_url=_env(environ, "IMAP_URL"),
            imap_processed_folder=_env(environ, "IMAP_PROCESSED_FOLDER", "Processed"),
            maildir_interval=float(_env(environ, "MAILDIR_INTERVAL", "0.25")),
            imap_interval=float(_env(environ, "IMAP_INTERVAL", "10")),
            webhook_timeout=float(_env(environ, "WEBHOOK_TIMEOUT", "5")),
            webhook_max_failures=int(_env(environ, "WEBHOOK_MAX_FAILURES", "10")),
            webhook_private_ok=_flag(_env(environ, "WEBHOOK_PRIVATE_OK", "0")),
            referral_wait_days=int(_env(environ, "REFERRAL_WAIT_DAYS", str(REFERRAL_WAIT_DAYS))),
            token_days=token_days,
            token_max_days=token_max_days,
        )


def _private_folder(folder: Path) -> None:
    """The instance folder holds the SQLite database, the evidence files, the mail and the secret
    key: only its owner may enter it (0700), whoever made it and whatever the umask."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077 and folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "yes")


def _instance_secret(instance: Path) -> str:
    """The embedded default's secret key: made once, kept in the instance folder (mode 0600).

    Production sets ``WORKSTATION_SECRET_KEY``; this only saves a single-machine user a step.
    """
    path = instance / "secret_key"
    if not path.exists():
        # Written whole under a name of this process's own, then linked into place: processes
        # starting together on a fresh instance must neither fail on each other's file nor read
        # it empty. The first link wins; the others read the winner's key.
        tmp = instance / f".secret_key.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
