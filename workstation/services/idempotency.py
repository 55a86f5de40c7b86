"""The API's ``Idempotency-Key``: a creating request's answer kept under its client's key, so that
the client's retry (its answer lost to a timeout, a crash, a 503) gets the same answer instead of
creating the thing twice.

The key is claimed in the transaction that writes what the request creates, and answered in it:
both are committed together or neither is. A request whose work rolls back (refused input, the
database gone) leaves no key behind, and its retry is tried afresh. Two requests with the same key
at the same moment: the second's claim waits on the first's (PostgreSQL's unique index, SQLite's
one writer), then finds its answer. Keys are each user's own, and forgotten after a while (the
configured hours; the scheduler's ``forget_expired_keys``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from workstation.services.db import lock_for_write, transaction
from workstation.services.models import IdempotencyKey, utcnow

#: The longest key taken (a UUID is 36 characters)
KEY_LENGTH = 255
_KEYS = IdempotencyKey.__table__


@dataclass(frozen=True)
class FirstRequest:
    """The request that claimed a key first: what it was, and its answer (``status`` None: it
    committed without one, which a creating view never does)."""

    fingerprint: str
    status: int | None
    body: str
    location: str | None


def acceptable_key(key: str) -> bool:
    """A key as the IETF draft has it: 1 to 255 printable ASCII characters."""
    return 0 < len(key) <= KEY_LENGTH and key.isascii() and key.isprintable()


def request_fingerprint(parts: Iterable[bytes]) -> str:
    """What a request was (its method, path and body, as ``parts``): the same key with another is refused."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())  # (hashed each: no two splits of the same bytes agree)
    return digest.hexdigest()


def file_digest(stream: BinaryIO) -> bytes:
    """SHA-256 of an uploaded file, read in chunks and rewound for the view that stores it."""
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 16):
        digest.update(chunk)
    stream.seek(0)
    return digest.digest()


def claim_key(session: Session, user_id: int, key: str, fingerprint: str, kept: timedelta) -> FirstRequest | None:
    """Claim ``key`` for this request of ``user_id``'s in ``session``'s transaction (begun here, as
    the writer on SQLite). None: the key is this request's, to answer (``record_answer``) before the
    transaction commits. Otherwise the request that had it first (committed), whose answer this
    request gets, if it is the same request. A key older than ``kept`` is free again."""
    lock_for_write(session)
    connection = session.connection()
    now = utcnow()
    mine = (_KEYS.c.user_id == user_id) & (_KEYS.c.key == key)
    connection.execute(delete(_KEYS).where(mine, _KEYS.c.created_at < now - kept))
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    claim = (
        dialect.insert(_KEYS)
        .values(user_id=user_id, key=key, fingerprint=fingerprint, status=None, body="", created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(_KEYS.c.id)  # (its rowcount is not reported through SQLAlchemy: -1)
    )
    if connection.execute(claim).first() is not None:
        return None
    first = connection.execute(select(_KEYS.c.fingerprint, _KEYS.c.status, _KEYS.c.body, _KEYS.c.location).where(mine))
    return FirstRequest(*first.one())


def record_answer(session: Session, user_id: int, key: str, status: int, body: str, location: str | None) -> None:
    """The answer of the request that claimed ``key`` (``claim_key``), in its transaction."""
    session.connection().execute(
        update(_KEYS)
        .where(_KEYS.c.user_id == user_id, _KEYS.c.key == key)
        .values(status=status, body=body, location=location)
    )


def forget_expired_keys(sessions: sessionmaker[Session], hours: int, now: datetime | None = None) -> int:
    """Remove the keys older than ``hours`` (a scheduler job): how many."""
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    with transaction(sessions) as session:
        return session.connection().execute(delete(_KEYS).where(_KEYS.c.created_at < cutoff)).rowcount
