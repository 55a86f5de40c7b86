"""The JSON API (``/api/v1``), authenticated with ``Authorization: Bearer <token>``.

Every error answers ``{"errors": {field: [message, ...]}}``; errors that are not about one
field use the key ``_request``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.exceptions import HTTPException

from workstation import lifecycle
from workstation.evidence import path_of
from workstation.search_syntax import SearchSyntaxError, parse
from workstation.services.accounts import (
    PreferenceError,
    check_preferences,
    notification_settings,
    set_preferences,
    submission_refusal,
)
from workstation.services.audit import record_reads
from workstation.services.auth import (
    TokenError,
    UserError,
    check_token_request,
    issue_token,
    revoke_token,
    tokens_of,
    user_for_token,
)
from workstation.services.cases import (
    IneligibleExpertError,
    active_expert,
    actor_relation,
    detail_for,
    find_visible_case,
    reassign,
    record_access,
    transition,
)
from workstation.services.classification import classification_schema, classify
from workstation.services.conversation import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    MessageError,
    case_file,
    check_message,
    mark_seen,
    message_schema,
    post_message,
    reads_notes,
    thread,
    visible_events,
    visible_files,
)
from workstation.services.db import database_unavailable
from workstation.services.exports import FORMATS, MEDIA_TYPES, export_cases
from workstation.services.exports import filename as export_filename
from workstation.services.idempotency import (
    FirstRequest,
    acceptable_key,
    claim_key,
    file_digest,
    record_answer,
    request_fingerprint,
)
from workstation.services.intake import IntakeError, accept_by_token, accept_submission, store_uploads
from workstation.services.marks import WatchError, unwatch_mark, watch_mark, watched_mark_schema, watched_marks_of
from workstation.services.models import (
    MAX_ID,
    ApiToken,
    Case,
    ExpertImport,
    ExpertProfile,
    Opinion,
    User,
    Webhook,
    utcnow,
)
from workstation.services.notices import KINDS, notices_for, record_notice_reads
from workstation.services.opinions import check_may_issue, fits_some_service, issue_opinion, opinion_record
from workstation.services.paging import MAX_PAGE, page_number
from workstation.services.panels import (
    DifficultSchema,
    PanelError,
    PanelInputSchema,
    ViewInputSchema,
    convene_panel,
    dissolve_panel,
    mark_difficult,
    panel_choices,
    panel_record,
    write_view,
)
from workstation.services.pool import (
    ImportFileError,
    expert_record,
    expert_schema,
    import_record,
    queue_import,
    save_expert,
)
from workstation.services.ratings import NOT_THE_ENTERPRISE, RatingError, rate_case, rating_schema
from workstation.services.schemas import (
    RIGHT_TYPES,
    SERVICES,
    CaseSchema,
    api_errors,
    case_schema,
    case_schema_without_deadlines,
    deadlines_json,
    error_status,
    event_schema,
    evidence_schema,
    load_input,
    quick_dump,
    transition_schema,
)
from workstation.services.search import PAGE_DEFAULT, PAGE_MAX, search_cases, search_page
from workstation.services.statistics import FORMATS as STATISTICS_FORMATS
from workstation.services.statistics import report_json, statistics_report
from workstation.services.submission import WrittenCase
from workstation.services.views import ROLES as VIEW_ROLES
from workstation.services.views import ViewError, delete_view, save_view, tab_of, tabs_for
from workstation.services.webhooks import (
    WebhookError,
    change_hook,
    hooks_of,
    register_hook,
    remove_hook,
    webhook_schema,
)
from workstation.statistics import PeriodError, parse_period
from workstation.web.openapi import openapi_document
from workstation.web.queue import expert_queue
from workstation.web.statistics import download as statistics_download
from workstation.web.support import database_unavailable_answer, get_config, get_db, get_engine, refusal

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


def error(status: int, message: str, field: str = "_request"):  # noqa: ANN201
    return jsonify(errors={field: [message]}), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # noqa: ANN202
    return error(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):  # noqa: ANN202
    if database_unavailable(exc):  # nothing was written: 503, try again after Retry-After
        log.warning("database unavailable in %s %s: %s", request.method, request.path, exc)
        return database_unavailable_answer()
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error(500, "Internal error; it has been logged.")


def refused_choice(name: str, allowed: tuple[str, ...]):  # noqa: ANN201
    """A 400 naming query parameter ``name`` when it is given but is not one of ``allowed`` (a
    filter silently ignored would answer a question nobody asked); None when it is fine."""
    value = request.args.get(name)
    if value is None or value in allowed:
        return None
    return error(400, f"One of {', '.join(allowed)}.", name)


def bearer_token() -> str | None:
    """The request's ``Authorization: Bearer <token>``, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def token_required(view):  # noqa: ANN001, ANN201
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        token = bearer_token()
        user = user_for_token(get_db(), token) if token else None
        if user is None:
            response, status = error(401, "A valid bearer token is required.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response, status
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def coordinator_required(view):  # noqa: ANN001, ANN201
    """For the pool's endpoints: a coordinator's token (after ``token_required``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        if g.api_user.role != "coordinator":
            return error(403, "Only coordinators manage the expert pool.")
        return view(*args, **kwargs)

    return token_required(wrapper)


# --- Idempotency-Key: a creating request's retry gets the first answer ----------------------------

IDEMPOTENCY_KEY = "Idempotency-Key"


def idempotent(view):  # noqa: ANN001, ANN201
    """For a POST that creates something (after ``token_required``): with an ``Idempotency-Key``,
    the first request with the key does the work and keeps its answer with it, in the same
    transaction (the view ends with ``committed``); a retry with the same key and the same request
    gets that answer again (``Idempotent-Replayed: true``), another request with it a 422. A
    request that fails (refused input, the database gone) keeps nothing, and its retry is tried
    afresh (``services.idempotency``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        key = request.headers.get(IDEMPOTENCY_KEY)
        if key is None:
            return view(*args, **kwargs)
        if not acceptable_key(key):
            return error(400, "1 to 255 printable ASCII characters.", IDEMPOTENCY_KEY)
        session, fingerprint = get_db(), request_fingerprint(_request_parts())
        kept = timedelta(hours=get_config().idempotency_key_hours)
        first = claim_key(session, g.api_user.id, key, fingerprint, kept)
        if first is not None:
            session.rollback()
            return _first_answer(first, fingerprint)
        g.idempotency_key = key
        return view(*args, **kwargs)

    wrapper.idempotent = True  # (what the OpenAPI document says of it is checked against this)
    return wrapper


def _request_parts() -> Iterator[bytes]:
    """What makes a request the same request: its method and path, and its body as the view reads
    it: JSON whatever its keys' order and spacing, multipart by its fields and files (not its
    boundary, which a client may draw anew for a retry), anything else as sent."""
    yield request.method.encode()
    yield request.full_path.encode()
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True)):
            yield f"{name}={value}".encode()
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: (item[0], item[1].filename or "")):
            yield f"{name}:{upload.filename}".encode()
            yield file_digest(upload.stream)
    elif (body := request.get_json(silent=True)) is not None:
        yield json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    else:
        yield request.get_data()


def _first_answer(first: FirstRequest, fingerprint: str):  # noqa: ANN202
    if first.fingerprint != fingerprint:
        return error(422, "This Idempotency-Key was used for another request.", IDEMPOTENCY_KEY)
    if first.status is None:
        return error(409, "The request with this Idempotency-Key left no answer.", IDEMPOTENCY_KEY)
    response = Response(first.body, first.status, mimetype="application/json")
    if first.location:
        response.headers["Location"] = first.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def committed(session: Session, response: Response, status: int) -> tuple[Response, int]:
    """Commit a creating view's work with its answer (``response``, ``status``), which the request's
    ``Idempotency-Key``, if it has one, keeps in the same transaction (``idempotent``)."""
    key = g.pop("idempotency_key", None)
    if key is not None:
        body = response.get_data(as_text=True)
        record_answer(session, g.api_user.id, key, status, body, response.headers.get("Location"))
    session.commit()
    return response, status


def case_to_dict(
    case: Case | WrittenCase, deadlines: list[Any] | None = None, viewer: User | None = None
) -> dict[str, Any]:
    """The case as the API shows it; ``deadlines``: its deadlines, if the caller computed them;
    ``viewer``: who asks, when they may not read everything (internal notes' files)."""
    if deadlines is None:
        data = quick_dump(case_schema, case)
    else:
        data = quick_dump(case_schema_without_deadlines, case)
        data["deadlines"] = deadlines_json(deadlines)
    if viewer is not None and not reads_notes(viewer):
        data["evidence"] = evidence_schema.dump(visible_files(case.evidence, viewer), many=True)
    data["links"] = case_links(case.reference)
    return data


# (A reference is letters, digits and hyphens, which URLs carry as they are.)
_PLAIN_REFERENCE = re.compile(r"[A-Za-z0-9-]+")
_LINK_PLACEHOLDER = "REFERENCE0PLACEHOLDER"


def case_links(reference: str) -> dict[str, str]:
    """The case's ``links``: its API resource and its page, as ``url_for`` builds them. From two
    templates (``url_for`` for a placeholder, once per app and script root, the deployment's
    prefix): werkzeug's building (defaults, converters, quoting) of two links that differ only in
    the reference cost a thirtieth of intake's request. A reference with other characters, which
    no case has, is built by ``url_for``."""
    if _PLAIN_REFERENCE.fullmatch(reference) is None:
        return {
            "self": url_for("api.get_case", reference=reference),
            "page": url_for("web.case_page", reference=reference),
        }
    root = request.script_root
    templates = current_app.extensions["workstation"].setdefault("case_link_templates", {})
    if (known := templates.get(root)) is None:
        made = [url_for(endpoint, reference=_LINK_PLACEHOLDER) for endpoint in ("api.get_case", "web.case_page")]
        known = templates[root] = tuple(tuple(url.split(_LINK_PLACEHOLDER)) for url in made)
    (self_head, self_tail), (page_head, page_tail) = known
    return {"self": self_head + reference + self_tail, "page": page_head + reference + page_tail}


@bp.post("/cases")
def create_case():  # noqa: ANN201
    # Intake's hot path: a JSON case checked and written together with its token in one statement
    # (PostgreSQL). Whatever it does not take goes the checked way, which answers 401/403/400.
    # It does not pass through token_required: what that comes to do for every request must be
    # done here too. A request with an Idempotency-Key goes the checked way, in a transaction that
    # keeps the key with the case.
    if request.mimetype != "multipart/form-data" and IDEMPOTENCY_KEY not in request.headers:
        case = accept_by_token(get_engine(), bearer_token(), request.get_json(silent=True))
        if case is not None:
            return _created(case)
    return _create_case_checked()


@token_required
@idempotent
def _create_case_checked():  # noqa: ANN202
    user: User = g.api_user
    if user.role != "enterprise":
        return error(403, "Only enterprise accounts submit cases.")
    if why := submission_refusal(user):
        return error(403, why)
    if request.mimetype == "multipart/form-data":
        try:
            raw = json.loads(request.form.get("case", ""))
        except ValueError:
            return error(400, "The 'case' part must be a JSON object.", "case")
        if why := refusal(raw):  # (escaped in the part's JSON, so the check at the door cannot see it)
            return error(400, why, "case")
        uploads = request.files.getlist("evidence")
    else:
        raw = request.get_json(silent=True)
        if raw is None:
            return error(400, "The body must be JSON (Content-Type: application/json).")
        uploads = []
    session = get_db()
    try:
        case = accept_submission(session, get_config(), user, raw, uploads)
    except IntakeError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.errors)), err.status
    return committed(session, *_created(case))


def _created(case: Case | WrittenCase):  # noqa: ANN202
    data = case_to_dict(case)
    response = jsonify(data)
    response.headers["Location"] = data["links"]["self"]  # the same url_for, built once
    return response, 201


# --- listing, searching and exporting the caller's cases ----------------------------------------

_LIST_FILTERS = {"status": lifecycle.STATUSES, "right_type": RIGHT_TYPES, "service": SERVICES}
list_schema = CaseSchema(exclude=("description", "deadlines", "evidence"))


def _asked_search():  # noqa: ANN202
    """``?q=`` (the search syntax) with ``?status=``, ``?right_type=`` and ``?service=`` added to it:
    the search query, or the 400 answer."""
    asked, refused = _asked_query()
    return (None, refused) if refused else (search_cases(get_db(), g.api_user, asked), None)


def _asked_query():  # noqa: ANN202
    """The parsed ``Query`` of ``_asked_search``, or the 400 answer."""
    for name, allowed in _LIST_FILTERS.items():
        if refused := refused_choice(name, allowed):
            return None, refused
    try:
        asked = parse(request.args.get("q", ""))
    except SearchSyntaxError as err:
        return None, error(400, err.message, "q")
    extra = {"statuses": "status", "right_types": "right_type", "services": "service"}
    for attribute, name in extra.items():
        if request.args.get(name):
            asked = replace(asked, **{attribute: (*getattr(asked, attribute), request.args[name])})
    return asked, None


@bp.get("/cases")
@token_required
def list_cases():  # noqa: ANN201
    """The cases the caller may see, newest first, found by ``?q=`` (the search syntax) and the
    filters; ``?cursor=`` the ``next`` of the page before, ``?limit=``. ``ETag``: an unchanged
    answer to ``If-None-Match`` is a 304."""
    cursor = _whole_number("cursor", 0, 1, MAX_ID)
    if cursor is None:
        return error(400, "The next of the page before (a whole number from 1).", "cursor")
    limit = _whole_number("limit", PAGE_DEFAULT, 1, PAGE_MAX)
    if limit is None:
        return error(400, f"A whole number from 1 to {PAGE_MAX}.", "limit")
    asked, refused = _asked_query()
    if refused:
        return refused
    session = get_db()
    expert = joinedload(Case.assigned_expert)
    cases, next_cursor = search_page(session, g.api_user, asked, cursor or None, limit, expert)
    record_reads(session, g.api_user, "cases api", cases)
    session.commit()
    listed = []
    for case in cases:
        data = list_schema.dump(case)
        data["links"] = {"self": url_for("api.get_case", reference=case.reference)}
        listed.append(data)
    body = json.dumps({"cases": listed, "next": next_cursor}, ensure_ascii=False, sort_keys=True)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    if etag in request.if_none_match:
        response = make_response("", 304)
    else:
        response = make_response(body, 200, {"Content-Type": "application/json"})
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/cases/export")
@token_required
def export_cases_file():  # noqa: ANN201
    """The cases ``GET /api/v1/cases`` would list (every page) as CSV or XLSX, headers in the
    caller's language; an export holding confidential cases is audited."""
    if refused := refused_choice("format", FORMATS):
        return refused
    fmt = request.args.get("format") or "csv"
    query, refused = _asked_search()
    if refused:
        return refused
    session = get_db()
    sessions = current_app.extensions["workstation"]["sessions"]
    asked = request.args.get("q", "")
    pieces = export_cases(session, sessions, g.api_user, query, fmt, g.api_user.language, asked, via="api")
    session.commit()
    return Response(
        stream_with_context(pieces),
        mimetype=MEDIA_TYPES[fmt].split(";")[0],
        headers={"Content-Disposition": f'attachment; filename="{export_filename(fmt, utcnow())}"'},
    )


@bp.get("/cases/<reference>")
@token_required
def get_case(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, g.api_user, reference)
    if case is None:
        return error(404, "No such case.")
    record_access(session, case, g.api_user, "view", "api")
    session.commit()
    data = case_to_dict(case, viewer=g.api_user)
    if case.opinion is not None:  # (here only: a list or the intake would load each case's opinion)
        data["links"]["opinion"] = url_for("api.case_opinion", reference=case.reference)
    return jsonify(data)


@bp.get("/cases/<reference>/events")
@token_required
def case_events(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, g.api_user, reference)
    if case is None:
        return error(404, "No such case.")
    record_access(session, case, g.api_user, "view", "events api")
    session.commit()
    shown = visible_events(case.events, g.api_user)
    events = event_schema.dump(shown, many=True)
    for dumped, event in zip(events, shown, strict=True):
        dumped["detail"] = detail_for(event, g.api_user)
    return jsonify(reference=case.reference, events=events)


@bp.get("/cases/<reference>/opinion")
@token_required
def case_opinion(reference: str):  # noqa: ANN201
    """The expert's opinion as issued: its fields as the service's form has them."""
    session = get_db()
    case = find_visible_case(session, g.api_user, reference)
    if case is None or case.opinion is None:
        return error(404, "No such case, or no opinion issued on it yet.")
    record_access(session, case, g.api_user, "view", "opinion api")
    session.commit()
    return jsonify(_opinion_answer(case, case.opinion))


def _opinion_answer(case: Case, opinion: Opinion) -> dict[str, Any]:
    page = url_for("opinions.opinion_page", reference=case.reference)
    return {**opinion_record(case, opinion), "links": {"page": page}}


@bp.post("/cases/<reference>/opinion")
@token_required
@idempotent
def write_opinion(reference: str):  # noqa: ANN201
    """The case's expert writes and issues its opinion: the fields of the case's service as JSON
    (``services.opinions.issue_opinion``, as the opinion form): the enterprise is mailed."""
    session = get_db()
    case = find_visible_case(session, g.api_user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    raw = request.get_json(silent=True)
    try:
        check_may_issue(case, g.api_user)
        if not isinstance(raw, dict):
            raise ValidationError({"_request": ["The body must be a JSON object."]})
        opinion = issue_opinion(session, case, g.api_user, raw, source="api")
        record_access(session, case, g.api_user, "view", "opinion api")  # the answer shows the opinion
    except lifecycle.TransitionError as err:
        session.rollback()
        return error(403 if err.code == "forbidden" else 409, err.message)
    except ValidationError as err:
        session.rollback()
        status = 422 if fits_some_service(raw) else 400
        return jsonify(errors=api_errors(err.normalized_messages())), status
    response = jsonify(_opinion_answer(case, opinion))
    response.headers["Location"] = url_for("api.case_opinion", reference=case.reference)
    return committed(session, response, 201)


@bp.get("/cases/<reference>/files/<sha256>")
@token_required
def case_file_download(reference: str, sha256: str):  # noqa: ANN201
    """A file of the case (evidence, a document, a message's attachment) by its SHA-256, to those
    who may see the case; the enterprise never gets an internal note's. Downloads are logged for
    confidential cases, as on the page."""
    session = get_db()
    case = find_visible_case(session, g.api_user, reference)
    item = case_file(session, case, g.api_user, sha256) if case else None
    path = path_of(get_config().evidence_dir, item.sha256) if item else None
    if item is None or not path.is_file():
        return error(404, "No such file on this case.")
    record_access(session, case, g.api_user, "download", sha256)
    session.commit()
    return send_file(path, mimetype=item.content_type, as_attachment=True, download_name=item.filename)


@bp.post("/cases/<reference>/rating")
@token_required
def rate_closed_case(reference: str):  # noqa: ANN201
    """The enterprise rates its closed case, once: ``{"score": 1-5, "comment": "..."}``."""
    session = get_db()
    case = find_visible_case(session, g.api_user, reference, for_update=True)
    if case is None:
        return error(404, "No such case.")
    try:
        rating = rate_case(session, case, g.api_user, request.get_json(silent=True))
    except RatingError as err:
        session.rollback()
        status = 409 if err.conflict else 403 if err.errors.get("_request") == [NOT_THE_ENTERPRISE] else 400
        return jsonify(errors=err.errors), status
    session.commit()
    return jsonify(rating_schema.dump(rating)), 201


@bp.post("/cases/<reference>/transitions")
@token_required
@idempotent
def case_transition(reference: str):  # noqa: ANN201
    session = get_db()
    try:
        asked = load_input(transition_schema, request.get_json(silent=True))
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    action, reason, expert_id = asked["action"], asked["reason"], asked["expert_id"]
    if action not in lifecycle.USER_ACTIONS and action not in lifecycle.WRITTEN_ACTIONS:
        return error(400, f"Unknown action; one of {', '.join(lifecycle.USER_ACTIONS)}.", "action")
    case = find_visible_case(session, g.api_user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    if action in lifecycle.WRITTEN_ACTIONS:  # (only issue_opinion: its API is the opinion's POST)
        session.rollback()
        written = url_for("api.write_opinion", reference=reference)
        return error(409, f"{lifecycle.WRITTEN_ACTIONS[action]} Through the API: POST {written}", "action")
    if action == "reassign" and (expert := active_expert(session, expert_id)) is None:
        session.rollback()
        # (a well-formed id of nobody who can take cases now: the state of the pool, not the input)
        return error(409, "expert_id must name an active expert.", "expert_id")
    try:
        if action == "reassign":
            reassign(session, case, g.api_user, expert, reason, override_clearance=asked["override_clearance"])
        else:
            transition(session, case, action, g.api_user, reason=reason, expert_id=expert_id, source="api")
        record_access(session, case, g.api_user, "view", "transitions api")  # the answer shows the case
    except lifecycle.TransitionError as err:
        session.rollback()
        status = {"forbidden": 403, "conflict": 409, "invalid": 400, "unknown": 400}[err.code]
        return error(status, err.message, "reason" if err.code == "invalid" else "_request")
    except IneligibleExpertError as err:
        session.rollback()
        if err.overridable:  # (the page says "tick the box"; the API names its field)
            return error(409, f'{err.message} Send "override_clearance": true to override.', "expert_id")
        return error(409, err.message, "expert_id")
    return committed(session, jsonify(case_to_dict(case, viewer=g.api_user)), 200)


@bp.post("/cases/<reference>/classification")
@token_required
def classify_case(reference: str):  # noqa: ANN201
    """A coordinator sets the case's right type and service (``services.classification``)."""
    if g.api_user.role != "coordinator":  # (whoever asks, whether the case exists or not)
        return error(403, "Only coordinators classify a case.")
    session = get_db()
    try:
        chosen = load_input(classification_schema, request.get_json(silent=True))
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    case = find_visible_case(session, g.api_user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    try:
        classify(session, case, g.api_user, chosen["right_type"], chosen["service"])
        record_access(session, case, g.api_user, "view", "classification api")  # the answer shows the case
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        return error(409, err.message)
    return jsonify(case_to_dict(case, viewer=g.api_user))


# --- a difficult case and its panel (``services.panels``) --------------------------------------


def _panel_case(for_update: bool) -> tuple[Any, Any]:
    """The case of the request, if the caller may see it and read its internal side (not the
    enterprise: a panel is internal); else (None, an error response)."""
    session = get_db()
    case = find_visible_case(session, g.api_user, request.view_args["reference"], for_update=for_update)
    if case is None:
        session.rollback()
        return None, error(404, "No such case.")
    if not reads_notes(g.api_user):
        session.rollback()
        return None, error(403, "A case's difficulty and panel are for the experts and the coordinators.")
    return case, None


def _panel_answer(case: Case, status: int = 200):  # noqa: ANN202
    session = get_db()
    record = panel_record(session, case)
    record_access(session, case, g.api_user, "view", "panel api")
    session.commit()
    return jsonify(record), status


def _panel_act(schema: Any, act: Any, status: int = 200):  # noqa: ANN001, ANN202
    """Check the body with ``schema`` (None: no body), then ``act(session, case, data)`` on the
    locked case; answers the panel's record, or the refusal."""
    data: dict[str, Any] = {}
    if schema is not None:
        try:
            data = load_input(schema, request.get_json(silent=True))
        except ValidationError as err:
            return jsonify(errors=api_errors(err.normalized_messages())), 400
    case, refused = _panel_case(for_update=True)
    if case is None:
        return refused
    session = get_db()
    try:
        act(session, case, data)
    except lifecycle.TransitionError as err:
        session.rollback()
        return error({"forbidden": 403, "invalid": 400}.get(err.code, 409), err.message)
    except PanelError as err:
        session.rollback()
        messages = [f"{expert_id}: {reason}" for expert_id, reason in sorted(err.refused.items())]
        return jsonify(errors={"expert_ids": messages}), 400
    return _panel_answer(case, status)


@bp.post("/cases/<reference>/difficult")
@token_required
def mark_case_difficult(reference: str):  # noqa: ANN201
    """The case's expert or a coordinator marks the case difficult: ``{"reason"}``."""
    return _panel_act(DifficultSchema(), lambda s, case, data: mark_difficult(s, case, g.api_user, data["reason"]))


@bp.get("/cases/<reference>/panel")
@token_required
def case_panel(reference: str):  # noqa: ANN201
    """The case's difficulty, its panel's members and their views (not for the enterprise)."""
    case, refused = _panel_case(for_update=False)
    return refused if case is None else _panel_answer(case)


@bp.post("/cases/<reference>/panel")
@token_required
def convene_case_panel(reference: str):  # noqa: ANN201
    """A coordinator convenes a panel of further experts: ``{"expert_ids": [...]}`` (2 to 4)."""
    if g.api_user.role != "coordinator":  # (whoever asks, whether the case exists or not)
        return error(403, "Only coordinators convene a panel.")
    return _panel_act(PanelInputSchema(), lambda s, case, data: convene_panel(s, case, g.api_user, data["expert_ids"]),
                      201)  # fmt: skip


@bp.delete("/cases/<reference>/panel")
@token_required
def dissolve_case_panel(reference: str):  # noqa: ANN201
    """A coordinator dissolves the case's sitting panel: the members' slots are given back."""
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators dissolve a panel.")
    return _panel_act(None, lambda s, case, data: dissolve_panel(s, case, g.api_user))


@bp.get("/cases/<reference>/panel/candidates")
@token_required
def panel_candidates(reference: str):  # noqa: ANN201
    """The experts a coordinator may choose from for the case's panel (as the page lists them):
    each with their load and, if they may not sit, why not (``services.panels.panel_choices``)."""
    if g.api_user.role != "coordinator":  # (whoever asks, whether the case exists or not)
        return error(403, "Only coordinators convene a panel.")
    case, refused = _panel_case(for_update=False)
    if case is None:
        return refused
    session = get_db()
    candidates = panel_choices(session, case)
    record_access(session, case, g.api_user, "view", "panel api")
    session.commit()
    return jsonify(reference=case.reference, candidates=candidates)


@bp.post("/cases/<reference>/panel/views")
@token_required
def write_panel_view(reference: str):  # noqa: ANN201
    """A member of the sitting panel writes their view: ``{"body"}`` (internal)."""
    return _panel_act(ViewInputSchema(), lambda s, case, data: write_view(s, case, g.api_user, data["body"], "api"),
                      201)  # fmt: skip


# --- the case's thread ------------------------------------------------------------------------


def _whole_number(name: str, default: int, low: int, high: int) -> int | None:
    """Query parameter ``name`` as a whole number from ``low`` to ``high`` (``default`` when not
    given); None when it is given but is not one."""
    value = request.args.get(name)
    if value is None:
        return default
    return int(value) if value.isascii() and value.isdigit() and low <= int(value) <= high else None


@bp.get("/cases/<reference>/messages")
@token_required
def list_messages(reference: str):  # noqa: ANN201
    """The case's thread as the caller reads it, oldest first: ``?since=<id>`` the messages after
    that one, ``?limit=`` how many (``next``: the ``since`` of the next page, or null)."""
    since = _whole_number("since", 0, 0, MAX_ID)
    if since is None:
        return error(400, "The id of a message (a whole number), or 0.", "since")
    limit = _whole_number("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if limit is None:
        return error(400, f"A whole number from 1 to {MAX_PAGE_SIZE}.", "limit")
    session = get_db()
    case = find_visible_case(session, g.api_user, reference)
    if case is None:
        return error(404, "No such case.")
    messages = thread(session, case, g.api_user, since, limit + 1)
    more = len(messages) > limit
    messages = messages[:limit]
    record_access(session, case, g.api_user, "view", "api messages")
    if not more:
        mark_seen(session, g.api_user, case)
    session.commit()
    return jsonify(
        reference=reference,
        messages=message_schema.dump(messages, many=True),
        next=messages[-1].id if more else None,
    )


_FLAGS = {"true": True, "1": True, "on": True, "false": False, "0": False, "off": False, "": False}


def _message_input() -> tuple[Any, list[Any]]:
    """What was posted: JSON, or multipart form fields ``body``, ``internal``, ``request_info`` and
    files ``files``. MessageError for a body that is neither, or a flag that is not true or false."""
    if request.mimetype == "multipart/form-data":
        raw: dict[str, Any] = {k: v for k, v in request.form.items() if k not in ("internal", "request_info")}
        for flag in ("internal", "request_info"):
            if flag in request.form:
                value = _FLAGS.get(request.form[flag].strip().lower())
                if value is None:
                    raise MessageError({flag: ["Not a valid boolean."]})
                raw[flag] = value
        return raw, request.files.getlist("files")
    raw = request.get_json(silent=True)
    if raw is None:
        raise MessageError({"_request": ["The body must be JSON (Content-Type: application/json) or multipart."]})
    return raw, []


@bp.post("/cases/<reference>/messages")
@token_required
@idempotent
def create_message(reference: str):  # noqa: ANN201
    """Say something on the case: ``{"body", "internal", "request_info"}``, or multipart with files."""
    session, user = get_db(), g.api_user
    case = find_visible_case(session, user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    try:
        raw, uploads = _message_input()
        asked = check_message(raw)
        if asked["internal"] and user.role == "enterprise":
            raise lifecycle.TransitionError("forbidden", lifecycle.ENTERPRISE_NOTE)
        lifecycle.decide_message(case.status, actor_relation(case, user), asked["internal"], asked["request_info"])
        files = store_uploads(get_config(), uploads, "files")
        message = post_message(session, case, user, asked["body"], asked["internal"], files, source="api",
                               asks=asked["request_info"])  # fmt: skip
    except MessageError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.errors)), err.status
    except IntakeError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.errors)), err.status
    except lifecycle.TransitionError as err:
        session.rollback()
        status = {"forbidden": 403, "conflict": 409, "invalid": 400, "unknown": 400}[err.code]
        return error(status, err.message, "request_info" if err.code == "invalid" else "_request")
    response = jsonify(message_schema.dump(message))
    response.headers["Location"] = url_for("api.list_messages", reference=reference, since=message.id - 1)
    return committed(session, response, 201)


@bp.get("/queue")
@token_required
def queue():  # noqa: ANN201
    """The expert's active cases, soonest running deadline first; ``?status=`` and ``?right_type=``."""
    user: User = g.api_user
    if user.role != "expert":
        return error(403, "The queue is for experts.")
    if refused := refused_choice("status", lifecycle.ACTIVE_FOR_EXPERT) or refused_choice("right_type", RIGHT_TYPES):
        return refused
    rows = expert_queue(user, request.args.get("status"), request.args.get("right_type"))
    record_reads(get_db(), user, "queue api", [r["case"] for r in rows])
    get_db().commit()
    cases = []
    for row in rows:
        data = {k: v for k, v in case_to_dict(row["case"], row["deadlines"]).items() if k != "description"}
        data["needs_action"] = row["needs_action"]
        data["new_activity"] = row["news"]
        cases.append(data)
    return jsonify(needs_action=sum(r["needs_action"] for r in rows), cases=cases)


# --- the statistics report (coordinators) -------------------------------------------------------


@bp.get("/statistics")
@token_required
def statistics():  # noqa: ANN201
    """The statistics report of ``?period=`` (2026-11, 2026-Q4, 2026) or ``?from=``/``?to=`` (default:
    this month) as JSON (codes), or CSV, XLSX or PDF (labelled in the caller's language)."""
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators read the statistics.")
    if refused := refused_choice("format", STATISTICS_FORMATS):
        return refused
    for name in ("period", "from", "to"):
        if request.args.get(name) == "":  # (the page's form sends empty fields; a client leaves them out)
            return error(400, "Leave it out rather than empty.", name)
    try:
        period = parse_period(request.args.get("period"), request.args.get("from"), request.args.get("to"))
    except PeriodError as err:
        return error(422 if err.between_fields else 400, str(err.message), "period")
    report = statistics_report(get_db(), period)
    fmt = request.args.get("format") or "json"
    if fmt == "json":
        return jsonify(report_json(report))
    return statistics_download(report, fmt, g.api_user.language)


# --- the expert pool (coordinators) -----------------------------------------------------------


def _expert_or_none(expert_id: int) -> User | None:
    user = get_db().get(User, expert_id)
    return user if user is not None and user.role == "expert" else None


@bp.get("/experts")
@coordinator_required
def list_experts():  # noqa: ANN201
    """Every expert, by name; ``?active=true|false`` filters on the account being active."""
    if refused := refused_choice("active", ("true", "false")):
        return refused
    query = select(User).join(ExpertProfile, ExpertProfile.user_id == User.id).order_by(User.name, User.id)
    active = request.args.get("active")
    if active in ("true", "false"):
        query = query.where(User.is_active.is_(active == "true"))
    users = get_db().scalars(query.options(joinedload(User.expert).joinedload(ExpertProfile.supervisor))).all()
    return jsonify(experts=[expert_record(u) for u in users])


@bp.post("/experts")
@coordinator_required
@idempotent
def create_expert():  # noqa: ANN201
    return _save_expert(None)


@bp.get("/experts/<int:expert_id>")
@coordinator_required
def get_expert(expert_id: int):  # noqa: ANN201
    user = _expert_or_none(expert_id)
    if user is None:
        return error(404, "No such expert.")
    return jsonify(expert_record(user))


@bp.patch("/experts/<int:expert_id>")
@coordinator_required
def update_expert(expert_id: int):  # noqa: ANN201
    """Change any of an expert's fields; ``is_active: false`` deactivates, ``on_leave_until`` sets
    leave. Either re-routes the cases the expert has not accepted yet."""
    user = _expert_or_none(expert_id)
    if user is None:
        return error(404, "No such expert.")
    return _save_expert(user)


def _save_expert(user: User | None):  # noqa: ANN202
    session = get_db()
    try:
        data = load_input(expert_schema, request.get_json(silent=True), partial=user is not None)
        saved, outcome = save_expert(session, data, date.today(), existing=user, actor=g.api_user, via="api")
        session.flush()  # (what the database refuses, refused here)
    except ValidationError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.normalized_messages())), error_status(err.normalized_messages())
    except UserError as err:
        session.rollback()
        return error(409 if err.conflict else 400, str(err), err.field)
    response = jsonify(expert_record(saved))
    if outcome == "created":
        response.headers["Location"] = url_for("api.get_expert", expert_id=saved.id)
        return committed(session, response, 201)
    return committed(session, response, 200)


@bp.post("/experts/imports")
@coordinator_required
@idempotent
def import_experts():  # noqa: ANN201
    """Queue a CSV of experts (multipart ``file``, or a ``text/csv`` body); 202 with its progress."""
    upload = request.files.get("file")
    if upload:
        raw, filename = upload.read(), upload.filename or ""
    elif "file" in request.form:  # (a multipart text part without a file name, as a client may send it)
        raw, filename = request.form["file"].encode(), ""
    else:
        raw, filename = request.get_data(), ""
    if not raw:
        return error(400, "Send the CSV as the multipart field 'file' or as a text/csv body.", "file")
    session = get_db()
    try:
        job = queue_import(session, g.api_user, filename, raw)
        session.flush()  # (the job's id, for its Location)
    except ImportFileError as err:  # (what the file says, as 422; a request without a file is a 400)
        session.rollback()
        return error(422, str(err), "file")
    response = jsonify(import_record(job))
    response.headers["Location"] = url_for("api.get_import", import_id=job.id)
    return committed(session, response, 202)


@bp.get("/experts/imports/<int:import_id>")
@coordinator_required
def get_import(import_id: int):  # noqa: ANN201
    job = get_db().get(ExpertImport, import_id)
    if job is None:
        return error(404, "No such import.")
    return jsonify(import_record(job))


# --- early warning: watched marks (enterprises) and notices (everyone) -----------------------


@bp.get("/marks")
@token_required
def list_marks():  # noqa: ANN201
    if g.api_user.role != "enterprise":
        return error(403, "Watched marks are an enterprise's own trademarks.")
    return jsonify(marks=watched_mark_schema.dump(watched_marks_of(get_db(), g.api_user), many=True))


@bp.post("/marks")
@token_required
@idempotent
def add_mark():  # noqa: ANN201
    if g.api_user.role != "enterprise":
        return error(403, "Watched marks are an enterprise's own trademarks.")
    session = get_db()
    try:
        mark = watch_mark(session, g.api_user, request.get_json(silent=True))
    except WatchError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.errors)), 400
    session.flush()  # (its id, for the answer)
    return committed(session, jsonify(watched_mark_schema.dump(mark)), 201)


@bp.delete("/marks/<int:mark_id>")
@token_required
def remove_mark(mark_id: int):  # noqa: ANN201
    session = get_db()
    if g.api_user.role != "enterprise" or not unwatch_mark(session, g.api_user, mark_id):
        return error(404, "No such watched mark.")
    session.commit()
    return "", 204


@bp.get("/notices")
@token_required
def list_notices():  # noqa: ANN201
    """The caller's own notices, newest first; ``?kind=`` and ``?page=``."""
    if refused := refused_choice("kind", KINDS):
        return refused
    page = page_number(request.args.get("page"))
    if page is None:
        return error(400, f"A page number from 1 to {MAX_PAGE}.", "page")
    listing = notices_for(get_db(), g.api_user, page, request.args.get("kind"))
    record_notice_reads(get_db(), g.api_user, "notices api", listing.rows)
    get_db().commit()
    rows, total = listing.rows, listing.total
    return jsonify(
        total=total,
        page=page,
        notices=[
            {
                "id": n.id,
                "kind": n.kind,
                "created_at": n.created_at.isoformat(),
                "case": n.case.reference if n.case else None,
                "body": n.body,
            }  # fmt: skip
            for n in rows
        ],
    )


# --- webhooks (everyone's own) -----------------------------------------------------------------


@bp.get("/webhooks")
@token_required
def list_webhooks():  # noqa: ANN201
    """The caller's hooks, with their secrets, failures and whether they are disabled."""
    return jsonify(webhooks=webhook_schema.dump(hooks_of(get_db(), g.api_user), many=True))


@bp.post("/webhooks")
@token_required
def create_webhook():  # noqa: ANN201
    session = get_db()
    try:
        hook = register_hook(session, get_config(), g.api_user, request.get_json(silent=True))
    except WebhookError as err:
        return jsonify(errors=err.errors), err.status
    session.commit()
    return jsonify(webhook_schema.dump(hook)), 201


@bp.patch("/webhooks/<int:hook_id>")
@token_required
def change_webhook(hook_id: int):  # noqa: ANN201
    session = get_db()
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.owner_id != g.api_user.id:
        return error(404, "No such webhook.")
    try:
        change_hook(hook, request.get_json(silent=True))
    except WebhookError as err:
        return jsonify(errors=err.errors), err.status
    session.commit()
    return jsonify(webhook_schema.dump(hook))


@bp.delete("/webhooks/<int:hook_id>")
@token_required
def delete_webhook(hook_id: int):  # noqa: ANN201
    session = get_db()
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.owner_id != g.api_user.id:
        return error(404, "No such webhook.")
    remove_hook(session, hook)
    session.commit()
    return "", 204


# --- saved views (coordinators' and experts' own, and those shared within their role) ---------


@bp.get("/views")
@token_required
def list_views():  # noqa: ANN201
    """The caller's views and those shared by others of their role, each with the number of
    cases it finds that the caller may see."""
    if g.api_user.role not in VIEW_ROLES:
        return error(403, "Saved views are for coordinators and experts.")
    return jsonify(views=[tab.as_dict() for tab in tabs_for(get_db(), g.api_user)])


@bp.post("/views")
@token_required
@idempotent
def create_view():  # noqa: ANN201
    session = get_db()
    try:
        view = save_view(session, g.api_user, request.get_json(silent=True))
    except ViewError as err:
        session.rollback()
        return jsonify(errors=err.errors), err.status
    return committed(session, jsonify(tab_of(session, g.api_user, view).as_dict()), 201)


@bp.delete("/views/<int:view_id>")
@token_required
def remove_view(view_id: int):  # noqa: ANN201
    session = get_db()
    try:
        delete_view(session, g.api_user, view_id)
    except ViewError as err:
        return jsonify(errors=err.errors), err.status
    session.commit()
    return "", 204


# --- API tokens (everyone's own; coordinators may revoke anyone's) ----------------------------


def _moment(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def token_record(record: ApiToken) -> dict[str, Any]:
    """A token as its holder sees it listed: never the token itself (only its hash is kept)."""
    return {
        "id": record.id,
        "name": record.name,
        "created_at": _moment(record.created_at),
        "expires_at": _moment(record.expires_at),
        "last_used_at": _moment(record.last_used_at),
        "revoked": record.revoked_at is not None,
    }


@bp.get("/tokens")
@token_required
def list_tokens():  # noqa: ANN201
    return jsonify(tokens=[token_record(t) for t in tokens_of(get_db(), g.api_user)])


@bp.post("/tokens")
@token_required
def create_token():  # noqa: ANN201
    """A new token for the caller, shown in this answer only."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "The body must be a JSON object.")
    if unknown := sorted(body.keys() - {"name", "expires_in_days"}):
        return jsonify(errors={str(key): ["Unknown field."] for key in unknown}), 400
    config, session = get_config(), get_db()
    try:
        name, days = check_token_request(
            body.get("name"), body.get("expires_in_days", config.token_days), config.token_max_days
        )
    except TokenError as err:
        return jsonify(errors=api_errors(err.errors)), 400
    record, token = issue_token(session, g.api_user, name, days, actor=g.api_user)
    session.commit()
    return jsonify(id=record.id, name=record.name, token=token, expires_at=_moment(record.expires_at)), 201


@bp.delete("/tokens/<int:token_id>")
@token_required
def delete_token(token_id: int):  # noqa: ANN201
    session = get_db()
    if revoke_token(session, token_id, g.api_user) is None:
        return error(404, "No such token.")
    session.commit()
    return "", 204


@bp.get("/openapi.json")
def openapi():  # noqa: ANN201
    return jsonify(openapi_document(get_config().token_max_days))


def me_record(user: User) -> dict[str, Any]:
    """The caller's own account: who they are, their preferences and (enterprises) their approval."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "name": user.name,
        "language": user.language,
        "notifications": notification_settings(user),
        "approval": user.approval,
    }


@bp.get("/me")
@token_required
def me():  # noqa: ANN201
    return jsonify(me_record(g.api_user))


@bp.patch("/me")
@token_required
def update_me():  # noqa: ANN201
    """Change the caller's name, language and email preferences (``{"notifications": {kind:
    "immediately" | "daily" | "off"}}``; requests for information, legal deadlines and opinions
    cannot be "off")."""
    session = get_db()
    try:
        changes = check_preferences(request.get_json(silent=True))
    except PreferenceError as err:
        return jsonify(errors=api_errors(err.errors)), 400
    # The token's user may be detached (``auth._user_for_token_alone``): change the session's own.
    user = session.get(User, g.api_user.id)
    set_preferences(user, changes)
    session.commit()
    return jsonify(me_record(user))
