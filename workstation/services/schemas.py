"""The case intake schema, used by the JSON API and the web form alike."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, missing, post_load, validate, validates_schema
from marshmallow.decorators import POST_DUMP, POST_LOAD, PRE_DUMP, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.error_store import ErrorStore

from workstation.deadlines import NOTICE_RULES, deadlines_for
from workstation.i18n import N_
from workstation.lifecycle import USER_ACTIONS
from workstation.services.models import MAX_ID
from workstation.vocabulary import (
    ABUSE_KINDS,
    ACTIVITY_KINDS,
    ACTIVITY_SERVICES,
    CREDIT_CODE,
    JURISDICTION,
    KEY_DATES,
    LANGUAGES,
    LITIGATION_KINDS,
    LITIGATION_SERVICES,
    PARTY_ROLES,
    RIGHT_KINDS,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    TRANSFER_DIRECTIONS,
    URGENCIES,
    always_confidential,
    is_credit_code,
    litigation_facet,
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


def credit_code_field() -> fields.String:
    """An optional unified social credit code, its form stated in the API's document (its check
    character cannot be: a mismatch is a 422, ``error_status``)."""
    return fields.String(load_default=None, allow_none=True, validate=check_credit_code,
                         metadata={"pattern": CREDIT_CODE})  # fmt: skip


def error_status(messages: Mapping[str, Any]) -> int:
    """400 for input the API's document refuses; 422 when all that is wrong is what no schema can
    state (a credit code whose check character does not match, dates of a matter out of order)."""
    flat = [str(m) for found in api_errors(messages).values() for m in found]
    return 422 if flat and all(m.endswith(tuple(map(str, UNSTATEABLE))) for m in flat) else 400


#: the most parties, or rights, a case names (the form's script adds rows up to it)
MAX_LIST_ITEMS = 20


class PartySchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(load_default="respondent", validate=validate.OneOf(PARTY_ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = credit_code_field()


class RightSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(RIGHT_KINDS))
    number = fields.String(load_default="", validate=validate.Length(max=60))
    mark_text = fields.String(load_default="", validate=validate.Length(max=200))
    #: the right's own dates (the enterprise's): a trademark's registration starts its 10-year term
    #: (renewal), a patent's filing its patent years (annual fees); ``key_dates.registered_on`` is
    #: the contested mark's
    registered_on = fields.Date(
        metadata={"description": "this right's registration date: a trademark's starts its renewal term"}
    )
    filed_on = fields.Date(metadata={"description": "this right's filing date: a patent's annual fees run from it"})

    @post_load
    def _iso_dates(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        # Stored in the case's JSON as ISO strings, as the key dates are.
        for key in RIGHT_DATES:
            if key in data:
                data[key] = data[key].isoformat()
        return data


#: the dates a right may carry (``RightSchema``)
RIGHT_DATES = ("registered_on", "filed_on")


class RightRecordSchema(RightSchema):
    """A case's right as stored and shown (its dates already ISO strings)."""

    registered_on = fields.String(metadata={"format": "date"})
    filed_on = fields.String(metadata={"format": "date"})


class KeyDatesSchema(Schema):
    class Meta:
        unknown = RAISE

    known_on = fields.Date()
    published_on = fields.Date()
    registered_on = fields.Date(
        metadata={"description": "the contested mark's registration date: starts the 5 years for invalidation on "
                  "relative grounds (Trademark Law art. 45(1)); the enterprise's own mark's is rights[].registered_on"}
    )  # fmt: skip
    notice_received_on = fields.Date()
    infringement_started_on = fields.Date()
    filed_on = fields.Date(
        metadata={"description": "a patent's filing date, read only when no right gives its own rights[].filed_on "
                  "(a case with one patent): its annual fees"}
    )  # fmt: skip


class OrganisationSchema(Schema):
    """A company an activity deals with: its name and, for a Chinese company, its unified social
    credit code (a foreign company has none, so it is not required)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = credit_code_field()


MARKET_CODE = N_("Use two-letter country codes such as US, DE or EU.")
MISSING = N_("Missing data for required field.")
BLANK = N_("Must not be blank.")


def not_blank(value: str) -> None:
    """A text must say something: one of only spaces is refused."""
    if not value.strip():
        raise ValidationError(BLANK)


def text(max_length: int, **kwargs: Any) -> fields.String:
    """A text of 1 to ``max_length`` characters, not only spaces (stated to the API's document as
    the pattern ``\\S``, so a client generated from it never sends one the server refuses)."""
    metadata = {"pattern": r"\S", **kwargs.pop("metadata", {})}
    return fields.String(validate=[validate.Length(min=1, max=max_length), not_blank], metadata=metadata, **kwargs)


def load_input(schema: Schema, raw: Any, *, partial: bool = False) -> dict[str, Any]:
    """A request's JSON body as ``schema`` loads it; ValidationError (in the shape ``api_errors``
    flattens) when it is not a JSON object or the schema refuses it."""
    if not isinstance(raw, dict):
        raise ValidationError({"_request": ["The body must be a JSON object."]})
    return schema.load(raw, partial=partial)


NOT_FOR_KIND = N_("Not used for this kind of activity.")

#: What each kind of activity must say, beyond its kind and date (``counterparties`` is optional
#: for every kind): an R&D project its technical field and key technologies, trade its target
#: markets, an investment its target company, a technology transfer its direction, counterparty
#: and technology.
ACTIVITY_FIELDS: dict[str, tuple[str, ...]] = {
    "rd": ("technical_field", "key_technologies"),
    "trade": ("target_markets",),
    "investment": ("target_company",),
    "technology_transfer": ("direction", "counterparty", "technology"),
}


class ActivitySchema(Schema):
    """The activity a risk warning or an IP analysis is about (``ACTIVITY_FIELDS``)."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    #: when it happens: the signing, the launch, the first shipment... (a deadline: warned before it)
    date = fields.Date(required=True)
    counterparties = fields.List(
        fields.Nested(OrganisationSchema), load_default=list, validate=validate.Length(max=MAX_LIST_ITEMS)
    )
    technical_field = fields.String(validate=validate.OneOf(TECHNICAL_FIELDS))
    key_technologies = fields.List(text(200), validate=validate.Length(min=1, max=20))
    target_markets = fields.List(
        fields.String(validate=validate.Regexp(JURISDICTION, error=MARKET_CODE)),
        validate=validate.Length(min=1, max=50),
    )
    target_company = fields.Nested(OrganisationSchema)
    direction = fields.String(validate=validate.OneOf(TRANSFER_DIRECTIONS))
    counterparty = fields.Nested(OrganisationSchema)
    technology = text(500)

    @validates_schema
    def _the_kinds_fields(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # Each kind says what it needs, and nothing of another kind's: a form sends every
        # kind's fieldset, and what the chosen kind does not use must not be stored as if it did.
        needed = ACTIVITY_FIELDS.get(data.get("kind", ""), ())
        every = {name for names in ACTIVITY_FIELDS.values() for name in names}
        errors = {name: [MISSING] for name in needed if name not in data}
        errors |= {name: [NOT_FOR_KIND] for name in every - set(needed) if name in data}
        if errors:
            raise ValidationError(errors)

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["date"] = data["date"].isoformat()
        if "target_markets" in data:
            data["target_markets"] = list(dict.fromkeys(data["target_markets"]))
        if "key_technologies" in data:
            data["key_technologies"] = [t.strip() for t in data["key_technologies"]]
        if "technology" in data:
            data["technology"] = data["technology"].strip()
        return data


NOT_FOR_MATTER = N_("Not used for this kind of matter.")
DEMAND_BEFORE_WARNING = N_("The written demand cannot be sent before the warning was received.")
RECEIVED_BEFORE_SENT = N_("The written demand cannot be received before it was sent.")
#: Messages of what the API's document cannot state: a 422 when nothing else is wrong (``error_status``).
UNSTATEABLE = (CREDIT_CODE_CHECK, DEMAND_BEFORE_WARNING, RECEIVED_BEFORE_SENT)

#: What each kind of litigation matter says beyond its kind and its opponent: (the fields it must
#: have, those it may have), by its facet (``litigation_facet``: the abuse defended against, or the
#: kind). Squatting: the mark registered in bad faith; a malicious suit: the court, its case
#: number and when the complaint was served (the defence period runs from it); an abusive warning
#: and a declaration of non-infringement: when the warning came, and what it accuses; the
#: declaration also the written demand to sue, sent and received (its waiting period runs from them,
#: ``deadlines.declaration_wait``).
LITIGATION_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "squatting": (("squatted_mark",), ("mark_number",)),
    "malicious_suit": ((), ("court", "case_number", "served_on")),
    "abusive_warning": (("warning_received_on",), ("accused_subject",)),
    "non_infringement_declaration": (("warning_received_on", "accused_subject"),
                                     ("demand_sent_on", "demand_received_on")),
}  # fmt: skip
_LITIGATION_TEXTS = ("squatted_mark", "mark_number", "court", "case_number", "accused_subject")
_LITIGATION_DATES = ("served_on", "warning_received_on", "demand_sent_on", "demand_received_on")


class LitigationSchema(Schema):
    """What a litigation advice is about, when it is defence against an abuse of IP rights or a
    declaration of non-infringement (``LITIGATION_FIELDS``): the kind, the opponent (the squatter,
    the plaintiff, the sender of the warning: checked for conflicts of interest as a party), and
    the facts each kind asks."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(LITIGATION_KINDS))
    #: for an abuse defence: which abuse
    abuse = fields.String(validate=validate.OneOf(ABUSE_KINDS))
    opponent = fields.Nested(OrganisationSchema, required=True)
    squatted_mark = text(200)
    mark_number = text(60)
    court = text(200)
    case_number = text(100)
    served_on = fields.Date()
    warning_received_on = fields.Date()
    accused_subject = text(500)
    demand_sent_on = fields.Date()
    demand_received_on = fields.Date()

    @validates_schema
    def _the_kinds_fields(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # As for an activity: the form sends every kind's part, and only the chosen one's may be kept.
        if data.get("kind") == "abuse_defence" and "abuse" not in data:
            raise ValidationError({"abuse": [MISSING]})
        if data.get("kind") != "abuse_defence" and "abuse" in data:
            raise ValidationError({"abuse": [NOT_FOR_MATTER]})
        needed, optional = LITIGATION_FIELDS.get(litigation_facet(data) or "", ((), ()))
        every = {name for pair in LITIGATION_FIELDS.values() for names in pair for name in names}
        errors = {name: [MISSING] for name in needed if name not in data}
        errors |= {name: [NOT_FOR_MATTER] for name in every - {*needed, *optional} if name in data}
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        warned, sent, received = (data.get(k) for k in ("warning_received_on", "demand_sent_on", "demand_received_on"))
        if warned and sent and sent < warned:
            raise ValidationError({"demand_sent_on": [DEMAND_BEFORE_WARNING]})
        if sent and received and received < sent:
            raise ValidationError({"demand_received_on": [RECEIVED_BEFORE_SENT]})

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name in _LITIGATION_DATES:
            if name in data:
                data[name] = data[name].isoformat()
        for name in _LITIGATION_TEXTS:
            if name in data:
                data[name] = data[name].strip()
        return data


_LITIGATION_FIELD_NAMES = frozenset(LitigationSchema().fields)


class CaseInputSchema(Schema):
    """What an enterprise submits. Unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE

    right_type = fields.String(required=True, validate=validate.OneOf(RIGHT_TYPES))
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    title = text(MAX_TITLE, required=True)
    description = text(MAX_DESCRIPTION, required=True)
    jurisdiction = fields.String(
        load_default="CN",
        validate=validate.Regexp(JURISDICTION, error=N_("Use a two-letter code such as CN, US or EU.")),
    )
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    technical_field = fields.String(load_default="other", validate=validate.OneOf(TECHNICAL_FIELDS))
    confidential = fields.Boolean(load_default=None, allow_none=True)
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))
    parties = fields.List(fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=MAX_LIST_ITEMS))
    rights = fields.List(fields.Nested(RightSchema), load_default=list, validate=validate.Length(max=MAX_LIST_ITEMS))
    key_dates = fields.Nested(KeyDatesSchema, load_default=dict)
    #: the kind of official notice received on ``key_dates.notice_received_on``: which period it starts
    notice_kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(tuple(NOTICE_RULES)))
    #: the activity a risk warning or an IP analysis is about (``ACTIVITY_SERVICES``); none for the rest
    activity = fields.Nested(ActivitySchema, load_default=None, allow_none=True)
    #: a litigation advice's matter when it is an abuse defence or a declaration of non-infringement
    #: (``LITIGATION_SERVICES``; optional: other litigation advice has none); none for the rest
    litigation = fields.Nested(LitigationSchema, load_default=None, allow_none=True)

    #: the services whose case must name its activity (a subclass may ask it of fewer)
    activity_required_for: frozenset[str] = ACTIVITY_SERVICES

    @validates_schema
    def _always_confidential(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # Every way in (API JSON or multipart, the form, a coordinator's case) loads this schema:
        # the one place a trade secret is kept confidential.
        if data.get("confidential") is False and always_confidential(data.get("right_type")):
            raise ValidationError({"confidential": [N_("Trade-secret cases are always confidential.")]})

    @validates_schema
    def _activity_for_its_services(self, data: dict[str, Any], **_kwargs: Any) -> None:
        service, activity = data.get("service"), data.get("activity")
        if activity is None and service in self.activity_required_for:
            raise ValidationError({"activity": [ACTIVITY_NEEDED]})
        if activity is not None and service not in ACTIVITY_SERVICES:
            raise ValidationError({"activity": [ACTIVITY_NOT_FOR_SERVICE]})

    @validates_schema
    def _litigation_for_its_services(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("litigation") is not None and data.get("service") not in LITIGATION_SERVICES:
            raise ValidationError({"litigation": [LITIGATION_NOT_FOR_SERVICE]})

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["title"] = data["title"].strip()
        data["confidential"] = bool(data["confidential"]) or always_confidential(data["right_type"])
        data["key_dates"] = {k: v.isoformat() for k, v in data["key_dates"].items()}
        return data


ACTIVITY_NEEDED = N_("Say which activity this concerns: its kind, its date and what that kind asks.")
ACTIVITY_NOT_FOR_SERVICE = N_("Only a risk warning or an IP analysis concerns an activity.")
LITIGATION_NOT_FOR_SERVICE = N_(
    "Only litigation advice is about an abuse of rights or a declaration of non-infringement."
)


class MarkWarningInputSchema(CaseInputSchema):
    """A risk warning a coordinator opens from a look-alike match (``marks.risk_case_input``): it
    warns of a mark published by someone else, not of an activity of the enterprise's."""

    activity_required_for = ACTIVITY_SERVICES - {"risk_warning"}


case_input_schema = CaseInputSchema()
mark_warning_input_schema = MarkWarningInputSchema()


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
    for field, prefix in _FORM_LISTS.items():
        if rows := filled_rows(form, prefix):
            data[field] = [_row_values(form, prefix, i) for i in rows]
    dates = {k: form[k] for k in KEY_DATES if form.get(k)}
    if dates:
        data["key_dates"] = dates
    if form.get("activity_kind"):
        data["activity"] = form_to_activity(form)
    if form.get("litigation_kind"):
        data["litigation"] = form_to_litigation(form)
    return data


#: the inputs of each row of the intake form's lists of parties and of rights: a row's input is
#: named ``{prefix}_{input}_{row}`` (rows numbered from 0)
FORM_ROW_INPUTS: dict[str, tuple[str, ...]] = {
    "party": ("role", "name", "credit_code"),
    "right": ("kind", "number", "mark_text", *RIGHT_DATES),
    "counterparty": ("name", "credit_code"),  # an activity's other counterparties (``form_to_activity``)
}
#: which list of the API's case input each of the form's lists is
_FORM_LISTS = {"parties": "party", "rights": "right"}
#: the rows of each list the form shows without scripts (a script adds and removes rows)
FORM_ROWS_SHOWN = 3


def _row_numbers(form: Mapping[str, str], prefix: str) -> list[int]:
    """The numbers of the rows of a list the form sent, in order (a script may have added rows
    beyond those shown, so every number is looked at, up to two digits)."""
    pattern = re.compile(rf"{prefix}_(?:{'|'.join(FORM_ROW_INPUTS[prefix])})_(\d{{1,2}})")
    return sorted({int(found.group(1)) for key in form if (found := pattern.fullmatch(key))})


def _row_values(form: Mapping[str, str], prefix: str, row: int) -> dict[str, str]:
    """A row's non-blank inputs (a credit code in capitals); what is missing is the schema's to say."""
    values = {name: form.get(f"{prefix}_{name}_{row}", "").strip() for name in FORM_ROW_INPUTS[prefix]}
    if values.get("credit_code"):
        values["credit_code"] = values["credit_code"].upper()
    return {name: value for name, value in values.items() if value}


def filled_rows(form: Mapping[str, str], prefix: str) -> list[int]:
    """The rows of a list on the intake form that are filled in: the i-th party or right the
    schema speaks of is the i-th of these. A party's role alone does not fill a row (it is a
    choice that always has a value); blank rows are ignored."""
    return [i for i in _row_numbers(form, prefix) if set(_row_values(form, prefix, i)) - {"role"}]


def form_rows_shown(form: Mapping[str, str], prefix: str) -> range:
    """The rows of a list the form shows: at least ``FORM_ROWS_SHOWN``, and every row sent (a
    form shown again with its errors keeps the rows a script added)."""
    return range(max([FORM_ROWS_SHOWN - 1, *_row_numbers(form, prefix)]) + 1)


#: the form's name of each activity field that is one input (``form_to_activity``)
_ACTIVITY_INPUTS = {"kind": "activity_kind", "date": "activity_date", "technical_field": "activity_technical_field",
                    "direction": "transfer_direction", "technology": "technology"}  # fmt: skip
#: the form's names of the name and the credit code of each organisation an activity names
_ACTIVITY_ORGANISATIONS = {"target_company": "target_company", "counterparty": "transfer_counterparty"}


def form_to_activity(form: Mapping[str, str]) -> dict[str, Any]:
    """The activity part of the intake form as the API's ``activity``: of the kind-specific parts
    (the form shows them all, so that it works without scripts), only the chosen kind's is taken.
    Key technologies are one a line, target markets separated by commas or spaces."""
    kind = form["activity_kind"]
    needed = {"kind", "date", *ACTIVITY_FIELDS.get(kind, ())}
    activity: dict[str, Any] = {
        name: form[key].strip()
        for name, key in _ACTIVITY_INPUTS.items()
        if name in needed and form.get(key, "").strip()
    }
    if "key_technologies" in needed and form.get("key_technologies", "").strip():
        activity["key_technologies"] = [t.strip() for t in form["key_technologies"].splitlines() if t.strip()]
    if "target_markets" in needed and form.get("target_markets", "").strip():
        activity["target_markets"] = re.split(r"[\s,，;；、]+", form["target_markets"].strip().upper())
    for name, prefix in _ACTIVITY_ORGANISATIONS.items():
        if name in needed and (organisation := _form_organisation(form, f"{prefix}_name", f"{prefix}_credit_code")):
            activity[name] = organisation
    if rows := filled_rows(form, "counterparty"):  # rows as for parties and rights (a script adds them)
        activity["counterparties"] = [_row_values(form, "counterparty", i) for i in rows]
    return activity


def _form_organisation(form: Mapping[str, str], name_key: str, code_key: str) -> dict[str, str]:
    """A name and credit code from the form ({} when both are blank; a code without a name is
    kept, for the schema to say the name is missing)."""
    name, code = form.get(name_key, "").strip(), form.get(code_key, "").strip()
    return {**({"name": name} if name else {}), **({"credit_code": code.upper()} if code else {})}


#: the form's name of each input of the litigation part (the rest are named as the API's fields)
LITIGATION_INPUTS = {"kind": "litigation_kind", "abuse": "abuse_kind", "court": "suit_court",
                     "case_number": "suit_case_number", "served_on": "suit_served_on"}  # fmt: skip
_OPPONENT_INPUTS = ("opponent_name", "opponent_credit_code")


def form_to_litigation(form: Mapping[str, str]) -> dict[str, Any]:
    """The litigation part of the intake form as the API's ``litigation``: the form shows every
    kind's part (it works without scripts); only the chosen kind's, and for an abuse defence the
    chosen abuse's, is taken (``LITIGATION_FIELDS``)."""
    matter = {"kind": form["litigation_kind"].strip()}
    if matter["kind"] == "abuse_defence" and form.get("abuse_kind", "").strip():
        matter["abuse"] = form["abuse_kind"].strip()
    needed, optional = LITIGATION_FIELDS.get(litigation_facet(matter) or "", ((), ()))
    for name in (*needed, *optional):
        value = form.get(LITIGATION_INPUTS.get(name, name), "").strip()
        if value:
            matter[name] = value
    if opponent := _form_organisation(form, *_OPPONENT_INPUTS):
        matter["opponent"] = opponent
    return matter


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


def case_errors_to_form(errors: dict[str, Any], form: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The schema's (nested) errors keyed by the intake form's flat field names; ``form``: what
    was submitted, to tell which row an error about a party, a right or a counterparty belongs to."""
    rows = filled_rows(form or {}, "counterparty")
    flat: dict[str, list[str]] = {}
    for field, messages in errors.items():
        if field in _FORM_LISTS and isinstance(messages, dict):
            for where, found in _row_errors_to_form(messages, _FORM_LISTS[field], form or {}, field):
                flat.setdefault(where, []).extend(found)
        elif field == "activity" and isinstance(messages, dict):
            for found, where in _activity_errors_to_form(messages, rows):
                flat.setdefault(where, []).extend(found)
        elif field == "litigation" and isinstance(messages, dict):
            for found, where in _litigation_errors_to_form(messages):
                flat.setdefault(where, []).extend(found)
        elif field == "key_dates" and isinstance(messages, dict):
            for name, sub_messages in messages.items():
                flat.setdefault(name if name in KEY_DATES else "key_dates", []).extend(sub_messages)
        else:
            flat.setdefault(field, []).extend(messages if isinstance(messages, list) else [str(messages)])
    return flat


def _row_errors_to_form(
    errors: Mapping[Any, Any], prefix: str, form: Mapping[str, str], field: str
) -> list[tuple[str, list[str]]]:
    """A list's errors by item as (the form's input, messages) pairs: an item's error goes to the
    input of the row it came from (``filled_rows``), anything else to the list (``field``)."""
    rows = filled_rows(form, prefix)
    found: list[tuple[str, list[str]]] = []
    for i, item in errors.items():
        if isinstance(i, int) and i < len(rows) and isinstance(item, Mapping):
            found += [(f"{prefix}_{name}_{rows[i]}", _messages_in(messages)) for name, messages in item.items()]
        else:
            found.append((field, _messages_in(item)))
    return found


def _activity_errors_to_form(errors: Mapping[str, Any], rows: list[int]) -> list[tuple[list[str], str]]:
    """The activity's nested errors as (messages, the intake form's field name) pairs; ``rows``:
    the form's rows the counterparties came from (``filled_rows``)."""
    found: list[tuple[list[str], str]] = []
    for name, messages in errors.items():
        if name in _ACTIVITY_INPUTS:
            found.append((_messages_in(messages), _ACTIVITY_INPUTS[name]))
        elif name in _ACTIVITY_ORGANISATIONS and isinstance(messages, dict):
            prefix = _ACTIVITY_ORGANISATIONS[name]
            for sub, sub_messages in messages.items():
                found.append((_messages_in(sub_messages), f"{prefix}_{sub}"))
        elif name == "counterparties" and isinstance(messages, dict):
            for i, item in messages.items():
                row = rows[i] if isinstance(i, int) and i < len(rows) else i
                for sub, sub_messages in item.items() if isinstance(item, dict) else []:
                    found.append((_messages_in(sub_messages), f"counterparty_{sub}_{row}"))
        elif name in ("key_technologies", "target_markets"):
            found.append((_messages_in(messages), name))
        else:
            found.append((_messages_in(messages), "activity"))
    return found


def _litigation_errors_to_form(errors: Mapping[str, Any]) -> list[tuple[list[str], str]]:
    """The litigation part's nested errors as (messages, the intake form's field name) pairs: an
    opponent that is missing is said on its name, anything not a field on the whole part."""
    found: list[tuple[list[str], str]] = []
    for name, messages in errors.items():
        if name == "opponent" and isinstance(messages, Mapping):
            found += [(_messages_in(inner), f"opponent_{sub}") for sub, inner in messages.items()]
        elif name == "opponent":
            found.append((_messages_in(messages), "opponent_name"))
        elif name in _LITIGATION_FIELD_NAMES:
            found.append((_messages_in(messages), LITIGATION_INPUTS.get(name, name)))
        else:
            found.append((_messages_in(messages), "litigation"))
    return found


def _messages_in(value: Any) -> list[str]:
    """Every message in a (nested) marshmallow error value, once each."""
    if isinstance(value, Mapping):
        return list(dict.fromkeys(m for inner in value.values() for m in _messages_in(inner)))
    if isinstance(value, list | tuple):
        return list(dict.fromkeys(m for inner in value for m in _messages_in(inner)))
    return [value]


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


class ActivityRecordSchema(ActivitySchema):
    """A case's activity as stored and shown (its date already an ISO string)."""

    date = fields.String(metadata={"format": "date"})


class LitigationRecordSchema(LitigationSchema):
    """A case's litigation matter as stored and shown (its dates already ISO strings)."""

    served_on = fields.String(metadata={"format": "date"})
    warning_received_on = fields.String(metadata={"format": "date"})
    demand_sent_on = fields.String(metadata={"format": "date"})
    demand_received_on = fields.String(metadata={"format": "date"})


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
    rights = fields.List(fields.Nested(RightRecordSchema))
    key_dates = fields.Dict(keys=fields.String(), values=fields.String())
    notice_kind = fields.String(allow_none=True)
    activity = fields.Nested(ActivityRecordSchema, allow_none=True)
    litigation = fields.Nested(LitigationRecordSchema, allow_none=True)
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


# What ``quick_dump`` writes itself: a field of exactly these marshmallow types, and a value of
# these Python types, comes out as the type's ``_serialize`` writes it (String: the text as it is;
# Boolean: the bool; Integer: the int; DateTime, ISO format: ``datetime.isoformat``).
_PLAIN_WRITES: dict[type, tuple[type, Callable[[Any], Any]]] = {
    fields.String: (str, lambda value: value),
    fields.Boolean: (bool, lambda value: value),
    fields.Integer: (int, lambda value: value),
    fields.DateTime: (datetime, datetime.isoformat),
}


def _field_writer(field: fields.Field) -> Callable[[Any], Any] | None:
    """A function that writes a value of ``field`` (None included) as the field's ``_serialize``
    does, or raises ``_NotPlainError`` for a value it leaves to marshmallow; None for a field of a
    kind (or with options) only marshmallow's code writes."""
    kind = type(field)
    if kind in _PLAIN_WRITES:
        if getattr(field, "format", None) not in (None, "iso") or getattr(field, "as_string", False):
            return None
        plain_type, write = _PLAIN_WRITES[kind]
        return lambda value: value if value is None else write(value) if type(value) is plain_type else _not_plain()
    if kind is fields.Nested and not field.many and not field.schema.many and _dump_plan(field.schema) is not None:
        schema = field.schema
        return lambda value: None if value is None else quick_dump(schema, value)
    if kind is fields.List and (inner := _field_writer(field.inner)) is not None:
        return lambda value: (
            None if value is None else [inner(each) for each in value] if isinstance(value, list) else _not_plain()
        )
    if kind is fields.Dict and all(f is None or type(f) is fields.String for f in (field.key_field, field.value_field)):
        return lambda value: None if value is None else dict(value) if _all_text(value) else _not_plain()
    return None


def _not_plain() -> Any:
    raise _NotPlainError


def _all_text(value: Any) -> bool:
    """A dict of text to text: what a Dict of Strings (or of anything) writes as a copy."""
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


@functools.cache
def _dump_plan(schema: Schema) -> tuple[tuple[str, str, str, fields.Field, Callable[[Any], Any] | None], ...] | None:
    """For each field ``schema`` dumps: (its key, its name, its attribute, the field, its writer if
    it has one: ``_field_writer``). None if the schema may do more than its fields (hooks, its own
    ``get_attribute``): ``quick_dump`` then leaves it all to marshmallow."""
    hooks = schema._hooks  # noqa: SLF001
    if hooks[PRE_DUMP] or hooks[POST_DUMP] or type(schema).get_attribute is not Schema.get_attribute:
        return None
    plan = []
    for name, field in schema.dump_fields.items():
        attribute = name if field.attribute is None else field.attribute
        write = None if "." in attribute else _field_writer(field)
        plan.append((name if field.data_key is None else field.data_key, name, attribute, field, write))
    return tuple(plan)


def quick_dump(schema: Schema, obj: Any) -> dict[str, Any]:
    """``schema.dump(obj)`` of one object or dict, the same dict, for less: marshmallow's
    ``serialize`` went through five calls a field (accessor, missing, format) to copy a string,
    and a whole ``dump`` for each nested object: half of the API's answer with a case. A value its
    field's writer takes (``_field_writer``) is written by it; any other is marshmallow's (its
    ``serialize``), and so is all of an object of another mapping type."""
    plan = _dump_plan(schema)
    is_dict = type(obj) is dict
    if plan is None or (not is_dict and hasattr(obj, "__getitem__")):
        return schema.dump(obj)
    out: dict[str, Any] = {}
    for key, name, attribute, field, write in plan:
        value = obj.get(attribute, missing) if is_dict else getattr(obj, attribute, missing)
        if write is not None and value is not missing:
            try:
                out[key] = write(value)
                continue
            except _NotPlainError:
                pass
        value = field.serialize(name, obj, accessor=schema.get_attribute)
        if value is not missing:
            out[key] = value
    return out


class _NotPlainError(Exception):
    """A value ``quick_dump`` or ``quick_load`` leaves to marshmallow: to write or read it another
    way, or to say what is wrong."""


# The marshmallow types ``quick_load`` reads itself, each from a JSON value of one Python type
# (anything else is marshmallow's, which converts or refuses it): the conversion, as the type's
# ``_deserialize`` makes it from that value.
_PLAIN_READS: dict[type, tuple[type, Callable[[Any], Any]]] = {
    fields.String: (str, lambda value: value),
    fields.Boolean: (bool, lambda value: value),
    fields.Date: (str, date.fromisoformat),  # (the "iso" format's own function; "" raises, as it does there)
}


def _field_reader(field: fields.Field) -> Callable[[Any], Any] | None:
    """A function that turns a present JSON value of ``field`` into what the field's ``deserialize``
    gives, validators run, or raises ``_NotPlainError`` / ``ValidationError``; None if the field is of a
    kind (or has options) that only marshmallow's own code is trusted to read."""
    if field.pre_load or field.post_load:
        return None
    kind = type(field)
    if kind in _PLAIN_READS and getattr(field, "format", None) in (None, "iso", "iso8601"):
        json_type, convert = _PLAIN_READS[kind]

        def read_plain(value: Any) -> Any:
            if type(value) is not json_type:
                raise _NotPlainError
            try:
                return convert(value)
            except ValueError:
                raise _NotPlainError from None

        read = read_plain
    elif kind is fields.Nested and not field.many and field.unknown is None and not field.schema.many:
        if (nested := _load_plan(field.schema)) is None:
            return None
        read = nested
    elif kind is fields.List and (inner := _field_reader(field.inner)) is not None:

        def read_list(value: Any) -> list[Any]:
            if type(value) is not list:
                raise _NotPlainError
            return [inner(each) for each in value]

        read = read_list
    else:
        return None
    return _checked_by(field, read)


def _checked_by(field: fields.Field, read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``read`` of a value, None as the field takes it, then the field's validators (as its
    ``_validate_all``: a Validator raises; any other callable may also say False)."""
    validators = tuple(field.validators)
    allow_none = field.allow_none

    def read_checked(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise _NotPlainError
        out = read(value)
        for validator in validators:
            if validator(out) is False and not isinstance(validator, validate.Validator):
                raise _NotPlainError
        return out

    return read_checked


@functools.cache
def _load_plan(schema: Schema) -> Callable[[Any], dict[str, Any]] | None:
    """``schema.load`` of a JSON object that is plain for it (every field of a kind ``_field_reader``
    compiles, every value valid), as one function made from the schema's fields and hooks; it
    raises ``_NotPlainError`` / ``ValidationError`` for anything else. None if the schema does what
    the plan does not copy (pre-load or field hooks, unknown fields kept, many, partial)."""
    hooks = schema._hooks  # noqa: SLF001
    if hooks[PRE_LOAD] or hooks[VALIDATES] or schema.many or schema.partial or schema.unknown == INCLUDE:
        return None
    if type(schema)._do_load is not Schema._do_load or type(schema)._deserialize is not Schema._deserialize:  # noqa: SLF001
        return None
    readers = []
    for name, field in schema.load_fields.items():
        attribute = name if field.attribute is None else field.attribute
        if "." in attribute or (reader := _field_reader(field)) is None:
            return None
        key = name if field.data_key is None else field.data_key
        readers.append((key, attribute, field.required, field.load_default, reader))
    known, refuse_unknown = frozenset(key for key, *_ in readers), schema.unknown == RAISE
    validates, post = bool(hooks[VALIDATES_SCHEMA]), bool(hooks[POST_LOAD])

    def load(raw: Any) -> dict[str, Any]:
        if type(raw) is not dict or (refuse_unknown and not known.issuperset(raw)):
            raise _NotPlainError
        data: dict[str, Any] = {}
        for key, attribute, required, default, reader in readers:
            if (value := raw.get(key, missing)) is not missing:
                data[attribute] = reader(value)
            elif required:
                raise _NotPlainError
            elif default is not missing:
                data[attribute] = default() if callable(default) else default
        if validates and _schema_errors(schema, data, raw):
            raise _NotPlainError
        if post:  # (its ValidationError is the caller's to catch)
            data = schema._invoke_load_processors(  # noqa: SLF001
                POST_LOAD, data, many=False, original_data=raw, partial=None, unknown=schema.unknown
            )
        return data

    return load


def _schema_errors(schema: Schema, data: dict[str, Any], raw: Any) -> dict[str, Any]:
    """What the schema's ``validates_schema`` methods find in ``data``, run as ``_do_load`` runs them."""
    store = ErrorStore()
    for pass_collection in (True, False):
        schema._invoke_schema_validators(  # noqa: SLF001
            error_store=store, pass_collection=pass_collection, data=data, original_data=raw,
            many=False, partial=None, unknown=schema.unknown, field_errors=False,
        )  # fmt: skip
    return store.errors


def quick_load(schema: Schema, raw: Any) -> dict[str, Any]:
    """``schema.load(raw)``, the same dict or the same ValidationError, for less: marshmallow went
    through a closure, an error store and six calls a field, and a whole ``load`` for each nested
    object, a quarter of intake's request. Input that is plain for the schema (``_load_plan``) is
    read by a plan made from the schema's own fields, validators and hooks; anything else (an
    error, a value marshmallow would convert) is marshmallow's ``load``."""
    plan = _load_plan(schema)
    if plan is not None:
        try:
            return plan(raw)
        except (_NotPlainError, ValidationError):
            pass
    return schema.load(raw)


def deadlines_json(deadlines: list[Any]) -> list[dict[str, Any]]:
    """``deadlines.Deadline``s as the API shows them."""
    return [
        {
            "code": d.code,
            "kind": d.kind,
            "due": (due := d.due.isoformat()),
            # (an SLA's due_at is its due, the same object: an aware datetime's isoformat asks its
            # zone for the offset, a fifth of this)
            "due_at": due if d.due_at is d.due else d.due_at.isoformat(),
            "label": d.label,
            "basis": d.basis,
            "running": d.running,
            "breached": d.breached,
            "paused": d.paused,
            "provisional": d.provisional,
            # what the date means (a reference date, not legal advice; from when an action may be
            # filed...): {"zh", "en"} or null
            "note": d.note,
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
