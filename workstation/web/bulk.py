"""Bulk actions (``services.bulk``): the desk's form on the cases ticked or the whole view, with a
page of what was done to each case and why not; and ``POST /api/v1/bulk-actions``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from workstation import bulk as rules
from workstation.i18n import Message, translate
from workstation.services.bulk import SCHEMAS, BulkError, answer, capped_references, load_request, run_bulk
from workstation.web.api import committed, idempotent, token_required
from workstation.web.coordinator import desk_view
from workstation.web.support import coordinators_only, get_db

bp = Blueprint("bulk", __name__, url_prefix="/coordinator")
api_bp = Blueprint("bulk_api", __name__, url_prefix="/api/v1")
bp.before_request(coordinators_only)

#: The desk's view, as the form carries it (hidden fields): "the whole view" is these cases.
VIEW_FIELDS = ("q", "status", "right_type", "sort")
#: What the result page calls each action.
ACTION_NAMES = {
    "reassign": _l("reassign"),
    "close": _l("close"),
    "classify": _l("set right type and service"),
    "mark_difficult": _l("mark difficult"),
    "convene_panel": _l("convene a panel"),
    "refer": _l("refer to a partner"),
}
_NUMBERS, _TEXTS = ("expert_id", "partner_id"), ("reason", "question", "right_type", "service")


def _form_request(form: MultiDict, references: list[str]) -> dict[str, Any]:
    """The desk's form as the bulk request of its action (the fields of that action only)."""
    action = form.get("action", "")
    wanted = SCHEMAS[action]().fields if action in SCHEMAS else {}
    raw: dict[str, Any] = {"action": action, "references": references}
    for key in wanted:
        if key in _NUMBERS:
            raw[key] = form.get(key, type=int)
        elif key in _TEXTS:
            raw[key] = form.get(key, "").strip()
        elif key == "expert_ids":
            raw[key] = form.getlist(key, type=int)
        elif key == "override_clearance":
            raw[key] = form.get(key) == "true"
    return raw


def _desk(form: MultiDict):  # noqa: ANN202
    """Back to the desk, on the view the form was posted from."""
    return redirect(url_for("coordinator.desk", **{k: form[k] for k in VIEW_FIELDS if form.get(k)})), 303


@bp.post("/bulk")
def bulk_page():  # noqa: ANN201
    """Apply the chosen action to the cases ticked, or to the whole view (``whole_view``)."""
    session, form = get_db(), request.form
    try:
        references = form.getlist("references")
        if form.get("whole_view") == "true":
            query, problem = desk_view(session, form)
            references = [] if problem else capped_references(session, query)
        if not (references := rules.unique(references)):
            raise BulkError({"_request": [Message(rules.NOTHING_SELECTED)]})
        data = load_request(current_user, _form_request(form, references))
        outcomes = run_bulk(session, current_user, data)
    except BulkError as err:
        session.rollback()
        for messages in err.errors.values():
            flash(" ".join(translate(m, _, str(get_locale())) for m in messages))
        return _desk(form)
    session.commit()
    problems = {o.reference: translate(o.problem, _, str(get_locale())) for o in outcomes if o.problem}
    return render_template("coordinator/bulk_result.html", action=ACTION_NAMES[data["action"]], outcomes=outcomes,
                           problems=problems, counts=rules.summary(outcomes),
                           back={k: form[k] for k in VIEW_FIELDS if form.get(k)})  # fmt: skip


@api_bp.post("/bulk-actions")
@token_required
@idempotent
def bulk_api():  # noqa: ANN201
    """One action on many cases: each case's outcome, done or not and why (a 200 even if none was)."""
    session = get_db()
    try:
        data = load_request(g.api_user, request.get_json(silent=True))
        outcomes = run_bulk(session, g.api_user, data, source="api")
    except BulkError as err:
        session.rollback()
        return jsonify(errors={k: [str(m) for m in v] for k, v in err.errors.items()}), err.status
    return committed(session, jsonify(answer(data["action"], outcomes)), 200)
