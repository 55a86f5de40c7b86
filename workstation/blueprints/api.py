"""The JSON API (``/api/v1``), authenticated with ``Authorization: Bearer <token>``.

Every error answers ``{"errors": {field: [message, ...]}}``; errors that are not about one
field use the key ``_request``.
"""

from __future__ import annotations

import json
import logging
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from workstation import lifecycle
from workstation.auth import user_for_token
from workstation.cases import detail_for, find_visible_case, transition, visible_cases
from workstation.intake import IntakeError, accept_submission
from workstation.models import Case, User
from workstation.openapi import openapi_document
from workstation.schemas import case_schema, event_schema, transition_schema
from workstation.web_support import get_config, get_db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


def error(status: int, message: str, field: str = "_request"):  # noqa: ANN201
    return jsonify(errors={field: [message]}), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # noqa: ANN202
    return error(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):  # noqa: ANN202
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error(500, "Internal error; it has been logged.")


def token_required(view):  # noqa: ANN001, ANN201
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(get_db(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            response, status = error(401, "A valid bearer token is required.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response, status
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def case_to_dict(case: Case) -> dict[str, Any]:
    data = case_schema.dump(case)
    data["links"] = {
        "self": url_for("api.get_case", reference=case.reference),
        "page": url_for("web.case_page", reference=case.reference),
    }
    return data


@bp.post("/cases")
@token_required
def create_case():  # noqa: ANN201
    user: User = g.api_user
    if user.role != "enterprise":
        return error(403, "Only enterprise accounts submit cases.")
    if request.mimetype == "multipart/form-data":
        try:
            raw = json.loads(request.form.get("case", ""))
        except ValueError:
            return error(400, "The 'case' part must be a JSON object.", "case")
        uploads = request.files.getlist("evidence")
    else:
        raw = request.get_json(silent=True)
        if raw is None:
            return error(400, "The body must be JSON (Content-Type: application/json).")
        uploads = []
    try:
        case = accept_submission(get_db(), get_config(), user, raw, uploads)
    except IntakeError as err:
        get_db().rollback()
        return jsonify(errors=err.errors), err.status
    response = jsonify(case_to_dict(case))
    response.headers["Location"] = url_for("api.get_case", reference=case.reference)
    return response, 201


@bp.get("/cases/<reference>")
@token_required
def get_case(reference: str):  # noqa: ANN201
    case = find_visible_case(get_db(), g.api_user, reference)
    if case is None:
        return error(404, "No such case.")
    return jsonify(case_to_dict(case))


@bp.get("/cases/<reference>/events")
@token_required
def case_events(reference: str):  # noqa: ANN201
    case = find_visible_case(get_db(), g.api_user, reference)
    if case is None:
        return error(404, "No such case.")
    events = event_schema.dump(case.events, many=True)
    for dumped, event in zip(events, case.events, strict=True):
        dumped["detail"] = detail_for(event, g.api_user)
    return jsonify(reference=case.reference, events=events)


@bp.post("/cases/<reference>/transitions")
@token_required
def case_transition(reference: str):  # noqa: ANN201
    session = get_db()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "The body must be a JSON object.")
    try:
        asked = transition_schema.load(body)
    except ValidationError as err:
        return jsonify(errors=err.normalized_messages()), 400
    action, reason, expert_id = asked["action"], asked["reason"], asked["expert_id"]
    if action not in lifecycle.USER_ACTIONS:
        return error(400, f"Unknown action; one of {', '.join(lifecycle.USER_ACTIONS)}.", "action")
    case = find_visible_case(session, g.api_user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    if action == "reassign":
        expert = session.get(User, expert_id) if expert_id else None
        if expert is None or expert.expert is None or not expert.is_active:
            session.rollback()
            return error(400, "expert_id must name an active expert.", "expert_id")
    try:
        transition(session, case, action, g.api_user, reason=reason, expert_id=expert_id)
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        status = {"forbidden": 403, "conflict": 409, "invalid": 400, "unknown": 400}[err.code]
        return error(status, err.message, "reason" if err.code == "invalid" else "_request")
    return jsonify(case_to_dict(case))


@bp.get("/queue")
@token_required
def queue():  # noqa: ANN201
    user: User = g.api_user
    if user.role != "expert":
        return error(403, "The queue is for experts.")
    cases = (
        get_db()
        .scalars(
            visible_cases(user).where(Case.status.in_(lifecycle.ACTIVE_FOR_EXPERT)).order_by(Case.created_at.desc())
        )
        .all()
    )
    return jsonify(
        needs_action=sum(1 for c in cases if c.status == lifecycle.ASSIGNED),
        cases=[{k: v for k, v in case_to_dict(c).items() if k != "description"} for c in cases],
    )


@bp.get("/openapi.json")
def openapi():  # noqa: ANN201
    return jsonify(openapi_document())


@bp.get("/me")
@token_required
def me():  # noqa: ANN201
    user: User = g.api_user
    return jsonify(id=user.id, email=user.email, role=user.role, name=user.name, language=user.language)
