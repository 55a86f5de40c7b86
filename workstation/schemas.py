"""The case intake schema, used by the JSON API and the web form alike."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

RIGHT_TYPES = ("patent", "trademark", "copyright", "trade_secret", "geographical_indication", "other")
SERVICES = ("infringement_judgment", "compensation_estimate", "litigation_advice", "consultation", "risk_warning")
TECHNICAL_FIELDS = (
    "new_materials",
    "light_chemicals",
    "intelligent_manufacturing",
    "biomedicine",
    "modern_agriculture",
    "electronics_ict",
    "other",
)
LANGUAGES = ("zh", "en")
URGENCIES = ("low", "normal", "high")
PARTY_ROLES = ("respondent", "applicant", "third_party")
RIGHT_KINDS = ("patent", "trademark", "copyright", "software_copyright", "gi", "other")
KEY_DATES = ("known_on", "published_on", "registered_on", "notice_received_on", "infringement_started_on")

# Unified social credit code (GB 32100-2015): 18 characters, no I, O, S, V or Z.
CREDIT_CODE = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000


class PartySchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(load_default="respondent", validate=validate.OneOf(PARTY_ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(CREDIT_CODE, error="Not a unified social credit code (18 characters)."),
    )


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
        validate=validate.Regexp(r"^[A-Z]{2}$", error="Use a two-letter code such as CN, US or EU."),
    )
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    technical_field = fields.String(load_default="other", validate=validate.OneOf(TECHNICAL_FIELDS))
    confidential = fields.Boolean(load_default=None, allow_none=True)
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))
    parties = fields.List(fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=20))
    rights = fields.List(fields.Nested(RightSchema), load_default=list, validate=validate.Length(max=20))
    key_dates = fields.Nested(KeyDatesSchema, load_default=dict)

    @validates_schema
    def _text_not_blank(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors = {k: ["Must not be blank."] for k in ("title", "description") if k in data and not data[k].strip()}
        if errors:
            raise ValidationError(errors)

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["title"] = data["title"].strip()
        if data["confidential"] is None:
            # Trade secrets are confidential unless the enterprise says otherwise.
            data["confidential"] = data["right_type"] == "trade_secret"
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
        )
        if form.get(k, "") != ""
    }
    if form.get("confidential"):
        data["confidential"] = form["confidential"]
    if form.get("respondent_name", "").strip():
        party = {"role": "respondent", "name": form["respondent_name"].strip()}
        if form.get("respondent_credit_code", "").strip():
            party["credit_code"] = form["respondent_credit_code"].strip().upper()
        data["parties"] = [party]
    if form.get("right_kind") and (form.get("right_number") or form.get("mark_text")):
        data["rights"] = [
            {"kind": form["right_kind"], "number": form.get("right_number", ""), "mark_text": form.get("mark_text", "")}
        ]
    dates = {k: form[k] for k in KEY_DATES if form.get(k)}
    if dates:
        data["key_dates"] = dates
    return data
