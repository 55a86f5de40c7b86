"""Users, passwords (argon2) and API tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached

from workstation.i18n import Message
from workstation.routing import DIMENSIONS, normalise_name
from workstation.services.models import ApiToken, ExpertProfile, User
from workstation.vocabulary import JURISDICTION, LANGUAGES, RIGHT_TYPES, SERVICES, TECHNICAL_FIELDS

ROLES = ("enterprise", "expert", "coordinator")
_hasher = PasswordHasher()
#: The password hash of an account nobody can log in to yet (experts imported from a CSV until a
#: coordinator sets a password): argon2 refuses it as a hash, so every password is wrong.
NO_PASSWORD = "!"


class UserError(ValueError):
    """A user that cannot be created or changed; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = "_request") -> None:
        super().__init__(message)
        self.field = field


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: A hash of no one's password per hasher (``password_matches``), made on first use: made with the
#: hasher in use, it costs the same to check as a real user's hash.
_DUMMY_HASHES: dict[PasswordHasher, str] = {}


def password_matches(user: User | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s, taking as long when there is no such user (or one who
    cannot log in): the check runs against a dummy hash instead of being skipped, so the answer's
    timing does not tell which emails have accounts."""
    if user is not None and user.is_active and user.password_hash != NO_PASSWORD:
        return check_password(user, password)
    if _hasher not in _DUMMY_HASHES:
        _DUMMY_HASHES[_hasher] = _hasher.hash(secrets.token_urlsafe(16))
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY_HASHES[_hasher], password)
    return False


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    email: str,
    password: str | None,
    role: str,
    name: str = "",
    language: str = "zh",
    organisation: str = "",
    credit_code: str | None = None,
    right_types: list[str] | None = None,
    capacity: int = 5,
    profile: dict[str, Any] | None = None,
) -> User:
    """Create a user; experts get an ``ExpertProfile`` (``profile``: more of its columns, checked).

    ``password`` None: an account that cannot log in until a password is set."""
    email = normalise_email(email)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise UserError(Message("Not a valid email address."), "email")
    if password is not None:
        check_new_password(password)
    if language not in ("zh", "en"):
        raise UserError("language must be zh or en")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError(Message("A user with email %(email)s exists already.", email=email), "email")
    user = User(
        email=email,
        password_hash=hash_password(password) if password is not None else NO_PASSWORD,
        role=role,
        name=name or email.split("@")[0],
        language=language,
        credit_code=credit_code,
    )
    set_organisation(user, organisation)
    session.add(user)
    if role == "expert":
        unknown = set(right_types or []) - set(RIGHT_TYPES)
        if unknown:
            raise UserError(f"unknown right types: {', '.join(sorted(unknown))}")
        if capacity < 1:
            raise UserError("capacity must be at least 1")
        user.expert = ExpertProfile(
            right_types=list(right_types or []), capacity=capacity, **check_profile(profile or {})
        )
    session.flush()
    return user


def check_new_password(password: str) -> None:
    if len(password) < 8:
        raise UserError(Message("The password must be at least 8 characters."), "password")


def set_organisation(user: User, organisation: str) -> None:
    """Set a user's organisation and the key conflicts of interest are looked up by."""
    user.organisation = organisation.strip()
    user.organisation_key = normalise_name(user.organisation) if user.organisation else ""


_PLAIN_PROFILE_FIELDS = (
    "available",
    "confidential_ok",
    "affiliation_kind",
    "on_leave_until",
    "is_trainee",
    "supervisor_id",
)


def check_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The expert profile fields given, validated against the codes routing knows."""
    allowed = {"services": SERVICES, "languages": LANGUAGES, "technical_fields": TECHNICAL_FIELDS}
    for key, values in profile.items():
        if values is None:
            continue  # not stated: does not restrict routing
        if key in allowed:
            unknown = set(values) - set(allowed[key])
            if unknown:
                raise UserError(f"unknown {key.replace('_', ' ')}: {', '.join(sorted(unknown))}")
        elif key == "jurisdictions":
            if not all(isinstance(v, str) and re.fullmatch(JURISDICTION, v) for v in values):
                raise UserError("jurisdictions are two-letter codes such as CN, US, EU")
        elif key == "competence":
            for dim, level in values.items():
                if dim not in DIMENSIONS or not isinstance(level, int) or not 0 <= level <= 3:
                    raise UserError(f"competence is {', '.join(DIMENSIONS)} each 0 to 3, e.g. legal=3,technical=2")
        elif key not in _PLAIN_PROFILE_FIELDS:
            raise UserError(f"unknown expert profile field {key}")
    return profile


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def token_hash(token: str) -> str:
    """What is stored of an API token (``api_tokens.token_hash``): never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(token)))
    return token


# Built once: every API request runs it, and building the statement cost as much as running it.
_USER_BY_TOKEN = (
    select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == bindparam("token_hash"))
)
# The same on PostgreSQL's driver (the model's attributes are named as its columns).
_USER_COLUMNS = tuple(User.__table__.columns.keys())
_USER_BY_TOKEN_SQL = (
    f"SELECT {', '.join(f'users.{c}' for c in _USER_COLUMNS)} FROM users"
    " JOIN api_tokens ON api_tokens.user_id = users.id WHERE api_tokens.token_hash = %s"
)


# The same look-up inside another statement: the id of the active enterprise holding the token
# ``%(token_hash)s`` (intake's one-round-trip submission, ``cases.submit_case_for_token``, checks
# the token in the statement that writes the case). Kept beside the look-up: a rule added to one
# (tokens that expire, say) belongs in both.
ACTIVE_ENTERPRISE_FOR_TOKEN_SQL = (
    "SELECT users.id FROM users JOIN api_tokens ON api_tokens.user_id = users.id"
    " WHERE api_tokens.token_hash = %(token_hash)s AND users.is_active AND users.role = 'enterprise'"
)


def user_for_token(session: Session, token: str) -> User | None:
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        user = _user_for_token_alone(session, token_hash(token))
    else:
        user = session.scalar(_USER_BY_TOKEN, {"token_hash": token_hash(token)})
    return user if user is not None and user.is_active else None


def _user_for_token_alone(session: Session, token_hash: str) -> User | None:
    """The look-up as the request's first use of its session (every API request but a JSON submission
    on PostgreSQL, whose statement checks the token itself: ``cases.submit_case_for_token``).

    One read by a unique key needs no transaction: it runs in autocommit, without BEGIN and COMMIT
    round trips, and leaves none open. The row is read on the driver and put in the session as if
    the ORM had loaded it (the ORM's loading of one row cost twice the query); a user the session
    holds already is returned as the ORM would return it. It stays loaded after the commit
    (sessions do not expire objects on commit).
    """
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    row = connection.connection.driver_connection.execute(_USER_BY_TOKEN_SQL, (token_hash,)).fetchone()
    user = None
    if row is not None:
        user = session.identity_map.get(Session.identity_key(User, row[0]))
        if user is None:
            user = User(**dict(zip(_USER_COLUMNS, row, strict=True)))
            make_transient_to_detached(user)
            session.add(user)
    session.commit()
    return user
