"""The expert pool: coordinators create, edit, deactivate, send on leave and import experts.

One marshmallow schema (``ExpertSchema``) checks an expert coming from the API, the web page or a
row of a CSV import, and ``save_expert`` applies it: it creates the expert, updates what differs,
or, given the same data again, changes nothing (which is why re-importing a file is harmless).
An expert who stops being routable (deactivated, marked unavailable, on leave) emits
``expert.unavailable`` in the same transaction: the routing worker re-routes the cases they have
not accepted yet.

A CSV import is stored as an ``ExpertImport`` and queued (``experts.import_requested``); the
routing worker runs it in chunks with ``run_import``, committing progress and row errors with
each chunk, so a page can show progress and a crash resumes where the last chunk ended. Each
expert it leaves without a password is invited to choose one (``accounts.invite``), once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workstation.i18n import N_, Message
from workstation.routing import DIMENSIONS
from workstation.services.accounts import invitation_due, invite
from workstation.services.audit import audit
from workstation.services.auth import UserError, check_new_password, create_user, hash_password, normalise_email
from workstation.services.auth import set_organisation as _set_organisation
from workstation.services.db import lock_for_write
from workstation.services.models import ExpertImport, ExpertProfile, User, utcnow
from workstation.services.outbox import enqueue
from workstation.services.schemas import (
    JURISDICTION,
    LANGUAGES,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    credit_code_field,
    form_errors,
)

AFFILIATION_KINDS = ("university", "research_institute", "enterprise", "law_firm", "agency")
MAX_CAPACITY = 100
#: The largest CSV accepted (a few thousand experts are a few hundred kB).
MAX_IMPORT_BYTES = 5 * 1024 * 1024
#: Rows imported per transaction: small enough for frequent progress, big enough to be quick.
IMPORT_CHUNK = 250
#: Row errors kept for the report (the count is always exact).
MAX_REPORTED_ERRORS = 1000


def _codes(choices: tuple[str, ...], **kwargs: Any) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(choices)), **kwargs)


class ExpertSchema(Schema):
    """An expert's account and routing profile, flat (as a CSV row or a JSON object).

    Lists left out or null for ``services``, ``jurisdictions`` and ``languages`` mean "not
    stated": routing does not restrict on them.
    """

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    email = fields.Email(required=True)
    # (the length check_new_password asks for, stated here so that the API's document says it)
    password = fields.String(
        load_only=True, load_default=None, allow_none=True, validate=validate.Length(min=8, max=200)
    )
    name = fields.String(load_default="", validate=validate.Length(max=200))
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    organisation = fields.String(load_default="", validate=validate.Length(max=200))
    credit_code = credit_code_field()
    affiliation_kind = fields.String(load_default="", validate=validate.OneOf(("", *AFFILIATION_KINDS)))
    right_types = _codes(RIGHT_TYPES, required=True, validate=validate.Length(min=1))
    services = _codes(SERVICES, load_default=None, allow_none=True)
    jurisdictions = fields.List(
        fields.String(validate=validate.Regexp(JURISDICTION, error=N_("Use a two-letter code such as CN, US or EU."))),
        load_default=None,
        allow_none=True,
    )
    languages = _codes(LANGUAGES, load_default=None, allow_none=True)
    technical_fields = _codes(TECHNICAL_FIELDS, load_default=list)
    competence = fields.Dict(
        keys=fields.String(validate=validate.OneOf(DIMENSIONS)),
        values=fields.Integer(strict=False, validate=validate.Range(0, 3)),
        load_default=dict,
        metadata={
            "description": "levels 0-3: legal, technical, management, commercialization",
            "properties": {d: {"type": "integer", "minimum": 0, "maximum": 3} for d in DIMENSIONS},
        },
    )
    capacity = fields.Integer(load_default=5, validate=validate.Range(1, MAX_CAPACITY))
    available = fields.Boolean(load_default=True)
    on_leave_until = fields.Date(load_default=None, allow_none=True)
    confidential_ok = fields.Boolean(load_default=False)
    is_trainee = fields.Boolean(load_default=False)
    supervisor_email = fields.Email(load_default=None, allow_none=True)
    is_active = fields.Boolean(load_default=True)
    active_cases = fields.Integer(dump_only=True)

    @pre_load
    def _upper_codes(self, data: Any, **_kwargs: Any) -> Any:
        """Codes are accepted in any case: "cn" is CN."""
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("jurisdictions"), list):
                data["jurisdictions"] = [j.strip().upper() if isinstance(j, str) else j for j in data["jurisdictions"]]
            if isinstance(data.get("credit_code"), str):
                data["credit_code"] = data["credit_code"].strip().upper()
        return data

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        # Sorted, unique, upper-cased where codes are: the same expert always compares equal.
        for key in ("right_types", "services", "languages", "technical_fields"):
            if data.get(key) is not None:
                data[key] = sorted(set(data[key]))
        if data.get("jurisdictions") is not None:
            data["jurisdictions"] = sorted(set(data["jurisdictions"]))
        if "competence" in data:
            data["competence"] = {d: data["competence"].get(d, 0) for d in DIMENSIONS}
        for key in ("email", "supervisor_email"):
            if data.get(key):
                data[key] = normalise_email(data[key])
        for key in ("name", "organisation"):
            if key in data:
                data[key] = data[key].strip()
        if data.get("credit_code") == "":
            data["credit_code"] = None
        return data


expert_schema = ExpertSchema()

#: Profile columns set straight from the schema's fields.
_PROFILE_FIELDS = (
    "right_types",
    "services",
    "jurisdictions",
    "languages",
    "technical_fields",
    "competence",
    "capacity",
    "available",
    "on_leave_until",
    "confidential_ok",
    "is_trainee",
    "affiliation_kind",
)


def expert_record(user: User) -> dict[str, Any]:
    """An expert as the schema dumps it (the API's and the edit page's shape)."""
    profile = user.expert
    assert profile is not None
    return expert_schema.dump(
        {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "language": user.language,
            "organisation": user.organisation,
            "credit_code": user.credit_code,
            "is_active": user.is_active,
            "supervisor_email": profile.supervisor.email if profile.supervisor else None,
            "active_cases": profile.active_cases,
            **{k: getattr(profile, k) for k in _PROFILE_FIELDS},
        }
    )


def routable(user: User, today: date) -> bool:
    """Whether routing may give this expert new cases at all (capacity aside)."""
    p = user.expert
    return bool(
        user.is_active and p is not None and p.available and not (p.on_leave_until and p.on_leave_until >= today)
    )


def save_expert(
    session: Session, data: dict[str, Any], today: date, existing: User | None = None,
    actor: User | int | None = None, via: str = "",
) -> tuple[User, str]:  # fmt: skip
    """Create or update an expert from ``ExpertSchema``-loaded ``data``.

    ``existing``: the expert being edited (``data`` may then be partial); otherwise the expert is
    found by email, or created. Returns the user and ``created``, ``updated`` or ``unchanged``.
    Raises ``UserError`` before changing anything when the data cannot apply.

    Audited as done by ``actor`` (None: the command line) ``via`` a form, the API or an import:
    ``user_created``; ``user_deactivated`` / ``user_reactivated``; ``expert_profile_edited`` with
    what changed, ``{field: [before, after]}`` (a password only as changed).
    """
    user = existing
    if user is None:
        user = session.scalar(select(User).where(User.email == data["email"]))
    if user is not None and user.role != "expert":
        raise UserError(Message("%(email)s is not an expert's account.", email=user.email), "email")
    if (
        "email" in data
        and user is not None
        and data["email"] != user.email
        and session.scalar(select(User.id).where(User.email == data["email"])) is not None
    ):
        raise UserError(Message("A user with email %(email)s exists already.", email=data["email"]), "email")
    if data.get("password") is not None:
        check_new_password(data["password"])
    supervisor_id = _supervisor_id(session, data, user) if "supervisor_email" in data else None

    profile = {k: data[k] for k in _PROFILE_FIELDS if k in data}
    if "supervisor_email" in data:
        profile["supervisor_id"] = supervisor_id
    if user is None:
        user = create_user(
            session,
            data["email"],
            data.get("password"),
            "expert",
            name=data.get("name", ""),
            language=data.get("language", "zh"),
            organisation=data.get("organisation", ""),
            credit_code=data.get("credit_code"),
            right_types=profile.pop("right_types"),
            capacity=profile.pop("capacity", 5),
            profile=profile,
        )
        if data.get("is_active") is False:
            user.is_active = False
        audit(session, actor, "user_created", user, role="expert", via=via, is_active=user.is_active)
        return user, "created"

    was_routable = routable(user, today)
    changes: dict[str, Any] = {}
    for key in ("email", "name", "language", "credit_code", "is_active"):
        if key in data and getattr(user, key) != data[key]:
            changes[key] = [getattr(user, key), data[key]]
            setattr(user, key, data[key])
    if "organisation" in data and user.organisation != data["organisation"]:
        changes["organisation"] = [user.organisation, data["organisation"]]
        _set_organisation(user, data["organisation"])
    if data.get("password") is not None:
        user.password_hash = hash_password(data["password"])
        changes["password"] = "changed"
    assert user.expert is not None
    for key, value in profile.items():
        if getattr(user.expert, key) != value:
            changes[key] = [_jsonable(getattr(user.expert, key)), _jsonable(value)]
            setattr(user.expert, key, value)
    if was_routable and not routable(user, today):
        # Their cases not yet accepted go to someone else (workers.routing.reroute_cases_of).
        enqueue(session, "expert.unavailable", {"expert_id": user.id})
    if (active := changes.pop("is_active", None)) is not None:
        audit(session, actor, "user_reactivated" if active[1] else "user_deactivated", user, via=via)
    if changes:
        audit(session, actor, "expert_profile_edited", user, via=via, changes=changes)
    return user, "updated" if changes or active else "unchanged"


def _jsonable(value: Any) -> Any:
    """A profile value as audit detail (JSON): a date as its ISO text."""
    return value.isoformat() if isinstance(value, date) else value


def _supervisor_id(session: Session, data: dict[str, Any], user: User | None) -> int | None:
    email = data["supervisor_email"]
    if not email:
        return None
    row = session.execute(
        select(User.id, User.role, ExpertProfile.is_trainee)
        .outerjoin(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.email == email)
    ).first()
    if row is None or row.role != "expert":
        raise UserError(
            Message("No expert with email %(email)s (list supervisors before their trainees).", email=email),
            "supervisor_email",
            conflict=True,
        )
    if row.is_trainee or (user is not None and row.id == user.id):
        raise UserError(
            Message("The supervisor must be another expert who is not a trainee."), "supervisor_email", conflict=True
        )
    return row.id


# --- CSV import -------------------------------------------------------------------------------

#: The columns a CSV may have; ``email`` and ``right_types`` are required. Lists are separated by
#: ``;`` (or ``|``, ``、``, ``，``); competence is one column per dimension, 0-3.
CSV_COLUMNS = (
    "email",
    "name",
    "language",
    "organisation",
    "credit_code",
    "affiliation_kind",
    "right_types",
    "services",
    "jurisdictions",
    "languages",
    "technical_fields",
    *DIMENSIONS,
    "capacity",
    "available",
    "on_leave_until",
    "confidential_ok",
    "is_trainee",
    "supervisor_email",
    "is_active",
)
REQUIRED_COLUMNS = ("email", "right_types")
_LIST_COLUMNS = ("right_types", "services", "jurisdictions", "languages", "technical_fields")
_BOOLEAN_COLUMNS = ("available", "confidential_ok", "is_trainee", "is_active")
_SEPARATORS = re.compile(r"[;|、，；,]")
_BOOLEANS = {"是": "true", "否": "false", "y": "true", "n": "false"}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not CSV text, missing or unknown columns)."""


def decode_csv(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without Excel's BOM), else GB 18030 (Excel in Chinese)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise ImportFileError(Message("The file is not text in UTF-8 or GB 18030; save it as CSV."))


def read_csv(text: str) -> list[dict[str, str]]:
    """The rows of an expert CSV, keyed by column; raises ImportFileError for a bad header, or for
    text the csv module cannot read as CSV at all."""
    try:
        return _read_csv(text)
    except csv.Error as err:
        raise ImportFileError(
            Message("The file is not a CSV the workstation can read (%(reason)s).", reason=str(err))
        ) from None


def _read_csv(text: str) -> list[dict[str, str]]:
    # newline="": the csv module's own line handling, so that a file with old Mac line ends (a
    # bare \r, as Excel for Mac saves CSV) reads as lines instead of failing.
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ImportFileError(Message("The file is empty."))
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    unknown = [c for c in columns if c and c not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError(
            Message(
                "Unknown columns: %(unknown)s. Known: %(known)s.",
                unknown=", ".join(unknown),
                known=", ".join(CSV_COLUMNS),
            )
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(Message("Missing columns: %(missing)s.", missing=", ".join(missing)))
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            rows.append({})  # a blank line keeps its number; it is skipped as unchanged
            continue
        rows.append({c: v for c, v in zip(columns, cells, strict=False) if c})
    return rows


def row_to_input(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row shaped as ``ExpertSchema`` input: empty cells take the schema's defaults."""
    data: dict[str, Any] = {}
    competence = {}
    for column, raw in row.items():
        value = raw.strip()
        if column in DIMENSIONS:
            competence[column] = value or "0"
        elif not value:
            continue
        elif column in _LIST_COLUMNS:
            data[column] = [v.strip() for v in _SEPARATORS.split(value) if v.strip()]
        elif column in _BOOLEAN_COLUMNS:
            data[column] = _BOOLEANS.get(value.lower(), value)
        else:
            data[column] = value
    if competence:
        data["competence"] = competence
    return data


def error_list(row: int, messages: dict[str, Any]) -> list[dict[str, Any]]:
    """marshmallow's nested error messages as flat ``{row, field, message}`` entries (each
    competence dimension is a column of its own)."""
    return [
        {"row": row, "field": field, "message": str(message)}
        for field, found in form_errors(messages, {"competence": DIMENSIONS}).items()
        for message in found
    ]


def queue_import(session: Session, coordinator: User, filename: str, raw: bytes) -> ExpertImport:
    """Check a CSV's encoding and header and queue it; raises ImportFileError."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportFileError(Message("The file is larger than %(mb)d MB.", mb=MAX_IMPORT_BYTES // (1024 * 1024)))
    text = decode_csv(raw)
    rows = read_csv(text)
    job = ExpertImport(
        created_by=coordinator.id,
        filename=filename[:255],
        sha256=hashlib.sha256(raw).hexdigest(),
        content=text,
        total=len(rows),
    )
    session.add(job)
    session.flush()
    enqueue(session, "experts.import_requested", {"import_id": job.id})
    return job


def run_import(sessions: sessionmaker[Session], import_id: int, today: date, chunk: int = IMPORT_CHUNK) -> None:
    """Import the rows of ``import_id`` not imported yet, one committed chunk at a time.

    A bad row is reported and skipped; it never stops the others. Each chunk locks the import row
    and starts where the committed progress says, so two workers given the same job (a
    redelivery) never import a row twice.
    """
    with sessions() as session:
        job = session.get(ExpertImport, import_id)
        if job is None:
            raise LookupError(f"no expert import {import_id}")
        rows = read_csv(job.content)
    while True:
        with sessions() as session:
            lock_for_write(session)
            job = session.scalar(select(ExpertImport).where(ExpertImport.id == import_id).with_for_update())
            start = job.processed
            if start >= len(rows):
                if job.status != "done":
                    job.status, job.finished_at = "done", utcnow()
                session.commit()
                return
            job.status, job.total = "running", len(rows)
            errors = list(job.errors)
            for number, row in enumerate(rows[start : start + chunk], start + 2):  # the header is row 1
                if not row:
                    job.unchanged += 1
                    continue
                try:
                    data = expert_schema.load(row_to_input(row))
                    expert, outcome = save_expert(session, data, today, actor=job.created_by, via="import")
                except ValidationError as err:
                    problems = error_list(number, err.normalized_messages())
                except UserError as err:
                    problems = [{"row": number, "field": err.field, **message_record(err.args[0])}]
                else:
                    setattr(job, outcome, getattr(job, outcome) + 1)
                    if invitation_due(expert):  # (once: a re-import finds them invited already)
                        invite(session, expert, job.created_by, "import")
                    continue
                job.failed += 1
                errors += problems[: max(0, MAX_REPORTED_ERRORS - len(errors))]
            job.errors = errors
            job.processed = min(len(rows), start + chunk)
            session.commit()


def message_record(message: str) -> dict[str, Any]:
    """A message kept as data: its English text, and for a ``Message`` what translates it."""
    if isinstance(message, Message):
        return {"message": str(message), "template": message.template, "params": message.params}
    return {"message": str(message)}


def import_record(job: ExpertImport) -> dict[str, Any]:
    return {
        "id": job.id,
        "filename": job.filename,
        "sha256": job.sha256,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "errors": job.errors,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


# --- the coordinator's page -------------------------------------------------------------------

_FORM_LISTS = ("right_types", "services", "languages", "technical_fields")
_FORM_CHECKBOXES = ("available", "confidential_ok", "is_trainee", "is_active")


def form_to_expert_input(form: Any) -> dict[str, Any]:
    """The expert form (a ``MultiDict``) as ``ExpertSchema`` input, so page and API share checks.

    Unticked boxes are false; no service, language or jurisdiction given means "any".
    """
    data: dict[str, Any] = {
        k: form.get(k, "").strip()
        for k in ("email", "name", "language", "organisation", "credit_code", "affiliation_kind")
        if form.get(k, "").strip() or k == "affiliation_kind"
    }
    for key in _FORM_LISTS:
        values = form.getlist(key)
        if values or key in ("right_types", "technical_fields"):
            data[key] = values
    jurisdictions = [j.strip() for j in _SEPARATORS.split(form.get("jurisdictions", "")) if j.strip()]
    if jurisdictions:
        data["jurisdictions"] = jurisdictions
    data["competence"] = {d: form.get(d, "0") or "0" for d in DIMENSIONS}
    for key in _FORM_CHECKBOXES:
        data[key] = bool(form.get(key))
    for key in ("capacity", "on_leave_until", "supervisor_email", "password"):
        if form.get(key, "").strip():
            data[key] = form[key].strip()
    return data


def expert_form_values(record: dict[str, Any]) -> dict[str, Any]:
    """An ``expert_record`` as the form's fields (lists stay lists for the check boxes)."""
    values = {k: v for k, v in record.items() if k != "competence"}
    values.update({d: str(record["competence"].get(d, 0)) for d in DIMENSIONS})
    values["jurisdictions"] = ", ".join(record["jurisdictions"] or [])
    values["capacity"] = str(record["capacity"])
    values["on_leave_until"] = record["on_leave_until"] or ""
    return {k: ("" if v is None else v) for k, v in values.items()}
