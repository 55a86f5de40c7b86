"""Web logins kept on the server (``LoginSession``), and login throttling (``LoginFailure``).

A login's cookie holds a random secret; the database keeps only its SHA-256, so a logout, a
password change or an expiry ends the login for every copy of the cookie. Failed logins are
counted per account and per client address in the database: it is the one store every
deployment's processes share (gunicorn's workers, several API machines). Flask-Limiter's storages
are memory (per process, so N workers would allow N times the limit), Redis or memcached, and the
embedded default has neither.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from workstation.config import Config
from workstation.services.auth import normalise_email
from workstation.services.models import LoginFailure, LoginSession, User, utcnow

#: ``last_seen_at`` is written at most this often: a page view is a read, not a write per request.
TOUCH_INTERVAL = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_login_session(session: Session, user: User) -> str:
    """A new login for ``user``: the secret for the cookie (only its SHA-256 is stored)."""
    secret = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, secret_hash=_digest(secret)))
    return secret


def live_login(session: Session, config: Config, secret: str, user_id: int) -> User | None:
    """The user of the login ``secret`` while it is live: not ended, not idle longer than
    ``session_idle_minutes``, not older than ``session_max_hours``, its user active. Notes the use
    (``last_seen_at``, at most once a ``TOUCH_INTERVAL``, committed at once)."""
    row = session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.secret_hash == _digest(secret))
    ).first()
    if row is None:
        return None
    login, user = row
    now = utcnow()
    if (
        login.user_id != user_id
        or login.ended_at is not None
        or now - login.last_seen_at > timedelta(minutes=config.session_idle_minutes)
        or now - login.created_at > timedelta(hours=config.session_max_hours)
        or not user.is_active
    ):
        return None
    if now - login.last_seen_at >= TOUCH_INTERVAL:
        login.last_seen_at = now
        session.commit()
    return user


def end_login_session(session: Session, secret: str) -> None:
    """End one login (a logout)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.secret_hash == _digest(secret), LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_user_sessions(session: Session, user_id: int, keep_secret: str | None = None) -> int:
    """End every live login of a user, but the one of ``keep_secret`` if given; how many ended."""
    statement = update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
    if keep_secret is not None:
        statement = statement.where(LoginSession.secret_hash != _digest(keep_secret))
    return session.execute(statement.values(ended_at=utcnow())).rowcount


@dataclass(frozen=True)
class Attempt:
    """A password check under way, counted as a failure until it succeeds (``attempt_succeeded``).

    ``retry_after`` (seconds) is set when the attempt is over a limit: then its rows are gone
    already and the password must not be checked."""

    account_key: str
    address_failure_id: int | None
    retry_after: int | None = None


def begin_attempt(session: Session, config: Config, email: str, address: str) -> Attempt:
    """Count a password check against the account ``email`` and the client ``address`` (committed).

    The attempt is written before it is counted (``count_against``), so that concurrent guesses
    (several workers, one attacker) see each other: at most the limit of them get their password
    checked."""
    account_key = f"account:{normalise_email(email)}"[:300]
    limits = {
        account_key: config.login_failures_per_account,
        f"address:{address}"[:300]: config.login_failures_per_address,
    }
    rows, retry_after = count_against(session, limits, timedelta(minutes=config.login_window_minutes))
    return Attempt(account_key, None if retry_after else rows[1], retry_after=retry_after)


#: Mails a stranger can make us send (a password reset, a sign-up, a new confirmation link): at most
#: this many per address asked for and per client in the login window.
MAILS_PER_RECIPIENT = 3
MAILS_PER_CLIENT = 10


def may_send_mail(session: Session, config: Config, email: str, address: str) -> int | None:
    """Count a request that mails ``email``: None if it may be sent, else the seconds to wait (a
    flood of reset or sign-up requests must not fill someone's inbox). Its own keys: it never
    locks anyone out of logging in."""
    limits = {
        f"mail:{normalise_email(email)}"[:300]: MAILS_PER_RECIPIENT,
        f"mail-from:{address}"[:300]: MAILS_PER_CLIENT,
    }
    _, retry_after = count_against(session, limits, timedelta(minutes=config.login_window_minutes))
    return retry_after


def count_against(session: Session, limits: dict[str, int], window: timedelta) -> tuple[list[int], int | None]:
    """Record one event under each key of ``limits`` and count the window's events (committed).
    Returns the rows' ids, and None, or, when a key is over its limit, the seconds until its oldest
    event leaves the window (the event is then taken back, so waiting is enough)."""
    now = utcnow()
    # Events older than the window count for nothing any more: dropped as the keys are used.
    session.execute(delete(LoginFailure).where(LoginFailure.key.in_(limits), LoginFailure.at <= now - window))
    mine = [LoginFailure(key=key, at=now) for key in limits]
    session.add_all(mine)
    session.commit()
    counts = session.execute(
        select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
        .where(LoginFailure.key.in_(limits), LoginFailure.at > now - window)
        .group_by(LoginFailure.key)
    ).all()
    over = [oldest for key, count, oldest in counts if count > limits[key]]
    ids = [row.id for row in mine]
    if not over:
        return ids, None
    session.execute(delete(LoginFailure).where(LoginFailure.id.in_(ids)))
    session.commit()
    wait = max(oldest + window - utcnow() for oldest in over)
    return ids, max(1, math.ceil(wait.total_seconds()))


def attempt_succeeded(session: Session, attempt: Attempt) -> None:
    """The password was right: the account's failures are forgiven; the address's earlier ones are
    not (one account of an attacker's own must not reset the count of guesses at others)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == attempt.account_key))
    if attempt.address_failure_id is not None:
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.address_failure_id))
