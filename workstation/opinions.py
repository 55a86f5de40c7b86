"""The expert's opinion, in the form that fits the service the enterprise asked for. Pure: plain data
in, a JSON-able body out; no database, no Flask.

Each service has a marshmallow schema (``OPINION_SCHEMAS``) and a list of its fields in display
order (``OPINION_FIELDS``) from which the form and the printable page are rendered. Every opinion
has a summary. ``load_opinion`` validates and returns the body to store. A compensation estimate
runs the calculator (``workstation.compensation``) once, when the opinion is issued, and keeps its
result in the body (the law cited, the amounts as strings, the working in Chinese and English), so
a stored opinion is never recomputed and reads the same however the calculator changes later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from workstation import compensation
from workstation.compensation import (
    LICENCE,
    LOSS,
    METHODS,
    PROFIT,
    STATUTORY,
    CompensationError,
    CompensationInput,
    format_date,
    format_money,
    format_multiple,
)
from workstation.deadlines import zone
from workstation.i18n import N_, Localized, Message, in_language
from workstation.vocabulary import RIGHT_TYPES, gi_protected_as_product

MAX_SUMMARY = 2_000
MAX_SHORT = 500
MAX_TEXT = 5_000
MAX_LONG = 20_000
#: one trillion yuan: far above any award, low enough that a slip of the keyboard is caught
MAX_AMOUNT = Decimal(10) ** 12
MAX_MULTIPLE = Decimal(100)

CONCLUSIONS = ("likely", "unlikely", "needs_evidence")
ROUTES = (
    "civil_litigation",
    "administrative_complaint",
    "platform_takedown",
    "customs_protection",
    "warning_letter",
    "negotiation",
    "mediation",
    "arbitration",
    "criminal_complaint",
)
RISK_LEVELS = ("low", "medium", "high")

# Custom messages (English, translated where they are shown).
BLANK = N_("Must not be blank.")
MISSING = N_("Missing data for required field.")
CHOOSE = N_("Choose one of the options.")
AMOUNT = N_("Enter an amount.")
NEGATIVE = N_("Must not be negative.")
TOO_LARGE = N_("Enter an amount of at most one trillion yuan.")
MULTIPLE = N_("Enter a multiple, such as 2 or 2.5.")
MULTIPLE_TOO_LARGE = N_("Enter a multiple of at most 100.")
DATE = N_("Enter a date as YYYY-MM-DD.")
ONLY_STATUTORY = N_("Only used with statutory damages: leave it blank.")
ONLY_LICENCE = N_("Only used with the licence-fee method: leave it blank.")
ONLY_WILFUL = N_("Only used for wilful infringement with serious circumstances: leave it blank.")

# --- the fields, in display order -------------------------------------------------------------


@dataclass(frozen=True)
class OpinionField:
    """One field of an opinion, for the form and the printable page.

    ``kind``: ``line`` (one line of text), ``text`` (paragraphs), ``choice`` (one code),
    ``choices`` (a list of codes), ``date``, ``money`` (yuan), ``multiple`` or ``boolean``.
    ``label``, ``hint``, ``group`` and the choices' names are English, marked for the catalog:
    templates show them through ``_()``.
    """

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    max_length: int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    group: str = ""
    #: shown on the printed opinion when the field was left blank (else the field is not shown)
    if_blank: str = ""
    #: a section of a risk warning or an IP analysis that only these kinds of activity have
    #: (``ACTIVITY_SECTIONS``; empty: every case of the service has the field)
    activity_kinds: frozenset[str] = frozenset()
    #: a section of a litigation advice that only these kinds of matter have (``LITIGATION_SECTIONS``;
    #: the abuse defended against, or the kind: ``schemas.litigation_facet``)
    litigation_facets: frozenset[str] = frozenset()

    @property
    def conditional(self) -> bool:
        """Whether only some cases of the service have this field (an activity's, a matter's)."""
        return bool(self.activity_kinds or self.litigation_facets)

    def is_for(self, activity_kind: str | None, litigation_facet: str | None) -> bool:
        """Whether a case of this kind of activity or matter has this field."""
        return (
            not self.conditional or activity_kind in self.activity_kinds or litigation_facet in self.litigation_facets
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _name in self.choices)

    def choice_label(self, code: str) -> str:
        """The English name of ``code`` (the code itself if unknown)."""
        return dict(self.choices).get(code, code)


SUMMARY = OpinionField(
    "summary",
    N_("Summary"),
    required=True,
    max_length=MAX_SUMMARY,
    hint=N_("A few sentences the enterprise reads first; it is also sent in the email."),
)

CONCLUSION_NAMES = (
    ("likely", N_("Infringement is likely")),
    ("unlikely", N_("Infringement is unlikely")),
    ("needs_evidence", N_("Further evidence is needed")),
)
METHOD_NAMES = (
    (LOSS, N_("The rights holder's actual loss")),
    (PROFIT, N_("The infringer's profit from the infringement")),
    (LICENCE, N_("A multiple of the licence fee")),
    (STATUTORY, N_("Statutory damages")),
)
ROUTE_NAMES = (
    ("civil_litigation", N_("Civil litigation")),
    ("administrative_complaint", N_("Complaint to the administrative authority")),
    ("platform_takedown", N_("Takedown notice to the e-commerce platform")),
    ("customs_protection", N_("Customs protection")),
    ("warning_letter", N_("Lawyer's warning letter")),
    ("negotiation", N_("Negotiated settlement")),
    ("mediation", N_("Mediation")),
    ("arbitration", N_("Arbitration")),
    ("criminal_complaint", N_("Criminal complaint to the police")),
)
RISK_LEVEL_NAMES = (
    ("low", N_("Low risk")),
    ("medium", N_("Medium risk")),
    ("high", N_("High risk")),
)

#: The sections of a risk warning's or an IP analysis's opinion that depend on its activity's
#: kind (``cases.activity``): (name, heading, hint, the kinds that have it). Each is a finding
#: (``name``) and its risk level (``name_risk``), required for those kinds and refused for others.
ACTIVITY_SECTIONS: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    ("freedom_to_operate", N_("Freedom to operate and patent landscape"),
     N_("The patents in force that the product, process or technology may fall within, where, and their holders."),
     frozenset({"rd", "trade", "technology_transfer"})),
    ("trademark_clearance", N_("Trademark clearance in the target markets"),
     N_("Earlier marks, in each target market, that the marks to be used there may conflict with."),
     frozenset({"trade"})),
    ("counterparty_standing", N_("The counterparty's IP standing and disputes"),
     N_("What the counterparty or target company holds, its pending and past IP disputes, and its conduct."),
     frozenset({"investment", "technology_transfer"})),
    ("ownership_chain", N_("Ownership chain of the technology"),
     N_("From the inventors to the present holder: assignments, employees' inventions, licences and charges."),
     frozenset({"investment", "technology_transfer"})),
)  # fmt: skip
_ACTIVITY_SECTION = N_("Findings for the activity")


def _activity_section_fields() -> tuple[OpinionField, ...]:
    fields_: list[OpinionField] = []
    for name, heading, hint, kinds in ACTIVITY_SECTIONS:
        fields_ += [
            OpinionField(name, heading, max_length=MAX_LONG, hint=hint, group=_ACTIVITY_SECTION, activity_kinds=kinds),
            OpinionField(f"{name}_risk", N_("Risk level of this finding"), "choice", choices=RISK_LEVEL_NAMES,
                         group=_ACTIVITY_SECTION, activity_kinds=kinds),
        ]  # fmt: skip
    return tuple(fields_)


#: The sections of a litigation advice's opinion that depend on its matter (``cases.litigation``):
#: (name, heading, hint, the facets that have it: the abuse defended against, or the kind). Each
#: is required for those and refused for the others. The law the hints name is for reference, not
#: legal advice: Trademark Law (2019) arts. 4 and 44(1) (a bad-faith filing not meant for use is
#: refused, and invalidated at any time), 7 (good faith), 32 and 45(1) (prior rights: 5 years, no
#: limit against bad faith for a well-known mark), 33 (opposition), 49(2) (3 years' non-use), 68(4)
#: (a malicious suit is penalised by the court); SPC Reply, Fa Shi [2021] No. 11 (法释〔2021〕11号,
#: in force 2021-06-03: a defendant who proves the suit an abuse of rights recovers its reasonable
#: lawyers', travel and lodging expenses, in the suit or separately); SPC Interpretation Fa Shi
#: [2009] No. 21 art. 18 (the warning, the written demand and the waiting period: ``deadlines.
#: declaration_wait``).
_ABUSES = frozenset({"squatting", "malicious_suit", "abusive_warning"})
LITIGATION_SECTIONS: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    ("abuse_findings", N_("The opponent's bad faith and the abuse"),
     N_("The facts that show the right is used in bad faith: marks filed in bulk or copying others' known marks "
        "with no intent to use them, a suit or warning with no sound basis, or aimed at a competitor's business."),
     _ABUSES),
    ("squatting_route", N_("Opposition, invalidation or cancellation of the squatted mark"),
     N_("Trademark Law arts. 4 and 44(1) (bad-faith filing, invalidation at any time), 7, 32 and 45 (prior rights), "
        "33 (opposition), 49(2) (3 years' non-use): which applies, by when, and the evidence for it."),
     frozenset({"squatting"})),
    ("suit_defence", N_("Defence against the suit and counterclaim"),
     N_("The defence on the merits and on jurisdiction; the claim for the reasonable expenses the abusive suit "
        "caused (SPC Reply, Fa Shi [2021] No. 11) and for damages; Trademark Law art. 68(4) on malicious suits."),
     frozenset({"malicious_suit"})),
    ("warning_response", N_("Answer to the warning letter"),
     N_("Whether the warning is sound; the answer to its sender; what to tell customers and platforms; a claim for "
        "commercial defamation where the warning spread false accusations; whether to seek a declaration of "
        "non-infringement."),
     frozenset({"abusive_warning"})),
    ("warning_step", N_("The warning, the written demand and the waiting period"),
     N_("Whether the warning concerns the enterprise; the written demand to sue (sent and received when); when the "
        "rights holder's time ends (SPC Fa Shi [2009] No. 21 art. 18: 1 month from receipt or 2 from dispatch; "
        "followed by analogy for rights other than patents)."),
     frozenset({"non_infringement_declaration"})),
    ("non_infringement_analysis", N_("Why the product or process does not infringe"),
     N_("Feature by feature, or mark against sign, with the evidence; and defences such as prior art, prior use or "
        "the right's invalidity."),
     frozenset({"non_infringement_declaration"})),
)  # fmt: skip
_LITIGATION_SECTION = N_("Findings for the matter")


def _litigation_section_fields() -> tuple[OpinionField, ...]:
    return tuple(
        OpinionField(name, heading, max_length=MAX_LONG, hint=hint, group=_LITIGATION_SECTION, litigation_facets=facets)
        for name, heading, hint, facets in LITIGATION_SECTIONS
    )


#: A case a panel sat on (``services.panels``): the lead expert's opinion records what the panel
#: concluded and any member's dissent, whatever the service. Required when a panel sat (the
#: conclusion; "none" is said by leaving the dissent blank), refused otherwise.
_PANEL = N_("The panel of further experts")
PANEL_FIELDS: tuple[OpinionField, ...] = (
    OpinionField("panel_conclusion", N_("The panel's conclusion"), required=True, max_length=MAX_LONG, group=_PANEL,
                 hint=N_("What the panel concluded, in the light of the members' views on the case's page.")),
    OpinionField("panel_dissent", N_("Dissent"), max_length=MAX_LONG, group=_PANEL, if_blank=N_("None"),
                 hint=N_("A member's dissenting view and who holds it; leave blank if none.")),
)  # fmt: skip
ONLY_PANEL = N_("Only for a case a panel sat on: leave it blank.")

_PERIOD = N_("Infringement period")
_AMOUNTS = N_("Amounts")
_PUNITIVE = N_("Punitive damages")

OPINION_FIELDS: dict[str, tuple[OpinionField, ...]] = {
    "infringement_judgment": (
        SUMMARY,
        OpinionField("rights_relied_on", N_("Rights relied on"), required=True, max_length=MAX_TEXT),
        OpinionField("accused_subject", N_("Accused product or sign"), required=True, max_length=MAX_TEXT),
        OpinionField(
            "comparison",
            N_("Comparison"),
            required=True,
            max_length=MAX_LONG,
            hint=N_("Feature by feature, or mark against sign, with the evidence relied on."),
        ),
        OpinionField("conclusion", N_("Conclusion"), "choice", required=True, choices=CONCLUSION_NAMES),
        OpinionField("next_steps", N_("Recommended next steps"), required=True, max_length=MAX_TEXT),
    ),
    "compensation_estimate": (
        SUMMARY,
        OpinionField("method", N_("Method of calculation"), "choice", required=True, choices=METHOD_NAMES),
        OpinionField("infringement_start", N_("Infringement began on"), "date", required=True, group=_PERIOD),
        OpinionField(
            "infringement_end",
            N_("Infringement ended on"),
            "date",
            hint=N_("Leave blank if the infringement is still going on."),
            group=_PERIOD,
            if_blank=N_("Still going on"),
        ),
        OpinionField(
            "loss",
            N_("Rights holder's actual loss (yuan)"),
            "money",
            hint=N_("Fill in only the amounts that can be determined: the law ranks the methods."),
            group=_AMOUNTS,
        ),
        OpinionField("profit", N_("Infringer's profit (yuan)"), "money", group=_AMOUNTS),
        OpinionField("licence_fee", N_("Licence fee (yuan)"), "money", group=_AMOUNTS),
        OpinionField(
            "licence_multiple",
            N_("Multiple of the licence fee"),
            "multiple",
            hint=N_("Patents and trademarks: a reasonable multiple, at least 1."),
            group=_AMOUNTS,
        ),
        OpinionField(
            "statutory_amount",
            N_("Proposed statutory damages (yuan)"),
            "money",
            hint=N_("Leave blank to show the whole statutory range."),
            group=_AMOUNTS,
        ),
        OpinionField(
            "reasonable_expenses",
            N_("Reasonable expenses for stopping the infringement (yuan)"),
            "money",
            hint=N_("Notarisation, investigation and lawyers' fees; added on top of the damages."),
            group=_AMOUNTS,
        ),
        OpinionField(
            "wilful_serious",
            N_("Wilful infringement with serious circumstances"),
            "boolean",
            group=_PUNITIVE,
        ),
        OpinionField(
            "punitive_multiple",
            N_("Punitive multiple"),
            "multiple",
            hint=N_("Leave blank to show the whole range the law allows."),
            group=_PUNITIVE,
        ),
        OpinionField(
            "punitive_base",
            N_("Part of the base from conduct after punitive damages came into force (yuan)"),
            "money",
            hint=N_("Needed only when the infringement began before punitive damages existed for the right."),
            group=_PUNITIVE,
        ),
        OpinionField("comments", N_("The expert's comments"), max_length=MAX_TEXT),
    ),
    "litigation_advice": (
        SUMMARY,
        OpinionField("options_considered", N_("Options considered"), "choices", required=True, choices=ROUTE_NAMES),
        OpinionField("options_analysis", N_("Analysis of the options"), max_length=MAX_LONG),
        OpinionField("recommended_route", N_("Recommended route"), required=True, max_length=MAX_TEXT),
        OpinionField(
            "evidence_to_secure",
            N_("Evidence to secure"),
            required=True,
            max_length=MAX_TEXT,
            hint=N_("For example notarised purchases, web page preservation, or an application to preserve evidence."),
        ),
        *_litigation_section_fields(),
        OpinionField("risks", N_("Risks"), required=True, max_length=MAX_TEXT),
        OpinionField("estimated_cost", N_("Estimated cost"), "line", max_length=MAX_SHORT),
        OpinionField("estimated_time", N_("Estimated time"), "line", max_length=MAX_SHORT),
    ),
    "consultation": (
        SUMMARY,
        OpinionField("question", N_("The question as understood"), required=True, max_length=MAX_TEXT),
        OpinionField("answer", N_("Answer to the question"), required=True, max_length=MAX_LONG),
    ),
    "risk_warning": (
        SUMMARY,
        OpinionField("risks_identified", N_("Risks identified"), required=True, max_length=MAX_LONG),
        *_activity_section_fields(),
        OpinionField("risk_level", N_("Risk level"), "choice", required=True, choices=RISK_LEVEL_NAMES),
        OpinionField("measures", N_("Recommended measures"), required=True, max_length=MAX_TEXT),
    ),
    "ip_analysis": (
        SUMMARY,
        OpinionField(
            "analysis",
            N_("Analysis and argumentation"),
            required=True,
            max_length=MAX_LONG,
            hint=N_("The IP questions the activity raises, the facts and the law relied on, and the reasoning."),
        ),
        *_activity_section_fields(),
        OpinionField("risk_level", N_("Risk level"), "choice", required=True, choices=RISK_LEVEL_NAMES),
        OpinionField("measures", N_("Recommended measures"), required=True, max_length=MAX_TEXT),
    ),
}


# --- the schemas ------------------------------------------------------------------------------


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError(BLANK)


def _text(max_length: int, required: bool = False) -> fields.String:
    length = validate.Length(max=max_length)
    return fields.String(required=required, validate=[length, _not_blank] if required else length)


def _choice(codes: tuple[str, ...], required: bool = True) -> fields.String:
    return fields.String(required=required, validate=validate.OneOf(codes, error=CHOOSE))


def _money() -> fields.Decimal:
    return fields.Decimal(
        load_default=None,
        allow_none=True,
        error_messages={"invalid": AMOUNT, "special": AMOUNT, "too_large": TOO_LARGE},
        validate=[validate.Range(min=0, error=NEGATIVE), validate.Range(max=MAX_AMOUNT, error=TOO_LARGE)],
    )


def _multiple() -> fields.Decimal:
    return fields.Decimal(
        load_default=None,
        allow_none=True,
        error_messages={"invalid": MULTIPLE, "special": MULTIPLE, "too_large": MULTIPLE_TOO_LARGE},
        validate=[validate.Range(min=0, error=NEGATIVE), validate.Range(max=MAX_MULTIPLE, error=MULTIPLE_TOO_LARGE)],
    )


class OpinionSchema(Schema):
    """What every opinion has; unknown fields are an error. Text is trimmed (line ends made ``\\n``);
    a required text that is only blanks is an error, an optional one is left out."""

    class Meta:
        unknown = RAISE

    summary = _text(MAX_SUMMARY, required=True)
    # (``PANEL_FIELDS``: ``load_opinion`` requires the conclusion when a panel sat, refuses both if not)
    panel_conclusion = _text(MAX_LONG)
    panel_dissent = _text(MAX_LONG)

    @pre_load
    def _line_ends(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {k: v.replace("\r\n", "\n").replace("\r", "\n") if isinstance(v, str) else v for k, v in data.items()}

    @post_load
    def _trim(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name, field in self.fields.items():
            if type(field) is fields.String and isinstance(data.get(name), str):
                data[name] = data[name].strip()
                if not data[name] and not field.required:
                    del data[name]
        return data


class InfringementJudgmentSchema(OpinionSchema):
    rights_relied_on = _text(MAX_TEXT, required=True)
    accused_subject = _text(MAX_TEXT, required=True)
    comparison = _text(MAX_LONG, required=True)
    conclusion = _choice(CONCLUSIONS)
    next_steps = _text(MAX_TEXT, required=True)


class CompensationEstimateSchema(OpinionSchema):
    """The calculator's input (the right type comes from the case) and the expert's comments."""

    method = _choice(METHODS)
    infringement_start = fields.Date(required=True, error_messages={"invalid": DATE})
    infringement_end = fields.Date(load_default=None, allow_none=True, error_messages={"invalid": DATE})
    loss = _money()
    profit = _money()
    licence_fee = _money()
    licence_multiple = _multiple()
    statutory_amount = _money()
    reasonable_expenses = _money()
    wilful_serious = fields.Boolean(load_default=False, error_messages={"invalid": N_("Not a valid boolean.")})
    punitive_multiple = _multiple()
    punitive_base = _money()
    comments = _text(MAX_TEXT)

    @validates_schema
    def _only_what_the_method_uses(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # The calculator ignores these when the method does not use them; an opinion that showed
        # them would mislead its reader, so they are refused instead.
        errors: dict[str, list[str]] = {}
        method = data.get("method")
        if data.get("statutory_amount") is not None and method != STATUTORY:
            errors["statutory_amount"] = [ONLY_STATUTORY]
        if data.get("licence_multiple") is not None and method != LICENCE:
            errors["licence_multiple"] = [ONLY_LICENCE]
        if data.get("punitive_base") is not None and not data.get("wilful_serious"):
            errors["punitive_base"] = [ONLY_WILFUL]
        if errors:
            raise ValidationError(errors)


class LitigationAdviceSchema(OpinionSchema):
    options_considered = fields.List(
        _choice(ROUTES),
        required=True,
        validate=validate.Length(min=1, error=N_("Choose at least one option.")),
    )
    options_analysis = _text(MAX_LONG)
    recommended_route = _text(MAX_TEXT, required=True)
    evidence_to_secure = _text(MAX_TEXT, required=True)
    risks = _text(MAX_TEXT, required=True)
    estimated_cost = _text(MAX_SHORT)
    estimated_time = _text(MAX_SHORT)
    # (``LITIGATION_SECTIONS``: optional here; ``load_opinion`` requires those of the case's matter)
    abuse_findings = _text(MAX_LONG)
    squatting_route = _text(MAX_LONG)
    suit_defence = _text(MAX_LONG)
    warning_response = _text(MAX_LONG)
    warning_step = _text(MAX_LONG)
    non_infringement_analysis = _text(MAX_LONG)

    @post_load
    def _distinct_options(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["options_considered"] = list(dict.fromkeys(data["options_considered"]))
        return data


class ConsultationSchema(OpinionSchema):
    question = _text(MAX_TEXT, required=True)
    answer = _text(MAX_LONG, required=True)


class ActivitySectionsSchema(OpinionSchema):
    """The sections per activity (``ACTIVITY_SECTIONS``): each optional here; ``load_opinion``
    requires those of the case's kind of activity and refuses the others."""

    freedom_to_operate = _text(MAX_LONG)
    freedom_to_operate_risk = _choice(RISK_LEVELS, required=False)
    trademark_clearance = _text(MAX_LONG)
    trademark_clearance_risk = _choice(RISK_LEVELS, required=False)
    counterparty_standing = _text(MAX_LONG)
    counterparty_standing_risk = _choice(RISK_LEVELS, required=False)
    ownership_chain = _text(MAX_LONG)
    ownership_chain_risk = _choice(RISK_LEVELS, required=False)


class RiskWarningSchema(ActivitySectionsSchema):
    risks_identified = _text(MAX_LONG, required=True)
    risk_level = _choice(RISK_LEVELS)
    measures = _text(MAX_TEXT, required=True)


class IpAnalysisSchema(ActivitySectionsSchema):
    analysis = _text(MAX_LONG, required=True)
    risk_level = _choice(RISK_LEVELS)
    measures = _text(MAX_TEXT, required=True)


OPINION_SCHEMAS: dict[str, type[Schema]] = {
    "infringement_judgment": InfringementJudgmentSchema,
    "compensation_estimate": CompensationEstimateSchema,
    "litigation_advice": LitigationAdviceSchema,
    "consultation": ConsultationSchema,
    "risk_warning": RiskWarningSchema,
    "ip_analysis": IpAnalysisSchema,
}


# --- the form ---------------------------------------------------------------------------------

_MONEY_NOISE = re.compile(r"[\s,，¥￥]|元$")


def form_to_opinion_input(service: str, form: Any) -> dict[str, Any]:
    """Shape the flat opinion form (a werkzeug ``MultiDict``; a plain dict works too) into the
    schema's input. Empty fields are left out, so a missing required one is reported as missing;
    fields not in the service's form (the CSRF token) are not passed on. Amounts lose the
    thousands separators and the currency sign a person may type (``¥200,000``)."""
    data: dict[str, Any] = {}
    for spec in (*_fields_of(service), *PANEL_FIELDS):
        if spec.kind == "choices":
            values = form.getlist(spec.name) if hasattr(form, "getlist") else form.get(spec.name, [])
            values = [values] if isinstance(values, str) else list(values)
            chosen = [v for v in values if v != ""]
            if chosen:
                data[spec.name] = chosen
            continue
        value = form.get(spec.name, "")
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        if spec.kind in ("money", "multiple"):
            value = _MONEY_NOISE.sub("", value.strip())
        elif spec.kind != "text":
            value = value.strip()
        if value.strip() != "":
            data[spec.name] = value
    return data


# --- loading ----------------------------------------------------------------------------------


def load_opinion(
    service: str,
    data: Mapping[str, Any],
    right_type: str,
    today: date | None = None,
    activity_kind: str | None = None,
    panel_sat: bool = False,
    litigation_facet: str | None = None,
    right_kinds: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate ``data`` for ``service`` and return the JSON-able body to store.

    Raises ``ValidationError`` with messages keyed by field (errors that belong to no field under
    ``_schema``). For a compensation estimate the calculator runs here, for the case's
    ``right_type``, and its result is kept in the body under ``result``. ``activity_kind``: the
    kind of the case's activity, whose sections (``ACTIVITY_SECTIONS``) are required, the other
    kinds' refused; ``litigation_facet`` likewise for a litigation advice's matter
    (``LITIGATION_SECTIONS``). ``panel_sat``: a panel sat on the case, whose conclusion
    (``PANEL_FIELDS``) is required; otherwise the panel's fields are refused.
    """
    loaded = OPINION_SCHEMAS[_check_service(service)]().load(data)
    _check_sections(service, loaded, activity_kind, litigation_facet)
    _check_panel_fields(loaded, panel_sat)
    if service == "compensation_estimate":
        return _compensation_body(loaded, right_type, today, gi_route(right_kinds))
    return {k: _jsonable(v) for k, v in loaded.items()}


def opinion_fields(
    service: str, activity_kind: str | None = None, panel_sat: bool = False, litigation_facet: str | None = None
) -> tuple[OpinionField, ...]:
    """The fields of ``service``'s opinion for a case whose activity is of ``activity_kind`` (or
    whose litigation matter is ``litigation_facet``): the sections of that kind required, those
    of other kinds left out (the form and the print); and, when a panel sat on the case
    (``panel_sat``), the panel's (``PANEL_FIELDS``) last."""
    return tuple(
        replace(f, required=True) if f.conditional else f
        for f in _fields_of(service)
        if f.is_for(activity_kind, litigation_facet)
    ) + (PANEL_FIELDS if panel_sat else ())


def _check_panel_fields(loaded: Mapping[str, Any], panel_sat: bool) -> None:
    if panel_sat and "panel_conclusion" not in loaded:
        raise ValidationError({"panel_conclusion": [MISSING]})
    if not panel_sat:
        errors = {spec.name: [ONLY_PANEL] for spec in PANEL_FIELDS if spec.name in loaded}
        if errors:
            raise ValidationError(errors)


NOT_FOR_ACTIVITY = N_("Not a section for this kind of activity.")
NOT_FOR_MATTER = N_("Not a section for this kind of matter.")


def _check_sections(
    service: str, loaded: Mapping[str, Any], activity_kind: str | None, litigation_facet: str | None
) -> None:
    # A section's finding is required for its kinds; its risk level goes with the finding.
    errors: dict[str, list[str]] = {}
    for spec in _fields_of(service):
        if not spec.conditional:
            continue
        if not spec.is_for(activity_kind, litigation_facet):
            if spec.name in loaded:
                errors[spec.name] = [NOT_FOR_ACTIVITY if spec.activity_kinds else NOT_FOR_MATTER]
        elif spec.name not in loaded:
            errors[spec.name] = [CHOOSE if spec.kind == "choice" else MISSING]
    if errors:
        raise ValidationError(errors)


def _check_service(service: str) -> str:
    if service not in OPINION_SCHEMAS:
        raise ValueError(f"unknown service {service!r}")
    return service


def _fields_of(service: str) -> tuple[OpinionField, ...]:
    return OPINION_FIELDS[_check_service(service)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


_INPUT_FIELDS = (
    "infringement_end",
    "loss",
    "profit",
    "licence_fee",
    "licence_multiple",
    "statutory_amount",
    "wilful_serious",
    "punitive_multiple",
    "punitive_base",
)


def gi_route(right_kinds: Iterable[str]) -> str:
    """A geographical indication's route for the calculator, from the kinds of the case's rights
    (``right_kinds``: a GI without a mark is a GI product)."""
    return compensation.GI_AS_PRODUCT if gi_protected_as_product(right_kinds) else compensation.GI_AS_MARK


def _compensation_body(loaded: dict[str, Any], right_type: str, today: date | None, route: str) -> dict[str, Any]:
    inp = CompensationInput(
        right_type=right_type,
        gi_route=route,
        method=loaded["method"],
        infringement_start=loaded["infringement_start"],
        reasonable_expenses=loaded.get("reasonable_expenses") or Decimal(0),
        **{name: loaded.get(name) for name in _INPUT_FIELDS if name in loaded},
    )
    try:
        est = compensation.estimate(inp, today)
    except CompensationError as err:
        field = err.field if err.field in CompensationEstimateSchema().fields else "_schema"
        raise ValidationError({field: [calculator_message(err.message)]}) from None
    body = {k: _jsonable(v) for k, v in loaded.items() if v is not None}
    body["result"] = {
        "right_type": right_type,
        **({"gi_route": route} if right_type == "geographical_indication" else {}),
        "method": est.method,
        "law": {
            "key": est.law.key,
            "article": est.law.article,
            "effective": est.law.effective.isoformat(),
            "zh": est.law.cite("zh"),
            "en": est.law.cite("en"),
        },
        "low": str(est.low),
        "high": str(est.high),
        "amount": None if est.amount is None else str(est.amount),
        "base": None if est.base is None else str(est.base),
        "expenses": str(est.expenses),
        "total": {language: _total(est.low, est.high, language) for language in ("zh", "en")},
        "working": {"zh": compensation.render_working(est, "zh"), "en": compensation.render_working(est, "en")},
        "calculated_on": (today or date.today()).isoformat(),
    }
    return body


def _total(low: Decimal, high: Decimal, language: str) -> str:
    if low == high:
        return format_money(low, language)
    return in_language(
        N_("%(low)s to %(high)s"), language, low=format_money(low, language), high=format_money(high, language)
    )


# The calculator's messages are English; these make them translatable where they are shown.
CALCULATOR_MESSAGES = (
    N_("Enter an amount."),
    N_("Must not be negative."),
    N_("Required for this method."),
    N_("The infringement cannot start in the future."),
    N_("The infringement cannot end before it starts."),
    N_("The end date is in the future; leave it blank if ongoing."),
    N_("A punitive multiple needs a finding of wilful infringement with serious circumstances."),
    N_("No punitive multiple is modelled for other rights: it comes from the right's own statute."),
    N_(
        "Statutory damages cannot be multiplied: the punitive base is the loss, the profit or the licence-fee "
        "multiple (SPC Interpretation on punitive damages, Fa Shi [2021] No. 4, art. 5)."
    ),
    N_("A reasonable multiple of the licence fee is at least 1."),
    N_("Cannot exceed the base."),
)

_CALCULATOR_PATTERNS = (
    (
        re.compile(r"Must be between (?P<min>\S+) and (?P<max>\S+) under (?P<law>.+)\."),
        N_("Must be between %(min)s and %(max)s under %(law)s."),
    ),
    (re.compile(r"(?P<law>.+) provides no (?P<method>.+) method\."), N_("%(law)s provides no %(method)s method.")),
    (
        re.compile(
            r"Under (?P<law>.+) the (?P<earlier>.+) comes before the (?P<method>.+): "
            r"use it, or leave it blank if it cannot be determined\."
        ),
        N_(
            "Under %(law)s the %(earlier)s comes before the %(method)s: use it, or leave it blank if it cannot be "
            "determined."
        ),
    ),
    (
        re.compile(r"(?P<law>.+) \(applicable to this infringement period\) provides no punitive damages\."),
        N_("%(law)s (applicable to this infringement period) provides no punitive damages."),
    ),
    (
        re.compile(r"(?P<law>.+) provides punitive damages for trade-secret infringement only, not for confusion\."),
        N_("%(law)s provides punitive damages for trade-secret infringement only, not for confusion."),
    ),
    (
        re.compile(r"(?P<law>.+) refers to the licence fee itself, not a multiple of it\."),
        N_("%(law)s refers to the licence fee itself, not a multiple of it."),
    ),
    (
        re.compile(
            r"The infringement began before punitive damages existed \((?P<date>[\d-]+)\): state the part of the "
            r"base that comes from conduct on or after that date\."
        ),
        N_(
            "The infringement began before punitive damages existed (%(date)s): state the part of the base that "
            "comes from conduct on or after that date."
        ),
    ),
    (
        re.compile(
            r"The calculator's rules for this right start on (?P<date>[\d-]+); "
            r"earlier infringement needs the law of its time\."
        ),
        N_("The calculator's rules for this right start on %(date)s; earlier infringement needs the law of its time."),
    ),
)


def calculator_message(message: str) -> str:
    """A calculator message as a ``Message`` the pages translate (the same English for the API)."""
    for pattern, template in _CALCULATOR_PATTERNS:
        if match := pattern.fullmatch(message):
            params: dict[str, object] = dict(match.groupdict())
            if "law" in params:
                params["law"] = _law_in_both_languages(str(params["law"]))
            return Message(template, **params)
    return message


def _law_in_both_languages(cited: str) -> str:
    """The statute the calculator cited in English, with its Chinese citation for Chinese pages."""
    for rules in compensation.RULES.values():
        for rule in rules:
            if rule.cite("en") == cited:
                return Localized({"en": cited, "zh": rule.cite("zh")})
    return cited


# --- helpers for the views --------------------------------------------------------------------


#: One line of the compensation form's hints per text of the damages law, with or without punitive damages.
_HINT = N_("%(law)s, for infringement ending on or after %(day)s: %(statutory)s.")
_HINT_WITH_PUNITIVE = N_("%(law)s, for infringement ending on or after %(day)s: %(statutory)s; %(punitive)s.")
_STATUTORY_SPAN = N_("statutory damages %(min)s to %(max)s")
_STATUTORY_UP_TO = N_("statutory damages up to %(max)s")
_NO_STATUTORY = N_("no statutory range")
_PUNITIVE_SPAN = N_("punitive damages %(min)s to %(max)s times the base")


def statutory_hints(right_type: str, language: str = "zh", right_kinds: Iterable[str] = ()) -> list[str]:
    """For the compensation form: each text of the damages law for ``right_type`` (a GI by its
    route, from the case's ``right_kinds``), newest first, with the period it governs, its
    statutory range and its punitive multiple (zh, else en)."""
    family = compensation.family_of(right_type, gi_route(right_kinds)) if right_type in RIGHT_TYPES else right_type
    language = language if language == "zh" else "en"  # (any other locale has always had the English)
    return [_hint(rule, language) for rule in reversed(compensation.RULES.get(family, ()))]


def _hint(rule: compensation.Rule, language: str) -> str:
    if rule.statutory:
        low, high = (format_money(v, language) for v in rule.statutory)
        span = _STATUTORY_SPAN if rule.statutory[0] else _STATUTORY_UP_TO
        statutory = in_language(span, language, min=low, max=high)
    else:
        statutory = in_language(_NO_STATUTORY, language)
    params = {"law": rule.cite(language), "day": format_date(rule.effective, language), "statutory": statutory}
    if rule.punitive is None:
        return in_language(_HINT, language, **params)
    low_m, high_m = (format_multiple(m) for m in rule.punitive)
    punitive = in_language(_PUNITIVE_SPAN, language, min=low_m, max=high_m)
    return in_language(_HINT_WITH_PUNITIVE, language, punitive=punitive, **params)


def issued_on(issued_at: datetime, tz: tzinfo | None = None) -> date:
    """The date an opinion bears: the day it was issued in China (naive datetimes are UTC)."""
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=UTC)
    return issued_at.astimezone(tz or zone()).date()
