"""Case intake: every way a case comes in (``POST /api/v1/cases`` as JSON or multipart, the
``/cases/new`` form, a coordinator's risk-warning case) comes through here, and every one is
written by ``submission.write_submission``.

Everything is checked before anything is written: the schema, then every file. Only then are
the files stored (by hash) and the case, its event and its outbox row written together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from marshmallow import Schema, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from workstation.config import Config
from workstation.evidence import MAX_FILES, StoredFile, UploadError, store, validate_upload
from workstation.i18n import Message
from workstation.services.auth import token_hash
from workstation.services.db import autocommit_driver
from workstation.services.models import Case, User
from workstation.services.schemas import case_input_schema, error_status, quick_load
from workstation.services.submission import WrittenCase, write_by_token, write_submission


class Upload(Protocol):
    filename: str | None
    stream: BinaryIO


class IntakeError(Exception):
    """Bad input: ``errors`` is ``{field: [message, ...]}``; ``status`` the HTTP status to answer."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


def accept_submission(
    session: Session,
    config: Config,
    enterprise: User,
    raw: Any,
    uploads: Sequence[Upload] = (),
    *,
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
    schema: Schema = case_input_schema,
) -> Case:
    """A case for ``enterprise`` from ``raw`` (the API's JSON, the form's fields shaped as it,
    a coordinator's case) and ``uploads``, checked, then written in ``session`` (``actor``,
    ``detail``: ``write_submission``'s). The caller commits. ``schema``: a ``CaseInputSchema``;
    ``mark_warning_input_schema`` for a coordinator's warning from a look-alike match.

    When the session has no transaction open (the API's, after its token look-up), on PostgreSQL
    the submission runs in autocommit: it is one statement, atomic by itself, and BEGIN and
    COMMIT would each be a wait for PostgreSQL, which on a busy machine costs more than the work.
    The case returned is detached (``submission._as_written``).
    """
    data = _checked(raw, schema)
    files = store_uploads(config, uploads)
    # (asked before the session's connection, which begins its transaction)
    alone = not session.in_transaction() and session.get_bind().dialect.name == "postgresql"
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"} if alone else None)
    return write_submission(connection, data, files, enterprise_id=enterprise.id, actor=actor, detail=detail)


def accept_by_token(engine: Engine, token: str | None, raw: Any) -> WrittenCase | None:
    """The API's hot path: a JSON submission (no files) written on PostgreSQL by one statement that
    also checks ``token`` (``submission.write_by_token``), with no look-up before it. It runs on a
    pooled psycopg connection in autocommit (``db.autocommit_driver``), without a session or a
    SQLAlchemy ``Connection``: a session's transaction around one atomic statement cost more than
    the statement. The case comes back as a ``WrittenCase``:
    the API only answers with it.

    None when this path does not take it: another database, input the schema refuses, or a token
    that is not an active enterprise's. The caller then goes the checked way (``user_for_token``,
    ``accept_submission``), which says what is wrong in the usual order: 401, 403, then 400.
    """
    if not token or engine.dialect.name != "postgresql":
        return None
    try:
        data = _checked(raw)
    except IntakeError:
        return None
    with autocommit_driver(engine) as driver:
        return write_by_token(driver, data, token_hash(token))


def _checked(raw: Any, schema: Schema = case_input_schema) -> dict[str, Any]:
    """``raw`` as ``schema`` (a ``CaseInputSchema``) loads it, or IntakeError saying what is wrong."""
    if not isinstance(raw, dict):
        raise IntakeError({"_schema": ["The body must be a JSON object."]})
    try:
        return quick_load(schema, raw)
    except ValidationError as err:
        raise IntakeError(err.normalized_messages(), error_status(err.normalized_messages())) from None


def store_uploads(config: Config, uploads: Sequence[Upload], field: str = "evidence") -> list[StoredFile]:
    """Check every file (count, size, type by content), then store them by hash; IntakeError on
    the first bad one, before anything is stored."""
    uploads = [u for u in uploads if u.filename]
    if len(uploads) > MAX_FILES:
        raise IntakeError({field: [Message("At most %(n)d files per submission.", n=MAX_FILES)]})
    checked = []
    for upload in uploads:
        try:
            checked.append(validate_upload(upload.filename or "", upload.stream, config.max_upload_bytes))
        except UploadError as err:
            # (a file's type and content are no schema's to state: 415, like 413 for its size)
            raise IntakeError({field: [err.message]}, 413 if err.too_large else 415) from None
    return [store(config.evidence_dir, name, blob, ctype) for name, blob, ctype in checked]
