"""Changing a password (knowing the current one) and resetting it by email; both are audited.

A reset link carries a token signed with the secret key (itsdangerous) over the user's id and a
fingerprint of the current password hash, with the time it was made. Nothing is stored: the token
stops working after ``password_reset_minutes``, and once it has been used, since the password hash
it names is gone (every new hash has a new salt), which also ends any other link mailed before.
(A table of hashed reset tokens would do the same with a migration, rows to expire, and a token
that outlives a password change made in between unless that also deletes the rows.)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from workstation.config import Config
from workstation.i18n import Message
from workstation.services.audit import audit
from workstation.services.auth import NO_PASSWORD, UserError, check_new_password, check_password, hash_password
from workstation.services.logins import end_user_sessions
from workstation.services.mail import address, make_sender, render_email
from workstation.services.models import User

log = logging.getLogger(__name__)
_RESET_SALT = "password-reset"


def change_password(session: Session, user: User, current: str, new: str, keep_secret: str | None) -> None:
    """Set ``user``'s password to ``new`` if ``current`` is right; every other login of theirs ends
    (the one of ``keep_secret`` goes on). Raises ``UserError`` naming the field at fault."""
    if not check_password(user, current):
        raise UserError(Message("The current password is wrong."), "current_password")
    _check_new(new)
    _set_password(session, user, new, "password_changed", keep_secret)


def reset_password(session: Session, user: User, new: str) -> None:
    """Set ``user``'s password from a reset link: every login of theirs ends."""
    _check_new(new)
    _set_password(session, user, new, "password_reset", None)


def _check_new(password: str) -> None:
    """``auth.check_new_password``, naming the field these forms give it in (``new_password``)."""
    try:
        check_new_password(password)
    except UserError as err:
        raise UserError(err.args[0], "new_password") from None


def _set_password(session: Session, user: User, new: str, action: str, keep_secret: str | None) -> None:
    user.password_hash = hash_password(new)
    ended = end_user_sessions(session, user.id, keep_secret)
    audit(session, user, action, user, sessions_ended=ended)


def _fingerprint(password_hash: str) -> str:
    """Names the password hash in a token without showing it (the token is signed, not secret)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _serializer(config: Config) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=_RESET_SALT)


def may_reset(user: User | None) -> bool:
    """Whether a reset link is mailed for this account: an active one that has a password (an
    imported expert waits for a coordinator to set the first one)."""
    return user is not None and user.is_active and user.password_hash != NO_PASSWORD


def reset_token(config: Config, user: User) -> str:
    return _serializer(config).dumps({"user": user.id, "password": _fingerprint(user.password_hash)})


def user_for_reset_token(session: Session, config: Config, token: str) -> User | None:
    """The user a reset token was made for, while it is unexpired, unused and the user may reset."""
    try:
        claims = _serializer(config).loads(token, max_age=config.password_reset_minutes * 60)
    except BadSignature:  # also SignatureExpired
        return None
    user_id = claims.get("user") if isinstance(claims, dict) else None  # signed by us: a dict, but be sure
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if not may_reset(user) or not hmac.compare_digest(str(claims.get("password")), _fingerprint(user.password_hash)):
        return None  # (a password changed since: the token is used up, or was overtaken)
    return user


def mail_reset_link(config: Config, user: User, link: str) -> threading.Thread:
    """Mail ``link`` to ``user`` in their language, from a thread of its own: the request answers at
    once whether or not the email has an account (an SMTP conversation would take long enough to
    tell). At most once: should the process die first, the user asks again."""
    key = f"password-reset:{user.id}:{secrets.token_hex(8)}"
    message = render_email(
        "password_reset",
        user.language,
        address(user.name, user.email),
        config,
        key,
        recipient=user,
        link=link,
        minutes=config.password_reset_minutes,
    )

    def send() -> None:
        sender = make_sender(config)
        try:
            sender.send(message, key)
        except Exception:  # noqa: BLE001 - no one to tell but the log; the user may ask again
            log.exception("the password-reset email to user %s was not sent", user.id)
        finally:
            sender.close()

    thread = threading.Thread(target=send, name="password-reset-mail", daemon=True)
    thread.start()
    return thread
