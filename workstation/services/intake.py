"""Case intake, shared by ``POST /api/v1/cases`` and the ``/cases/new`` form.

Everything is checked before anything is written: the schema, then every file. Only then are
the files stored (by hash) and the case, its event and its outbox row committed together.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

from marshmallow import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from workstation.config import Config
from workstation.evidence import MAX_FILES, StoredFile, UploadError, store, validate_upload
from workstation.i18n import Message
from workstation.services.auth import token_hash
from workstation.services.cases import submit_case_alone, submit_case_for_token
from workstation.services.models import Case, User
from workstation.services.schemas import case_input_schema


class Upload(Protocol):
    filename: str | None
    stream: BinaryIO


class IntakeError(Exception):
    """Bad input: ``errors`` is ``{field: [message, ...]}``; ``status`` the HTTP status to answer."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


def accept_submission(session: Session, config: Config, enterprise: User, raw: Any, uploads: list[Upload]) -> Case:
    if not isinstance(raw, dict):
        raise IntakeError({"_schema": ["The body must be a JSON object."]})
    try:
        data = case_input_schema.load(raw)
    except ValidationError as err:
        raise IntakeError(err.normalized_messages()) from None
    return submit_case_alone(session, enterprise, data, store_uploads(config, uploads))


def accept_by_token(engine: Engine, token: str | None, raw: Any) -> Case | None:
    """The API's hot path: a JSON submission (no files) written on PostgreSQL by one statement that
    also checks ``token`` (``submit_case_for_token``), with no look-up before it.

    None when this path does not take it: another database, input the schema refuses, or a token
    that is not an active enterprise's. The caller then goes the checked way (``user_for_token``,
    ``accept_submission``), which says what is wrong in the usual order: 401, 403, then 400.
    """
    if not token or not isinstance(raw, dict) or engine.dialect.name != "postgresql":
        return None
    try:
        data = case_input_schema.load(raw)
    except ValidationError:
        return None
    return submit_case_for_token(engine, token_hash(token), data)


def store_uploads(config: Config, uploads: list[Upload], field: str = "evidence") -> list[StoredFile]:
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
            raise IntakeError({field: [err.message]}, 413 if err.too_large else 400) from None
    return [store(config.evidence_dir, name, blob, ctype) for name, blob, ctype in checked]
