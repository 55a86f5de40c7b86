"""Users, passwords (argon2) and API tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Update,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.orm import Session, contains_eager

from workstation.config import TOKEN_DAYS
from workstation.i18n import Message
from workstation.routing import DIMENSIONS, normalise_name
from workstation.services.audit import audit
from workstation.services.db import detached_as_loaded, dropping_broken_connections
from workstation.services.models import ApiToken, ExpertProfile, User, utcnow
from workstation.services.schemas import CREDIT_CODE_CHECK, CREDIT_CODE_TAKEN
from workstation.vocabulary import JURISDICTION, LANGUAGES, RIGHT_TYPES, SERVICES, TECHNICAL_FIELDS, is_credit_code

ROLES = ("enterprise", "expert", "coordinator")
_hasher = PasswordHasher()
#: The password hash of an account nobody can log in to yet (an invited enterprise or expert, an
#: expert imported from a CSV, until they choose a password from their invitation,
#: ``services.accounts``): argon2 refuses it as a hash, so every password is wrong.
NO_PASSWORD = "!"


class UserError(ValueError):
    """A user that cannot be created or changed; ``field`` names the input at fault; ``conflict``:
    well-formed input that what exists refuses (an email taken, a supervisor who is no expert)."""

    def __init__(self, message: str, field: str = "_request", conflict: bool = False) -> None:
        super().__init__(message)
        self.field, self.conflict = field, conflict


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
    if credit_code is not None:
        check_organisation_code(session, credit_code, role)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError(Message("A user with email %(email)s exists already.", email=email), "email", conflict=True)
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


def check_organisation_code(session: Session, credit_code: str, role: str) -> None:
    """A credit code must be one (its check character, GB 32100-2015), and an enterprise's is
    its own: two accounts for one enterprise would split its cases and its notices."""
    if not is_credit_code(credit_code):
        raise UserError(Message(CREDIT_CODE_CHECK), "credit_code")
    taken = select(User.id).where(User.credit_code == credit_code, User.role == "enterprise")
    if role == "enterprise" and session.scalar(taken) is not None:
        raise UserError(Message(CREDIT_CODE_TAKEN), "credit_code", conflict=True)


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


class TokenError(ValueError):
    """A token that cannot be made as asked: ``errors`` is ``{field: [message, ...]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


#: As long as ``api_tokens.name`` holds.
TOKEN_NAME_MAX = ApiToken.__table__.c.name.type.length


def check_token_request(name: Any, days: Any, max_days: int) -> tuple[str, int]:
    """The name (stripped) and days a token is asked for, or TokenError naming what is wrong."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > TOKEN_NAME_MAX:
        errors["name"] = [Message("A name of 1 to %(max)d characters.", max=TOKEN_NAME_MAX)]
    # (bool is an int to Python, not to JSON)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        errors["expires_in_days"] = [Message("A number of days from 1 to %(max)d.", max=max_days)]
    if errors:
        raise TokenError(errors)
    return name.strip(), days


def issue_token(session: Session, user: User, name: str, days: int, actor: User | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``, expiring in ``days`` (checked by the caller: ``check_token_request``),
    audited as made by ``actor`` (None: the command line). Returns its row and the token, which
    is never stored: the caller shows it once."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = ApiToken(
        user_id=user.id, token_hash=token_hash(token), name=name, created_at=now, expires_at=now + timedelta(days=days)
    )
    session.add(record)
    session.flush()
    _audit_token(session, "token_created", record, actor, expires_at=record.expires_at.isoformat())
    return record, token


def create_token(session: Session, user: User, name: str = "", days: int = TOKEN_DAYS) -> str:
    """A token for ``user`` with the default lifetime (set-up scripts, tests): only the token."""
    return issue_token(session, user, name, days)[1]


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """``user``'s own tokens, revoked and expired ones too, newest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    return list(session.scalars(query))


def live_tokens(session: Session) -> list[ApiToken]:
    """Every token still usable by its holder's account (what a coordinator may want to end)."""
    query = (
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(_usable_token(), User.is_active)
        .options(contains_eager(ApiToken.user))
        .order_by(User.email, ApiToken.created_at)
    )
    return list(session.scalars(query, {"now": utcnow()}))


def revoke_token(session: Session, token_id: int, actor: User | None) -> ApiToken | None:
    """End token ``token_id``: the holder's own, or anyone's for a coordinator or the command line
    (``actor`` None). None when there is no such token the actor may end (a 404: someone else's
    token is not even said to exist). Revoking twice changes nothing and is audited once."""
    record = session.get(ApiToken, token_id)
    if record is None or (actor is not None and actor.role != "coordinator" and record.user_id != actor.id):
        return None
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        _audit_token(session, "token_revoked", record, actor)
    return record


def _audit_token(session: Session, action: str, record: ApiToken, actor: User | None, **detail: Any) -> None:
    audit(session, actor, action, record.user_id, token_id=record.id, name=record.name, **detail)


# --- the token policy ----------------------------------------------------------------------
# Who a bearer token lets in, written once: every path that checks a token runs a statement built
# from ``_token_holder`` (the ORM look-up, the look-up on psycopg, and intake's one-statement
# submission, ``submission.write_submission``); the raw SQL of the last two is compiled from it.
# Parameters: ``token_hash``, ``now``, ``used_before`` (``token_parameters``).

#: ``last_used_at`` is written at most this often per token: a write per request would cost the
#: API's hot path a row version each time, for a time nobody needs to the second.
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)


def token_parameters(token_hash: str, now: datetime) -> dict[str, Any]:
    return {"token_hash": token_hash, "now": now, "used_before": now - TOKEN_USE_RECORDED_EVERY}


def _usable_token() -> ColumnElement[bool]:
    """Not revoked, not expired (tokens from before expiry existed have none)."""
    return and_(
        ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now"))
    )


def _token_holder(*columns: Any) -> Select:
    """``columns`` of the active user holding the usable token ``token_hash``, and the token's id."""
    return (
        select(*columns, ApiToken.id.label("token_id"), ApiToken.last_used_at.label("token_last_used_at"))
        .select_from(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash"), _usable_token(), User.is_active)
    )


def _record_use(token_id: Any) -> Update:
    """Set the token's ``last_used_at`` to ``now`` unless it was set since ``used_before``. The
    condition is on the row itself, so that of requests racing with one token only the first writes
    (the others, waiting for its row lock, find the new time)."""
    due = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < bindparam("used_before"))
    return update(ApiToken).where(ApiToken.id == token_id, due).values(last_used_at=bindparam("now"))


def _psycopg_sql(statement: Select | Update) -> str:
    """``statement`` as SQL text for psycopg (``%(name)s`` parameters), compiled once at import."""
    return str(statement.compile(dialect=postgresql_psycopg.dialect()))


def _holder_ctes(holder: Select) -> tuple[CTE, CTE]:
    """The ``WITH`` items that find ``holder`` (``token_holder``: its columns and ``token_id``)
    and record the token's use (``token_used``; data-modifying, it runs even though nothing reads
    it, once the statement names it with ``add_cte``): a look-up and its write in one statement,
    one round trip."""
    found = holder.cte("token_holder")
    return found, _record_use(found.c.token_id).cte("token_used")


# Built once: every API request runs one, and building a statement cost as much as running it.
_USER_BY_TOKEN = _token_holder(User)
_RECORD_USE = _record_use(bindparam("token_id"))
# The same on PostgreSQL's driver (the model's attributes are named as its columns), the use
# recorded in the same statement.
_USER_COLUMNS = tuple(User.__table__.columns.keys())
_USER_HOLDER, _USER_TOKEN_USED = _holder_ctes(_token_holder(*User.__table__.columns))
_USER_BY_TOKEN_SQL = _psycopg_sql(select(*(_USER_HOLDER.c[name] for name in _USER_COLUMNS)).add_cte(_USER_TOKEN_USED))


def enterprise_for_token() -> tuple[CTE, CTE]:
    """The ``WITH`` items of a statement that acts for the active, approved enterprise holding the token
    (``token_parameters``): ``token_holder`` (``.c.id``: the enterprise; no row, no enterprise)
    and ``token_used``, which the statement must name with ``add_cte`` for the use to be recorded
    (intake's one-round-trip submission, ``submission.write_submission``)."""
    return _holder_ctes(
        _token_holder(User.id).where(
            User.role == literal_column("'enterprise'"), User.approval == literal_column("'approved'")
        )
    )


def user_for_token(session: Session, token: str) -> User | None:
    """The active user the token lets in (``_token_holder``), or None; records the token's use."""
    parameters = token_parameters(token_hash(token), utcnow())
    began = not session.in_transaction()
    if began and session.get_bind().dialect.name == "postgresql":
        return _user_for_token_alone(session, parameters)
    row = session.execute(_USER_BY_TOKEN, parameters).first()
    if row is None:
        return None
    user, token_id, last_used_at = row
    # Checked here first so that most requests write nothing (on SQLite a write takes the one
    # writer's lock); the UPDATE's own condition is what holds when requests race.
    if last_used_at is None or last_used_at < parameters["used_before"]:
        if began:
            # A read transaction on SQLite cannot always become a write one (another process may
            # have written since it began): the write starts one of its own.
            session.commit()
        session.execute(_RECORD_USE, {**parameters, "token_id": token_id})
        if began:
            session.commit()
    return user


def _user_for_token_alone(session: Session, parameters: dict[str, Any]) -> User | None:
    """The look-up as the request's first use of its session (every API request but a JSON submission
    on PostgreSQL, whose statement checks the token itself: ``submission.write_submission``).

    One statement by a unique key needs no transaction: it runs in autocommit, without BEGIN and
    COMMIT round trips, and leaves none open. The row is read on the driver and put in the session as if
    the ORM had loaded it (the ORM's loading of one row cost twice the query); a user the session
    holds already is returned as the ORM would return it. It stays loaded after the commit
    (sessions do not expire objects on commit).
    """
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    with dropping_broken_connections(connection):
        row = connection.connection.driver_connection.execute(_USER_BY_TOKEN_SQL, parameters).fetchone()
    user = None
    if row is not None:
        user = session.identity_map.get(Session.identity_key(User, row[0]))
        if user is None:
            user = detached_as_loaded(User, **dict(zip(_USER_COLUMNS, row, strict=True)))
            session.add(user)
    session.commit()
    return user
