"""The OpenAPI document of ``/api/v1``, built by apispec from the marshmallow schemas."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from workstation.bulk import ACTIONS as BULK_ACTIONS
from workstation.bulk import MAX_CASES
from workstation.compensation import LICENCE, STATUTORY
from workstation.config import TOKEN_MAX_DAYS
from workstation.evidence import MAX_FILES
from workstation.lifecycle import ACTIVE_FOR_EXPERT, STATUSES, USER_ACTIONS
from workstation.opinions import OPINION_SCHEMAS
from workstation.referrals import MOVES as REFERRAL_MOVES
from workstation.search_syntax import MAX_LENGTH, MAX_TERMS
from workstation.services.accounts import DELIVERIES, LANGUAGE_CHOICES, MANDATORY_KINDS, NAME_MAX, NOTIFICATION_KINDS
from workstation.services.auth import TOKEN_NAME_MAX
from workstation.services.bulk import SCHEMAS as BULK_SCHEMAS
from workstation.services.bulk import SELECTIONS
from workstation.services.classification import ClassificationSchema
from workstation.services.conversation import MAX_BODY, MAX_PAGE_SIZE, MessageInputSchema, MessageSchema
from workstation.services.exports import FORMATS, MEDIA_TYPES
from workstation.services.marks import WatchedMarkSchema
from workstation.services.models import MAX_ID
from workstation.services.notices import KINDS
from workstation.services.paging import MAX_PAGE
from workstation.services.panels import DifficultSchema, PanelInputSchema, ViewInputSchema
from workstation.services.pool import ExpertSchema
from workstation.services.ratings import RatingInputSchema, RatingSchema
from workstation.services.referrals import (
    ANSWER_MAX,
    PartnerInputSchema,
    PartnerSchema,
    ReferralChangeSchema,
    ReferralInputSchema,
    ReferralSchema,
)
from workstation.services.schemas import (
    ACTIVITY_FIELDS,
    LITIGATION_FIELDS,
    LITIGATION_SERVICES,
    RIGHT_TYPES,
    SERVICES,
    CaseInputSchema,
    CaseSchema,
    ErrorSchema,
    EventSchema,
    QueueCaseSchema,
    TransitionSchema,
)
from workstation.services.search import PAGE_MAX
from workstation.services.statistics import FORMATS as STATISTICS_FORMATS
from workstation.services.statistics import MEDIA_TYPES as STATISTICS_MEDIA_TYPES
from workstation.services.training import DraftInputSchema, DraftSchema, ReviewInputSchema
from workstation.services.views import MAX_VIEWS, SavedViewInputSchema, SavedViewSchema
from workstation.services.webhooks import WebhookChangesSchema, WebhookInputSchema, WebhookSchema
from workstation.statistics import DAY_PATTERN, MAX_DAYS, PERIOD_PATTERN, YEARS
from workstation.training import COMPETENCES
from workstation.vocabulary import ACTIVITY_SERVICES


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {400: "Bad input", 401: "No valid bearer token", 403: "Not allowed", 404: "No such thing (or not yours)",
               409: "The case's status does not allow this", 413: "A file is too large",
               422: "Well-formed, but what it says cannot be taken (a credit code's check character, a CSV's "
                    "columns, dates that do not make a period)",
               415: "A file's type or content is not accepted"}  # fmt: skip
    return {str(c): {"description": meaning[c], "content": {"application/json": {"schema": "Error"}}} for c in codes}


def _json(schema: str | dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
#: A database id in a path: a larger number matches no route (404).
ID = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}


def _id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def _choice(name: str, values: tuple[str, ...]) -> dict[str, Any]:
    """An optional query parameter taking one of ``values`` (anything else is a 400)."""
    return {"name": name, "in": "query", "schema": {"type": "string", "enum": list(values)}}


@cache
def openapi_document(token_max_days: int = TOKEN_MAX_DAYS) -> dict[str, Any]:
    """The document; ``token_max_days``: the configured longest token lifetime, which it states."""
    spec = APISpec(
        title="IP rights-protection workstation API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (("MessageInput", MessageInputSchema), ("Message", MessageSchema),
                         ("CaseInput", CaseInputSchema), ("Case", CaseSchema), ("Event", EventSchema),
                         ("Transition", TransitionSchema), ("Error", ErrorSchema),
                         ("Expert", ExpertSchema), ("WatchedMark", WatchedMarkSchema),
                         ("RatingInput", RatingInputSchema), ("Rating", RatingSchema),
                         ("WebhookInput", WebhookInputSchema), ("Webhook", WebhookSchema),
                         ("WebhookChanges", WebhookChangesSchema),
                         ("SavedViewInput", SavedViewInputSchema), ("SavedView", SavedViewSchema),
                         ("PartnerInput", PartnerInputSchema), ("Partner", PartnerSchema),
                         ("PartnerChanges", PartnerInputSchema(partial=True)),
                         ("ReferralInput", ReferralInputSchema), ("Referral", ReferralSchema),
                         ("ReferralChange", ReferralChangeSchema),
                         # PATCH changes only the fields it names: none is required.
                         ("ExpertChanges", ExpertSchema(partial=True)),
                         ("QueueCase", QueueCaseSchema(exclude=("description",)))):  # fmt: skip
        spec.components.schema(name, schema=schema)
    secured = [{"bearer": []}]
    _case_paths(spec, secured)
    _thread_paths(spec, secured)
    _case_outcome_paths(spec, secured)
    _case_list_paths(spec, secured)
    _pool_paths(spec, secured)
    _early_warning_paths(spec, secured)
    _token_paths(spec, secured, token_max_days)
    _webhook_paths(spec, secured)
    _view_paths(spec, secured)
    _statistics_paths(spec, secured)
    _referral_paths(spec, secured)
    _me_paths(spec, secured)
    _panel_paths(spec, secured)
    _bulk_paths(spec, secured)
    _training_paths(spec, secured)
    document = spec.to_dict()
    _say_what_the_server_refuses(document)
    return _with_retries(document)


#: What ``storable.refusal`` refuses in any text (the NUL character), as JSON Schema says it.
NO_NUL = {"not": {"pattern": "\u0000"}}


def _say_what_the_server_refuses(document: dict[str, Any]) -> None:
    """Constraints the marshmallow schemas cannot state, added so that a client generated from the
    document sends nothing the server refuses: no NUL in any text (path, query and body alike),
    and a case's activity exactly for the services that take one."""
    _every_string(document, lambda schema: schema.update(NO_NUL))
    _opinion_constraints(document["components"]["schemas"])
    services_with = sorted(ACTIVITY_SERVICES)
    services_without = [s for s in SERVICES if s not in ACTIVITY_SERVICES]
    activity = document["components"]["schemas"]["Activity"]
    every = {name for names in ACTIVITY_FIELDS.values() for name in names}
    activity["anyOf"] = [
        {"properties": {"kind": {"enum": [kind]}}, "required": ["kind", "date", *needed],
         **({"not": {"anyOf": [{"required": [name]} for name in sorted(every - set(needed))]}})}
        for kind, needed in ACTIVITY_FIELDS.items()
    ]  # fmt: skip
    activity["properties"]["technology"]["pattern"] = r"\S"
    activity["properties"]["key_technologies"]["items"]["pattern"] = r"\S"
    for name in ("Expert", "ExpertChanges"):  # (apispec writes the values' schema there)
        document["components"]["schemas"][name]["properties"]["competence"]["additionalProperties"] = False
    document["components"]["schemas"]["CaseInput"]["allOf"] = [
        {"anyOf": [
            {"properties": {"service": {"enum": services_with},
                            "activity": {"$ref": "#/components/schemas/Activity"}},
             "required": ["activity"]},
            {"properties": {"service": {"enum": services_without}}, "not": {"required": ["activity"]}},
        ]},
        _litigation_only_for_its_services(document["components"]["schemas"]["Litigation"]),
    ]  # fmt: skip


def _litigation_only_for_its_services(litigation: dict[str, Any]) -> dict[str, Any]:
    """The litigation matter's fields per kind (``LITIGATION_FIELDS``: each abuse's, or the kind's),
    none of another's, no blank text; and a matter only for the services that take one (optional
    there). The order of its dates (the demand after the warning, received after sent) no JSON
    Schema can state: a 422 (``schemas.error_status``)."""
    every = {name for pair in LITIGATION_FIELDS.values() for names in pair for name in names}
    variants = []
    for facet, (needed, optional) in LITIGATION_FIELDS.items():
        abuse = facet if facet != "non_infringement_declaration" else None
        kind = "abuse_defence" if abuse else facet
        refused = sorted(every - {*needed, *optional} | ({"abuse"} if not abuse else set()))
        properties: dict[str, Any] = {"kind": {"enum": [kind]}, **({"abuse": {"enum": [abuse]}} if abuse else {})}
        variants.append({"properties": properties, "required": ["kind", "opponent", *(["abuse"] if abuse else []),
                         *needed], "not": {"anyOf": [{"required": [name]} for name in refused]}})  # fmt: skip
    litigation["anyOf"] = variants
    for prop in litigation["properties"].values():
        if prop.get("type") == "string" and "format" not in prop and "enum" not in prop:
            prop["pattern"] = r"\S"
    others = [s for s in SERVICES if s not in LITIGATION_SERVICES]
    return {"anyOf": [
        {"properties": {"service": {"enum": sorted(LITIGATION_SERVICES)},
                        "litigation": {"$ref": "#/components/schemas/Litigation"}}},
        {"properties": {"service": {"enum": others}}, "not": {"required": ["litigation"]}},
    ]}  # fmt: skip


def _every_string(node: Any, change: Any) -> None:
    """Call ``change`` on every schema of a string that is text (not a file, not a choice)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and node.get("format") != "binary":
            change(node)
        for value in node.values():
            _every_string(value, change)
    elif isinstance(node, list):
        for value in node:
            _every_string(value, change)


#: The POSTs that create something and take an ``Idempotency-Key`` (``api.idempotent``). Not
#: ``POST /api/v1/tokens``: its answer holds the new token, which is never stored (only its hash);
#: a token whose answer was lost is listed by ``GET /api/v1/tokens`` and can be revoked.
IDEMPOTENT_POSTS = (
    "/api/v1/cases",
    "/api/v1/cases/{reference}/messages",
    "/api/v1/cases/{reference}/opinion",
    "/api/v1/cases/{reference}/transitions",
    "/api/v1/bulk-actions",
    "/api/v1/experts",
    "/api/v1/experts/imports",
    "/api/v1/marks",
    "/api/v1/views",
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key of the client's choosing (1 to 255 printable ASCII characters; a UUID is usual), the same "
        "for every retry of one request. The first request with it does the work; a retry with the same "
        "key and the same request (method, path, body) gets the first answer again, with "
        "`Idempotent-Replayed: true`, and creates nothing: retry after a timeout or a 503 without fear "
        "of a second case. The same key with another request is a 422. Keys are each account's own and "
        "are kept for 24 hours (WORKSTATION_IDEMPOTENCY_KEY_HOURS). A request that failed (4xx, 5xx) "
        "keeps nothing: its retry is tried afresh."
    ),
    # (printable ASCII; HTTP drops spaces at either end of a header's value)
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
}
UNAVAILABLE = {
    "description": "The database is unavailable for a moment (a restart, a failover): nothing was done; "
    "try again after Retry-After seconds (with the same Idempotency-Key)",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _with_retries(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation may answer 503 (``UNAVAILABLE``); the creating POSTs take an
    ``Idempotency-Key`` (``IDEMPOTENT_POSTS``), and answer 422 to the same key with another request."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation["responses"]["503"] = UNAVAILABLE
            if method == "post" and path in IDEMPOTENT_POSTS:
                operation["parameters"] = [*operation.get("parameters", []), IDEMPOTENCY_KEY]
                reused = "This Idempotency-Key was used for another request"
                earlier = operation["responses"].get("422", {}).get("description")
                operation["responses"]["422"] = {
                    "description": f"{earlier}; or: {reused}" if earlier else reused,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
    return document


def _case_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """Cases: submitting one, reading it and its timeline, moving it on; the expert's queue."""
    spec.path(
        "/api/v1/cases",
        operations={
            "post": {
                "summary": "Submit a case (enterprises)",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": "CaseInput"},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "case": {"$ref": "#/components/schemas/CaseInput"},
                                    "evidence": {
                                        "type": "array",
                                        "maxItems": MAX_FILES,
                                        "items": {"type": "string", "format": "binary"},
                                    },
                                },
                                "required": ["case"],
                                "additionalProperties": False,
                            },
                            "encoding": {"case": {"contentType": "application/json"}},
                        },
                    },
                },
                "responses": {"201": _json("Case", "Submitted"), **_errors(400, 401, 403, 413, 415, 422)},
            }
        },
    )
    spec.path(
        "/api/v1/cases/{reference}",
        operations={"get": {"summary": "A case", "security": secured, "parameters": [REFERENCE],
                            "responses": {"200": _json("Case", "The case"), **_errors(401, 404)}}},
    )  # fmt: skip
    events = {
        "type": "object",
        "properties": {"reference": {"type": "string"}, "events": {"type": "array", "items": "Event"}},
    }
    spec.path(
        "/api/v1/cases/{reference}/events",
        operations={"get": {"summary": "The case's timeline", "security": secured, "parameters": [REFERENCE],
                            "responses": {"200": _json(events, "Events, oldest first"), **_errors(401, 404)}}},
    )  # fmt: skip
    spec.path(
        "/api/v1/cases/{reference}/transitions",
        operations={
            "post": {
                "summary": f"Move the case on: one of {', '.join(USER_ACTIONS)}",
                "security": secured,
                "parameters": [REFERENCE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": "Transition"}}},
                "responses": {"200": _json("Case", "The case after the move"), **_errors(400, 401, 403, 404, 409)},
            }
        },
    )
    spec.components.schema("Classification", schema=ClassificationSchema)
    spec.path(
        "/api/v1/cases/{reference}/classification",
        operations={
            "post": {
                "summary": "Set the case's right type and service (coordinators; before its opinion). Clears "
                "to_classify; a trade-secret case becomes confidential; routing looks at the case again: an "
                "expert holding it who does not handle the new right type and service is replaced",
                "security": secured,
                "parameters": [REFERENCE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": "Classification"}}},
                "responses": {"200": _json("Case", "The case, classified"), **_errors(400, 401, 403, 404, 409)},
            }
        },
    )
    queue = {
        "type": "object",
        "properties": {"needs_action": {"type": "integer"}, "cases": {"type": "array", "items": "QueueCase"}},
    }
    spec.path(
        "/api/v1/queue",
        operations={"get": {"summary": "The caller's expert queue", "security": secured,
                            "parameters": [_choice("status", ACTIVE_FOR_EXPERT), _choice("right_type", RIGHT_TYPES)],
                            "responses": {"200": _json(queue, "Active cases"), **_errors(400, 401, 403)}}},
    )  # fmt: skip


def _me_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The caller's own account and preferences."""
    delivery = {"type": "string", "enum": list(DELIVERIES)}
    settings = {"type": "object", "properties": {kind: delivery for kind in NOTIFICATION_KINDS}}
    me = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            **{k: {"type": "string"} for k in ("email", "role", "name")},
            "language": {"type": "string", "enum": list(LANGUAGE_CHOICES)},
            "notifications": settings,
            "approval": {"type": "string", "enum": ["unverified", "pending", "approved", "refused"],
                         "description": "an enterprise that registered itself submits cases once approved"},
        },
    }  # fmt: skip
    changes = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": r"\S"},
            "language": {"type": "string", "enum": list(LANGUAGE_CHOICES)},
            "notifications": {
                "type": "object",
                "properties": {
                    kind: {"type": "string", "enum": ["immediately"] if kind in MANDATORY_KINDS else list(DELIVERIES)}
                    for kind in NOTIFICATION_KINDS
                },
                "additionalProperties": False,
                "description": "how each kind of email is sent; kinds not named keep their setting. "
                f"{', '.join(MANDATORY_KINDS)} are always mailed as they happen (anything else: 400).",
            },
        },
        "additionalProperties": False,
    }
    spec.path(
        "/api/v1/me",
        operations={
            "get": {"summary": "The caller's account and preferences", "security": secured,
                    "responses": {"200": _json(me, "The caller"), **_errors(401)}},
            "patch": {"summary": "Change the caller's name, language and email preferences", "security": secured,
                      "requestBody": {"required": True, "content": {"application/json": {"schema": changes}}},
                      "responses": {"200": _json(me, "The caller, changed"), **_errors(400, 401)}},
        },
    )  # fmt: skip


def _case_list_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """Listing, searching and exporting the caller's cases."""
    spec.components.schema("CaseSummary", schema=CaseSchema(exclude=("description", "deadlines", "evidence")))
    q = {
        "name": "q",
        "in": "query",
        "description": 'the search syntax: words and "quoted phrases" that must all appear (reference, title, '
        "description, parties' names and credit codes, marks, registration numbers, enterprise, expert, messages "
        "the caller may read); filters status:, type:, service:, expert:, enterprise:, confidential:yes|no, "
        "after:YYYY-MM-DD, before:YYYY-MM-DD (values separated by commas mean either). A filter with a value it "
        f"does not take, or more than {MAX_TERMS} words and filter values, is a 400 naming q.",
        "schema": {"type": "string", "maxLength": MAX_LENGTH},
    }
    filters = [q, _choice("status", STATUSES), _choice("right_type", RIGHT_TYPES), _choice("service", SERVICES)]
    cursor = {"name": "cursor", "in": "query", "description": "the next of the page before",
              "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}}  # fmt: skip
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX}}
    listed = {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": "CaseSummary"},
                       "next": {"type": "integer", "nullable": True,
                                "description": "the cursor of the next page; null on the last"}},
    }  # fmt: skip
    etag = {"ETag": {"description": "the answer's tag, for If-None-Match", "schema": {"type": "string"}}}
    spec.path(
        "/api/v1/cases/export",
        operations={"get": {
            "summary": "The cases GET /api/v1/cases finds, every page, as CSV or XLSX (headers in the caller's "
                       "language); an export holding confidential cases is audited",
            "security": secured, "parameters": [_choice("format", FORMATS), *filters],
            "responses": {"200": {"description": "The file (format csv when not given)",
                                  "content": {"text/csv": {"schema": {"type": "string"}},
                                              MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}}}},
                          **_errors(400, 401)}}},
    )  # fmt: skip
    spec.path(
        "/api/v1/cases",
        operations={"get": {
            "summary": "The cases the caller may see, newest first, found by q and the filters",
            "security": secured, "parameters": [*filters, cursor, limit],
            "responses": {"200": {**_json(listed, "A page of cases"), "headers": etag},
                          "304": {"description": "Not modified since the ETag sent in If-None-Match", "headers": etag},
                          **_errors(400, 401)}}},
    )  # fmt: skip


def _thread_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """A case's thread: its messages and internal notes."""
    since = {
        "name": "since",
        "in": "query",
        "description": "the messages after the one with this id",
        "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID},
    }
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}}
    listed = {
        "type": "object",
        "properties": {"reference": {"type": "string"}, "messages": {"type": "array", "items": "Message"},
                       "next": {"type": "integer", "nullable": True,
                                "description": "the since of the next page; null on the last"}},
    }  # fmt: skip
    with_files = {
        "type": "object",
        "properties": {
            "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY, "pattern": r"\S"},
            "internal": {"type": "boolean"},
            "request_info": {"type": "boolean"},
            "files": {"type": "array", "maxItems": MAX_FILES, "items": {"type": "string", "format": "binary"}},
        },
        "required": ["body"],
        "additionalProperties": False,
    }
    body = {"required": True, "content": {"application/json": {"schema": "MessageInput"},
                                          "multipart/form-data": {"schema": with_files}}}  # fmt: skip
    spec.path(
        "/api/v1/cases/{reference}/messages",
        operations={
            "get": {"summary": "The case's thread, oldest first (internal notes only for those who may read them)",
                    "security": secured, "parameters": [REFERENCE, since, limit],
                    "responses": {"200": _json(listed, "Messages"), **_errors(400, 401, 404)}},
            "post": {"summary": "Write in the case's thread: a message, an internal note (not the enterprise), "
                                "or the expert's request for information; the enterprise's message while the "
                                "case waits for it is its answer",
                     "security": secured, "parameters": [REFERENCE], "requestBody": body,
                     "responses": {"201": _json("Message", "Written"),
                                   **_errors(400, 401, 403, 404, 409, 413, 415)}},
        },
    )  # fmt: skip


def _case_outcome_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """What a case produced: the opinion, the files, the enterprise's rating."""
    _opinion_paths(spec, secured)
    sha256 = {"name": "sha256", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}  # fmt: skip
    spec.path(
        "/api/v1/cases/{reference}/files/{sha256}",
        operations={"get": {"summary": "A file of the case (evidence, a document, a message's attachment) by the "
                                       "SHA-256 the case or the message lists; an internal note's files only for "
                                       "those who read notes",
                            "security": secured, "parameters": [REFERENCE, sha256],
                            "responses": {"200": {"description": "The file, as an attachment",
                                                  "content": {"application/octet-stream": {
                                                      "schema": {"type": "string", "format": "binary"}}}},
                                          **_errors(401, 404)}}},
    )  # fmt: skip
    rating = {"required": True, "content": {"application/json": {"schema": "RatingInput"}}}
    spec.path(
        "/api/v1/cases/{reference}/rating",
        operations={"post": {"summary": "Rate a closed case, once (the enterprise that submitted it)",
                             "security": secured, "parameters": [REFERENCE], "requestBody": rating,
                             "responses": {"201": _json("Rating", "Rated"), **_errors(400, 401, 403, 404, 409)}}},
    )  # fmt: skip


#: The opinion's fields per service (``opinions.OPINION_SCHEMAS``), a component each: ``<Name>Opinion``.
OPINION_COMPONENTS = {service: schema.__name__.removesuffix("Schema") + "Opinion"
                      for service, schema in OPINION_SCHEMAS.items()}  # fmt: skip


def _opinion_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The opinion: the case's expert writes it (its service's fields), everyone on the case reads it."""
    for service, name in OPINION_COMPONENTS.items():
        spec.components.schema(name, schema=OPINION_SCHEMAS[service])
    spec.components.schema("Opinion", {
        "type": "object",
        "properties": {
            "reference": {"type": "string"},
            "service": {"type": "string", "enum": list(SERVICES)},
            "issued_at": {"type": "string", "format": "date-time"},
            "expert": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            "body": {"type": "object", "description": "the opinion's fields as written (text trimmed, blank optional "
                     "text left out); a compensation estimate's also the calculator's `result`"},
            "links": {"type": "object", "properties": {"page": {"type": "string"}}},
        },
    })  # fmt: skip
    written = {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in OPINION_COMPONENTS.values()]}
    refused = {"description": "The fields fit a service's opinion but not this case's: another service's, a section "
               "the case's kind of activity or litigation matter does not have (or one it has, missing), the "
               "panel's conclusion missing where a panel sat (or the panel's fields where none did), or amounts "
               "the calculator refuses for the case's right type; the field is named",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}  # fmt: skip
    spec.path(
        "/api/v1/cases/{reference}/opinion",
        operations={
            "get": {"summary": "The expert's opinion, as issued", "security": secured, "parameters": [REFERENCE],
                    "responses": {"200": _json("Opinion", "The opinion"), **_errors(401, 404)}},
            "post": {"summary": "Write and issue the case's opinion (its assigned expert, while the case is in "
                                "progress): the fields of the case's service, as its opinion form has them. A risk "
                                "warning's or an IP analysis's sections are those of the case's kind of activity "
                                "(each with its `_risk` level), a litigation advice's those of its matter, all "
                                "required; where a panel sat, `panel_conclusion` is required and `panel_dissent` "
                                "optional, where none did both are refused. Money is yuan, as a number or a decimal "
                                "string. The case moves to opinion_issued and the enterprise is mailed",
                     "security": secured, "parameters": [REFERENCE],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": written}}},
                     "responses": {"201": _json("Opinion", "Issued"), **_errors(400, 401, 403, 404, 409),
                                   "422": refused}},
        },
    )  # fmt: skip


def _opinion_constraints(schemas: dict[str, Any]) -> None:
    """What the opinion schemas check that apispec does not write: a required text has something
    besides blanks, the limits are JSON numbers, and a compensation estimate's amounts only with
    the method (or the wilfulness) that uses them (``opinions.CompensationEstimateSchema``)."""
    for name in OPINION_COMPONENTS.values():
        component = schemas[name]
        for field, prop in component["properties"].items():
            text = prop.get("type") == "string" and "format" not in prop and "enum" not in prop
            if text and field in component.get("required", ()):
                prop["pattern"] = r"\S"
            for limit in ("minimum", "maximum"):
                if isinstance(prop.get(limit), Decimal):
                    prop[limit] = int(prop[limit])
    only_with = (("statutory_amount", "method", STATUTORY), ("licence_multiple", "method", LICENCE),
                 ("punitive_base", "wilful_serious", True))  # fmt: skip
    schemas[OPINION_COMPONENTS["compensation_estimate"]]["allOf"] = [
        {"anyOf": [{"properties": {by: {"enum": [value]}}, "required": [by]},
                   {"not": {"required": [field]}},
                   {"properties": {field: {"not": {"type": "number"}}}}]}
        for field, by, value in only_with
    ]  # fmt: skip


def _pool_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The coordinators' expert pool endpoints."""
    expert_id, import_id = _id_parameter("expert_id"), _id_parameter("import_id")
    active = _choice("active", ("true", "false"))
    body = {"required": True, "content": {"application/json": {"schema": "Expert"}}}
    experts = {"type": "object", "properties": {"experts": {"type": "array", "items": "Expert"}}}
    counts = ("total", "processed", "created", "updated", "unchanged", "failed")
    job = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            **{k: {"type": "integer"} for k in counts},
            "errors": {
                "type": "array",
                "items": {"type": "object", "properties": {"row": {"type": "integer"}, "field": {"type": "string"},
                                                           "message": {"type": "string"}}},
            },
        },
    }  # fmt: skip
    spec.path(
        "/api/v1/experts",
        operations={
            "get": {"summary": "The expert pool (coordinators)", "security": secured, "parameters": [active],
                    "responses": {"200": _json(experts, "Experts by name"), **_errors(400, 401, 403)}},
            "post": {"summary": "Create an expert, or update the one with this email (coordinators)",
                     "security": secured, "requestBody": body,
                     "responses": {"201": _json("Expert", "Created"),
                                   "200": _json("Expert", "An expert with this email existed: updated (or unchanged)"),
                                   **_errors(400, 401, 403, 409, 422)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/experts/{expert_id}",
        operations={
            "get": {"summary": "An expert (coordinators)", "security": secured, "parameters": [expert_id],
                    "responses": {"200": _json("Expert", "The expert"), **_errors(401, 403, 404)}},
            "patch": {"summary": "Edit, deactivate (is_active) or send on leave (on_leave_until)",
                      "security": secured, "parameters": [expert_id],
                      "requestBody": {"required": True,
                                      "content": {"application/json": {"schema": "ExpertChanges"}}},
                      "responses": {"200": _json("Expert", "The expert"), **_errors(400, 401, 403, 404, 409, 422)}},
        },
    )  # fmt: skip
    csv_body = {
        "required": True,
        "content": {
            # (the file is text: UTF-8 or GB 18030, as the import reads it)
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "additionalProperties": False,
                                               "properties": {"file": {"type": "string", "minLength": 1,
                                                                       "description": "the CSV"}}},
                                    "encoding": {"file": {"contentType": "text/csv"}}},
            "text/csv": {"schema": {"type": "string", "minLength": 1}},
        },
    }  # fmt: skip
    spec.path(
        "/api/v1/experts/imports",
        operations={"post": {"summary": "Import a CSV of experts (coordinators); runs in the background",
                             "security": secured, "requestBody": csv_body,
                             "responses": {"202": _json(job, "Queued"), **_errors(400, 401, 403, 413, 422)}}},
    )  # fmt: skip
    spec.path(
        "/api/v1/experts/imports/{import_id}",
        operations={"get": {"summary": "An import's progress and row errors", "security": secured,
                            "parameters": [import_id],
                            "responses": {"200": _json(job, "The import"), **_errors(401, 403, 404)}}},
    )  # fmt: skip


def _early_warning_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """Watched marks (enterprises) and everyone's notices."""
    mark_id = _id_parameter("mark_id")
    marks = {"type": "object", "properties": {"marks": {"type": "array", "items": "WatchedMark"}}}
    body = {"required": True, "content": {"application/json": {"schema": "WatchedMark"}}}
    spec.path(
        "/api/v1/marks",
        operations={
            "get": {"summary": "The caller's watched marks (enterprises)", "security": secured,
                    "responses": {"200": _json(marks, "Watched marks"), **_errors(401, 403)}},
            "post": {"summary": "Watch a mark (enterprises): its wording and Nice classes", "security": secured,
                     "requestBody": body,
                     "responses": {"201": _json("WatchedMark", "Watched"), **_errors(400, 401, 403)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/marks/{mark_id}",
        operations={"delete": {"summary": "Stop watching a mark", "security": secured, "parameters": [mark_id],
                               "responses": {"204": {"description": "No longer watched"}, **_errors(401, 404)}}},
    )  # fmt: skip
    notice = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "created_at": {"type": "string", "format": "date-time"},
            "case": {"type": "string", "nullable": True},
            "body": {"type": "object"},
        },
    }
    notices = {
        "type": "object",
        "properties": {"total": {"type": "integer"}, "page": {"type": "integer"},
                       "notices": {"type": "array", "items": notice}},
    }  # fmt: skip
    kind = _choice("kind", KINDS)
    page = {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}}
    spec.path(
        "/api/v1/notices",
        operations={"get": {"summary": "The caller's early-warning notices, newest first", "security": secured,
                            "parameters": [kind, page],
                            "responses": {"200": _json(notices, "Notices"), **_errors(400, 401)}}},
    )  # fmt: skip


def _token_paths(spec: APISpec, secured: list[dict[str, list]], max_days: int) -> None:
    """The caller's API tokens."""
    moment = {"type": "string", "format": "date-time"}
    listed = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "created_at": moment,
                       "expires_at": {**moment, "nullable": True}, "last_used_at": {**moment, "nullable": True},
                       "revoked": {"type": "boolean"}},
    }  # fmt: skip
    tokens = {"type": "object", "properties": {"tokens": {"type": "array", "items": listed}}}
    asked = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": TOKEN_NAME_MAX, "pattern": r"\S"},
            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": max_days,
                                "description": "default: the server's WORKSTATION_TOKEN_DAYS"},
        },
        "required": ["name"],
        "additionalProperties": False,
    }  # fmt: skip
    made = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "token": {"type": "string", "description": "shown this once: only its hash is kept"},
                       "expires_at": moment},
    }  # fmt: skip
    spec.path(
        "/api/v1/tokens",
        operations={
            "get": {"summary": "The caller's API tokens (never the tokens themselves)", "security": secured,
                    "responses": {"200": _json(tokens, "Tokens, newest first"), **_errors(401)}},
            "post": {"summary": "Make an API token for the caller", "security": secured,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": asked}}},
                     "responses": {"201": _json(made, "Made"), **_errors(400, 401)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/tokens/{token_id}",
        operations={"delete": {"summary": "Revoke a token: the caller's own, or anyone's for a coordinator",
                               "security": secured, "parameters": [_id_parameter("token_id")],
                               "responses": {"204": {"description": "Revoked"}, **_errors(401, 404)}}},
    )  # fmt: skip


def _webhook_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The caller's webhooks. Each delivery is a POST of JSON ``{id, type, occurred_at, case:
    {reference, status, right_type, service}, links}`` with ``X-RPA-Signature: t=<unix>,v1=<hex
    HMAC-SHA256 of "<t>.<body>" keyed with the hook's secret>``; a non-2xx answer is retried
    with back-off and enough failures in a row disable the hook."""
    listed = {"type": "object", "properties": {"webhooks": {"type": "array", "items": "Webhook"}}}
    spec.path(
        "/api/v1/webhooks",
        operations={
            "get": {"summary": "The caller's webhooks", "security": secured,
                    "responses": {"200": _json(listed, "Webhooks"), **_errors(401)}},
            "post": {"summary": "Register a webhook: events on the cases the caller may see are POSTed to its URL, "
                                "signed with its secret",
                     "security": secured,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": "WebhookInput"}}},
                     "responses": {"201": _json("Webhook", "Registered"), **_errors(400, 401, 403, 409)}},
        },
    )  # fmt: skip
    changes = {"required": True, "content": {"application/json": {"schema": "WebhookChanges"}}}
    spec.path(
        "/api/v1/webhooks/{hook_id}",
        operations={
            "patch": {"summary": "Enable a disabled webhook again, or change its events", "security": secured,
                      "parameters": [_id_parameter("hook_id")], "requestBody": changes,
                      "responses": {"200": _json("Webhook", "Changed"), **_errors(400, 401, 404)}},
            "delete": {"summary": "Remove a webhook", "security": secured, "parameters": [_id_parameter("hook_id")],
                       "responses": {"204": {"description": "Removed"}, **_errors(401, 404)}},
        },
    )  # fmt: skip


def _view_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """Saved views: a coordinator's or an expert's named search and sort, private or shared with
    their role; counted for the caller (only the cases they may see)."""
    listed = {"type": "object", "properties": {"views": {"type": "array", "items": "SavedView"}}}
    spec.path(
        "/api/v1/views",
        operations={
            "get": {"summary": "The caller's views and those shared within their role, with their counts "
                               "(coordinators and experts; anyone else a 403)", "security": secured,
                    "responses": {"200": _json(listed, "Views"), **_errors(401, 403)}},
            "post": {"summary": f"Save a view (at most {MAX_VIEWS} each, names unique per owner: else a 409); "
                                "a query the search syntax cannot run is a 400 naming query",
                     "security": secured,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": "SavedViewInput"}}},
                     "responses": {"201": _json("SavedView", "Saved"), **_errors(400, 401, 403, 409)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/views/{view_id}",
        operations={
            "delete": {"summary": "Delete one of the caller's own views (anyone else's is a 404)", "security": secured,
                       "parameters": [_id_parameter("view_id")],
                       "responses": {"204": {"description": "Deleted"}, **_errors(401, 404)}},
        },
    )  # fmt: skip


def _statistics_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The coordinators' statistics report of a period."""
    day = {"type": "string", "format": "date", "pattern": DAY_PATTERN}
    years = f"years {YEARS[0]} to {YEARS[1]}"
    parameters = [
        {"name": "period", "in": "query", "schema": {"type": "string", "pattern": PERIOD_PATTERN},
         "description": f"a month (2026-11), a quarter (2026-Q4) or a year (2026), {years}; default: this month"},
        {"name": "from", "in": "query", "schema": day,
         "description": f"the first day (China time), instead of period; {years}; with to alone, the first of "
                        "to's month"},
        {"name": "to", "in": "query", "schema": day,
         "description": f"the last day, included: not before from, and at most {MAX_DAYS} days after it; "
                        "default: today (or from, if later)"},
        _choice("format", STATISTICS_FORMATS),
    ]  # fmt: skip
    tallies = {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "count": {"type": "integer"}, "share": {"type": "number"}}}}  # fmt: skip
    report = {
        "type": "object",
        "description": "Cases submitted in the period by right type, service, status now, technical field, "
        "jurisdiction and enterprise (name); times from submission to each step of the cases that reached it "
        "in the period, in working days on China's official calendar; service-level deadlines of the cases "
        "submitted; legal deadlines recorded by the sweep due in the period; ratings given; experts' load.",
        "properties": {
            "period": {"type": "object"}, "generated_at": {"type": "string", "format": "date-time"},
            "total": {"type": "integer"},
            **{f"by_{k}": tallies for k in ("right_type", "service", "status", "technical_field", "jurisdiction",
                                            "enterprise")},
            "durations": {"type": "array", "items": {"type": "object"}},
            "sla": {"type": "array", "items": {"type": "object"}}, "legal": {"type": "object"},
            "ratings": {"type": "object"}, "experts": {"type": "array", "items": {"type": "object"}},
        },
    }  # fmt: skip
    files = {STATISTICS_MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
             for f in STATISTICS_FORMATS if f != "json"}  # fmt: skip
    files["text/csv"] = {"schema": {"type": "string"}}
    spec.path(
        "/api/v1/statistics",
        operations={"get": {
            "summary": "The statistics report of a period (coordinators): JSON with codes, or CSV, XLSX or PDF "
                       "labelled in the caller's language",
            "security": secured, "parameters": parameters,
            "responses": {"200": {"description": "The report (format json when not given)",
                                  "content": {"application/json": {"schema": report}, **files}},
                          **_errors(400, 401, 403, 422)}}},
    )  # fmt: skip


def _panel_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """A difficult case and its panel (``services.panels``): never the enterprise's."""
    for name, schema in (
        ("Difficult", DifficultSchema),
        ("PanelInput", PanelInputSchema),
        ("ViewInput", ViewInputSchema),
    ):
        spec.components.schema(name, schema=schema)
    person = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    when = {"type": "string", "format": "date-time"}
    member = {**person, "properties": {**person["properties"], "convened_at": when,
                                       "released_at": {**when, "nullable": True}}}  # fmt: skip
    view = {"type": "object", "properties": {"id": {"type": "integer"}, "author": person, "body": {"type": "string"},
                                             "created_at": when}}  # fmt: skip
    panel = {
        "type": "object",
        "properties": {
            "difficult": {"type": "boolean"},
            "reason": {"type": "string", "nullable": True, "description": "why the case is difficult"},
            "sitting": {"type": "boolean", "description": "a panel sits now (its members' seats count as load)"},
            "members": {"type": "array", "items": member, "description": "every seat ever taken on the case"},
            "views": {"type": "array", "items": view, "description": "the members' views (internal)"},
        },
    }
    spec.components.schema("Panel", panel)

    def with_body(schema: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    common = {"security": secured, "parameters": [REFERENCE]}
    spec.path(
        "/api/v1/cases/{reference}/difficult",
        operations={
            "post": {
                **common,
                "summary": "Mark the case difficult, saying why (its expert or a coordinator, "
                "while the expert works it)",
                "requestBody": with_body("Difficult"),
                "responses": {
                    "200": _json("Panel", "The case's difficulty and panel"),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
    )
    spec.path("/api/v1/cases/{reference}/panel", operations={
        "get": {**common, "summary": "The case's difficulty, its panel's members and their views (not the enterprise)",
                "responses": {"200": _json("Panel", "The panel"), **_errors(401, 403, 404)}},
        "post": {**common, "summary": "Convene a panel of 2 to 4 further experts on a difficult case (coordinators). "
                 "Each is held to the conflict, clearance, language and availability rules and takes a slot of "
                 "their capacity while the panel sits; a refused expert is named with the reason",
                 "requestBody": with_body("PanelInput"),
                 "responses": {"201": _json("Panel", "The panel, convened"), **_errors(400, 401, 403, 404, 409)}},
        "delete": {**common, "summary": "Dissolve the sitting panel (coordinators): the members' slots are given back",
                   "responses": {"200": _json("Panel", "The panel, dissolved"), **_errors(401, 403, 404, 409)}},
    })  # fmt: skip
    candidate = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "active_cases": {"type": "integer"},
            "capacity": {"type": "integer"},
            "refusal": {
                "type": "string",
                "nullable": True,
                "description": "why the expert may not sit on this case's "
                "panel (a trainee, not cleared, a conflict of interest, at capacity...); null: eligible",
            },
        },
    }
    candidates = {
        "type": "object",
        "properties": {"reference": {"type": "string"}, "candidates": {"type": "array", "items": candidate}},
    }
    spec.path("/api/v1/cases/{reference}/panel/candidates", operations={"get": {
        **common, "summary": "The experts a coordinator may choose from for the case's panel (coordinators): each "
        "with their active cases, capacity and, if they may not sit, why not; never the case's own expert",
        "responses": {"200": _json(candidates, "Candidates, by name"), **_errors(401, 403, 404)}}})  # fmt: skip
    spec.path("/api/v1/cases/{reference}/panel/views", operations={"post": {
        **common, "summary": "Write a view as a member of the sitting panel (internal: never the enterprise's)",
        "requestBody": with_body("ViewInput"),
        "responses": {"201": _json("Panel", "The panel, with the view"),
                      **_errors(400, 401, 403, 404, 409)}}})  # fmt: skip


def _training_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """Trainees' drafts, their reviews, trainees' records and promotion (``services.training``):
    never the enterprise's."""
    for name, schema in (("DraftInput", DraftInputSchema), ("ReviewInput", ReviewInputSchema), ("Draft", DraftSchema)):
        spec.components.schema(name, schema=schema)
    person = {"type": "object", "nullable": True, "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    by_competence = {"type": "object", "properties": {c: {"type": "number", "nullable": True} for c in COMPETENCES}}
    record = {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "is_trainee": {"type": "boolean"}, "supervisor": person,
        "cases": {"type": "array", "items": {"type": "object", "properties": {
            "reference": {"type": "string"},
            "title": {"type": "string", "nullable": True, "description": "null: the case became confidential"},
            "status": {"type": "string"}, "drafts": {"type": "array", "items": {"type": "integer"}}}}},
        "drafts": {"type": "array", "items": "Draft"},
        "ratings_over_time": {"type": "array", "items": {"type": "object"}},
        "averages": by_competence, "trend": by_competence,
        "ready_for_promotion": {"type": "boolean", "description": "a hint: the coordinator decides"},
        "missing": {"type": "array", "items": {"type": "string"}}}}  # fmt: skip
    spec.components.schema("TraineeRecord", record)
    listed = {"type": "object", "properties": {"trainees": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "is_trainee": {"type": "boolean"},
        "supervisor": person, "drafts": {"type": "integer"}, "reviewed": {"type": "integer"},
        "averages": by_competence, "ready_for_promotion": {"type": "boolean"}}}}}}  # fmt: skip

    def with_body(schema: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    drafts = {"type": "object", "properties": {"drafts": {"type": "array", "items": "Draft"}}}
    spec.path("/api/v1/cases/{reference}/drafts", operations={
        "get": {"security": secured, "parameters": [REFERENCE],
                "summary": "The trainees' drafts on the case the caller reads: a trainee their own, the case's "
                           "expert and coordinators all (never the enterprise)",
                "responses": {"200": _json(drafts, "Drafts, oldest first"), **_errors(401, 403, 404)}},
        "post": {"security": secured, "parameters": [REFERENCE], "requestBody": with_body("DraftInput"),
                 "summary": "The trainee shadowing the case writes a shadow note or a draft opinion, submitted for "
                            "its expert's review (training only: never shown to the enterprise)",
                 "responses": {"201": _json("Draft", "Submitted"), **_errors(400, 401, 403, 404, 409)}},
    })  # fmt: skip
    spec.path("/api/v1/drafts/{draft_id}/review", operations={"post": {
        "security": secured, "parameters": [_id_parameter("draft_id")], "requestBody": with_body("ReviewInput"),
        "summary": "The case's expert reviews a trainee's draft: comments and a rating of 1-5 on each of the four "
                   "competences (once)",
        "responses": {"200": _json("Draft", "Reviewed"), **_errors(400, 401, 403, 404, 409)}}})  # fmt: skip
    spec.path("/api/v1/trainees", operations={"get": {
        "security": secured, "summary": "Every trainee, and every promoted one, with their averages (coordinators)",
        "responses": {"200": _json(listed, "Trainees"), **_errors(401, 403)}}})  # fmt: skip
    spec.path("/api/v1/trainees/{user_id}", operations={"get": {
        "security": secured, "parameters": [_id_parameter("user_id")],
        "summary": "A trainee's record: cases shadowed, drafts and feedback, ratings over time (the trainee "
                   "themselves, or a coordinator)",
        "responses": {"200": _json("TraineeRecord", "The record"), **_errors(401, 404)}}})  # fmt: skip
    spec.path("/api/v1/trainees/{user_id}/promotion", operations={"post": {
        "security": secured, "parameters": [_id_parameter("user_id")],
        "summary": "Promote a trainee to expert (coordinators; audited)",
        "responses": {"200": _json("TraineeRecord", "Promoted"), **_errors(401, 403, 404, 409)}}})  # fmt: skip


def _referral_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """The partners' directory and the referrals of a case to partners (``services.referrals``)."""
    body = {"PartnerInput": None, "PartnerChanges": None, "ReferralInput": None, "ReferralChange": None}
    for name in body:
        body[name] = {"required": True, "content": {"application/json": {"schema": name}}}
    with_files = {"type": "object", "required": ["status"], "additionalProperties": False, "properties": {
        "status": {"type": "string", "enum": list(REFERRAL_MOVES)},
        "answer": {"type": "string", "maxLength": ANSWER_MAX},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "the answer's files (with status answered), checked like evidence"}}}  # fmt: skip
    body["ReferralChange"]["content"]["multipart/form-data"] = {"schema": with_files}
    spec.path(
        "/api/v1/partners",
        operations={
            "get": {"summary": "The partners' directory: all of it to coordinators, the active partners to experts",
                    "security": secured,
                    "responses": {"200": _json({"type": "object", "properties": {
                        "partners": {"type": "array", "items": "Partner"}}}, "Partners"), **_errors(401, 403)}},
            "post": {"summary": "Add a partner (coordinators)", "security": secured,
                     "requestBody": body["PartnerInput"],
                     "responses": {"201": _json("Partner", "Added"), **_errors(400, 401, 403)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/partners/{partner_id}",
        operations={
            "patch": {"summary": "Change a partner (coordinators); is_active false deactivates it", "security": secured,
                      "parameters": [_id_parameter("partner_id")], "requestBody": body["PartnerChanges"],
                      "responses": {"200": _json("Partner", "Changed"), **_errors(400, 401, 403, 404)}},
        },
    )  # fmt: skip
    listed = {"type": "object", "properties": {"referrals": {"type": "array", "items": "Referral"}}}
    spec.path(
        "/api/v1/cases/{reference}/referrals",
        operations={
            "get": {"summary": "The case's referrals (the enterprise sees to whom and their status, not the "
                               "question, the answer or its files)",
                    "security": secured, "parameters": [REFERENCE],
                    "responses": {"200": _json(listed, "Referrals"), **_errors(401, 404)}},
            "post": {"summary": "Refer the case, or a question in it, to a partner (its expert or a coordinator)",
                     "security": secured, "parameters": [REFERENCE], "requestBody": body["ReferralInput"],
                     "responses": {"201": _json("Referral", "Referred"), **_errors(400, 401, 403, 404, 409)}},
        },
    )  # fmt: skip
    spec.path(
        "/api/v1/cases/{reference}/referrals/{referral_id}",
        operations={
            "patch": {"summary": "Record the partner's step: acknowledged, answered (with the answer), or closed",
                      "security": secured, "parameters": [REFERENCE, _id_parameter("referral_id")],
                      "requestBody": body["ReferralChange"],
                      "responses": {"200": _json("Referral", "Recorded"),
                                    **_errors(400, 401, 403, 404, 409, 413, 415)}},
        },
    )  # fmt: skip


def _bulk_paths(spec: APISpec, secured: list[dict[str, list]]) -> None:
    """One action on many cases (``services.bulk``): coordinators only."""
    variants = []
    for action, schema in BULK_SCHEMAS.items():
        name = "Bulk" + "".join(part.title() for part in action.split("_"))
        # (exactly one way of naming the cases: their references, a saved view or a search)
        spec.components.schema(name, {"oneOf": [{"required": [key]} for key in SELECTIONS]}, schema=schema)
        variants.append(name)
    result = {
        "type": "object",
        "properties": {
            "reference": {"type": "string"},
            "done": {"type": "boolean"},
            "problem": {"type": "string", "nullable": True, "description": "why the case was not done (null: it was)"},
        },
    }
    counts = {key: {"type": "integer", "minimum": 0} for key in ("total", "done", "failed")}
    answer = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(BULK_ACTIONS)},
            **counts,
            "results": {"type": "array", "items": result},
        },
    }
    too_many = {
        "description": f"The view or search holds more than {MAX_CASES} cases",
        "content": {"application/json": {"schema": "Error"}},
    }
    spec.path("/api/v1/bulk-actions", operations={"post": {
        "summary": f"One action on up to {MAX_CASES} cases (coordinators): reassign them to an expert, close them, "
                   "set their right type and service (routing looks at each again), mark them difficult, convene "
                   "the same panel on each (each member checked against each case), or refer each to a partner. "
                   "The cases are named by their references, a saved view (view_id) or a search "
                   "(query). Each case goes through the single action's own rules, event and audit, by itself: the "
                   "answer (200 even when none was done) says of each case whether it was done, and why not",
        "security": secured,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in variants]}}}},
        "responses": {"200": _json(answer, "What was done to each case, in the order asked"),
                      **_errors(400, 401, 403, 404, 409), "413": too_many},
    }})  # fmt: skip
