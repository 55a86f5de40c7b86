"""The case intake schema, used by the JSON API and the web form alike."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from workstation.deadlines import NOTICE_RULES, deadlines_for
from workstation.i18n import N_
from workstation.lifecycle import USER_ACTIONS
from workstation.services.models import MAX_ID
from workstation.vocabulary import (
    CREDIT_CODE,
    JURISDICTION,
    KEY_DATES,
    LANGUAGES,
    PARTY_ROLES,
    RIGHT_KINDS,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    URGENCIES,
    always_confidential,
    is_credit_code,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000


CREDIT_CODE_FORM = N_("Not a unified social credit code (18 characters).")
CREDIT_CODE_CHECK = N_("Not a valid unified social credit code: its last character does not match the others.")
CREDIT_CODE_TAKEN = N_("An enterprise with this unified social credit code is already registered.")


def check_credit_code(code: str) -> None:
    """Every credit code entered (parties, enterprises, experts' organisations) is checked here:
    its form, then its check character (GB 32100-2015), so a mistyped code is caught at once."""
    if re.fullmatch(CREDIT_CODE, code) is None:
        raise ValidationError(CREDIT_CODE_FORM)
    if not is_credit_code(code):
        raise ValidationError(CREDIT_CODE_CHECK)


class PartySchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(load_default="respondent", validate=validate.OneOf(PARTY_ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = fields.String(load_default=None, allow_none=True, validate=check_credit_code)


class RightSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(RIGHT_KINDS))
    number = fields.String(load_default="", validate=validate.Length(max=60))
    mark_text = fields.String(load_default="", validate=validate.Length(max=200))


class KeyDatesSchema(Schema):
    class Meta:
        unknown = RAISE

    known_on = fields.Date()
    published_on = fields.Date()
    registered_on = fields.Date()
    notice_received_on = fields.Date()
    infringement_started_on = fields.Date()
    filed_on = fields.Date()


class CaseInputSchema(Schema):
    """What an enterprise submits. Unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE

    right_type = fields.String(required=True, validate=validate.OneOf(RIGHT_TYPES))
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TITLE))
    description = fields.String(required=True, validate=validate.Length(min=1, max=MAX_DESCRIPTION))
    jurisdiction = fields.String(
        load_default="CN",
        validate=validate.Regexp(JURISDICTION, error=N_("Use a two-letter code such as CN, US or EU.")),
    )
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    technical_field = fields.String(load_default="other", validate=validate.OneOf(TECHNICAL_FIELDS))
    confidential = fields.Boolean(load_default=None, allow_none=True)
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))
    parties = fields.List(fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=20))
    rights = fields.List(fields.Nested(RightSchema), load_default=list, validate=validate.Length(max=20))
    key_dates = fields.Nested(KeyDatesSchema, load_default=dict)
    #: the kind of official notice received on ``key_dates.notice_received_on``: which period it starts
    notice_kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(NOTICE_RULES)))

    @validates_schema
    def _text_not_blank(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors = {k: [N_("Must not be blank.")] for k in ("title", "description") if k in data and not data[k].strip()}
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def _always_confidential(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # Every way in (API JSON or multipart, the form, a coordinator's case) loads this schema:
        # the one place a trade secret is kept confidential.
        if data.get("confidential") is False and always_confidential(data.get("right_type")):
            raise ValidationError({"confidential": [N_("Trade-secret cases are always confidential.")]})

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["title"] = data["title"].strip()
        data["confidential"] = bool(data["confidential"]) or always_confidential(data["right_type"])
        data["key_dates"] = {k: v.isoformat() for k, v in data["key_dates"].items()}
        return data


case_input_schema = CaseInputSchema()


def form_to_case_input(form: dict[str, str]) -> dict[str, Any]:
    """Shape the flat intake form into the API's JSON body, so both go through one schema.

    Empty optional fields are left out, so the schema's defaults apply as they do for the API.
    """
    data: dict[str, Any] = {
        k: form[k]
        for k in (
            "right_type",
            "service",
            "title",
            "description",
            "jurisdiction",
            "language",
            "technical_field",
            "urgency",
            "notice_kind",
        )
        if form.get(k, "") != ""
    }
    if form.get("confidential"):
        data["confidential"] = form["confidential"]
    name, code = form.get("respondent_name", "").strip(), form.get("respondent_credit_code", "").strip()
    if name or code:  # a code without a name is an error the schema reports, not something to drop
        party = {"role": "respondent", **({"name": name} if name else {})}
        if code:
            party["credit_code"] = code.upper()
        data["parties"] = [party]
    if form.get("right_kind") and (form.get("right_number") or form.get("mark_text")):
        data["rights"] = [
            {"kind": form["right_kind"], "number": form.get("right_number", ""), "mark_text": form.get("mark_text", "")}
        ]
    dates = {k: form[k] for k in KEY_DATES if form.get(k)}
    if dates:
        data["key_dates"] = dates
    return data


def form_errors(
    messages: Mapping[str, Any], named_keys: Mapping[str, Iterable[str]] | None = None
) -> dict[str, list[str]]:
    """marshmallow's (nested) error messages as ``{field: [message, ...]}`` for a form.

    Errors of a list's items or a dict's values stay under the list's or dict's name, except the
    keys ``named_keys`` names for a field (a form with one input per key, e.g. each competence
    dimension), which become fields themselves. Messages are kept as they are (a ``Message``
    still translates) and each once per field.
    """
    named = {field: set(keys) for field, keys in (named_keys or {}).items()}
    flat: dict[str, list[str]] = {}

    def walk(field: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(str(key) if key in named.get(field, ()) else field, inner)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(field, item)
        elif value not in flat.setdefault(field, []):
            flat[field].append(value)

    for field, value in messages.items():
        walk(field, value)
    return flat


def case_errors_to_form(errors: dict[str, Any]) -> dict[str, list[str]]:
    """The schema's (nested) errors keyed by the intake form's flat field names."""
    flat: dict[str, list[str]] = {}
    nested = {
        "parties": {"name": "respondent_name", "credit_code": "respondent_credit_code", "role": "respondent_name"},
        "rights": {"kind": "right_kind", "number": "right_number", "mark_text": "mark_text"},
    }
    for field, messages in errors.items():
        if field in nested and isinstance(messages, dict):
            for item in messages.values():
                for sub, sub_messages in item.items() if isinstance(item, dict) else []:
                    flat.setdefault(nested[field].get(sub, field), []).extend(sub_messages)
        elif field == "key_dates" and isinstance(messages, dict):
            for name, sub_messages in messages.items():
                flat.setdefault(name if name in KEY_DATES else "key_dates", []).extend(sub_messages)
        else:
            flat.setdefault(field, []).extend(messages if isinstance(messages, list) else [str(messages)])
    return flat


# --- What the API answers (dumped from the models; also the OpenAPI document's response schemas) ---


class PersonSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    organisation = fields.String()


class EvidenceSchema(Schema):
    filename = fields.String()
    sha256 = fields.String(metadata={"description": "SHA-256 of the file: the enterprise's receipt"})
    size = fields.Integer()
    content_type = fields.String()
    uploaded_at = fields.DateTime()


class CaseSchema(Schema):
    reference = fields.String(metadata={"example": "RPA-2026-000123"})
    status = fields.String()
    to_classify = fields.Boolean(
        metadata={"description": "opened by mail as other / consultation: a coordinator is to set its right type and "
                  "service (POST /api/v1/cases/{reference}/classification)"}
    )  # fmt: skip
    right_type = fields.String()
    service = fields.String()
    title = fields.String()
    description = fields.String()
    jurisdiction = fields.String()
    language = fields.String()
    technical_field = fields.String()
    confidential = fields.Boolean()
    urgency = fields.String()
    parties = fields.List(fields.Nested(PartySchema))
    rights = fields.List(fields.Nested(RightSchema))
    key_dates = fields.Dict(keys=fields.String(), values=fields.String())
    notice_kind = fields.String(allow_none=True)
    assigned_expert = fields.Nested(PersonSchema, allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceSchema))
    deadlines = fields.Function(
        lambda case: deadlines_json(deadlines_for(case)),
        metadata={
            "type": "array",
            "items": {"type": "object"},
            "description": "legal periods (from key_dates) and service-level deadlines, soonest first",
        },
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    links = fields.Dict(keys=fields.String(), values=fields.String())


def deadlines_json(deadlines: list[Any]) -> list[dict[str, Any]]:
    """``deadlines.Deadline``s as the API shows them."""
    return [
        {
            "code": d.code,
            "kind": d.kind,
            "due": d.due.isoformat(),
            "due_at": d.due_at.isoformat(),
            "label": d.label,
            "basis": d.basis,
            "running": d.running,
            "breached": d.breached,
            "paused": d.paused,
            "provisional": d.provisional,
        }
        for d in deadlines
    ]


class EventSchema(Schema):
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor = fields.Nested(PersonSchema, allow_none=True)
    actor_role = fields.String()
    detail = fields.Dict()
    at = fields.DateTime(attribute="created_at")


class TransitionSchema(Schema):
    class Meta:
        unknown = RAISE

    # The enum documents the actions; an unknown one is refused by the API with its own message.
    action = fields.String(required=True, metadata={"enum": list(USER_ACTIONS)})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    expert_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, MAX_ID))
    override_clearance = fields.Boolean(
        load_default=False,
        metadata={"description": "reassign: give a confidential case to an expert not cleared for it (audited)"},
    )


class ErrorSchema(Schema):
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)


def api_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """marshmallow's (nested) error messages in the API's error shape ``{field: [message, ...]}``.

    An error inside a list or an object stays under its top-level field, its message prefixed by
    where it is inside (``"parties": ["0.name: Missing data for required field."]``), so a client
    reading ``ErrorSchema`` always finds a list of strings.
    """
    flat: dict[str, list[str]] = {}

    def walk(field: str, path: tuple[str, ...], value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(field, (*path, str(key)), inner)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(field, path, item)
        else:
            # (A ``Message`` without a path is kept as it is: still a str, still translatable.)
            text = f"{'.'.join(path)}: {value}" if path else value
            if text not in flat.setdefault(field, []):
                flat[field].append(text)

    for field, value in messages.items():
        walk(str(field), (), value)
    return flat


class QueueCaseSchema(CaseSchema):
    """A case in the expert's queue (``GET /api/v1/queue``): without its description, with whether
    the expert must act on it."""

    needs_action = fields.Boolean()
    new_activity = fields.Boolean(metadata={"description": "something happened since the expert last looked"})


case_schema = CaseSchema()
#: for callers that have the case's deadlines already (the queue computes them to sort)
case_schema_without_deadlines = CaseSchema(exclude=("deadlines",))
event_schema = EventSchema()
evidence_schema = EvidenceSchema()
transition_schema = TransitionSchema()
