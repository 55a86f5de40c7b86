"""Trainees who learn (``services.training``): on the case page, the trainee's drafts and their
form, and the expert's reviews; a trainee's record page; the coordinators' list of trainees and
their promotion to expert; and the API of all of it. Never anything of it to the enterprise."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from marshmallow import ValidationError

from workstation import lifecycle, training
from workstation.services.auth import UserError
from workstation.services.cases import find_visible_case, record_access
from workstation.services.models import Case, User
from workstation.services.schemas import api_errors, load_input
from workstation.services.training import (
    DraftInputSchema,
    ReviewInputSchema,
    draft_schema,
    drafts_on_case,
    find_draft,
    find_trainee,
    is_trainee,
    promote,
    record_json,
    review_draft,
    trainee_record,
    trainees,
    write_draft,
)
from workstation.web.api import error, token_required
from workstation.web.support import act_on_case_page, coordinators_only, get_db

bp = Blueprint("training", __name__)
api_bp = Blueprint("training_api", __name__, url_prefix="/api/v1")

#: The refusals the pages explain (the rest say the case has moved on, or that it is not theirs).
_EXPLAINED = (training.NOT_SHADOWING, training.NOT_NOW, training.NOT_THE_EXPERT, training.REVIEWED_ALREADY,
              training.EMPTY_DRAFT, training.LONG_DRAFT, training.EMPTY_COMMENTS, training.RATINGS_NEEDED)  # fmt: skip
_STATUS_OF = {"forbidden": 403, "invalid": 400, "conflict": 409}
KIND_NAMES = {"note": _l("Shadow note"), "opinion": _l("Draft opinion")}


def training_context(session: Any, case: Case, user: User) -> dict[str, Any]:
    """What the case page shows of trainees' drafts to ``user``: the drafts they may read (a
    trainee their own, the case's expert all, coordinators all), whether they write one (the
    trainee shadowing it) and whether they review (the case's expert). Nothing to the enterprise."""
    if user.role == "enterprise":
        return {"training": None}
    drafts = drafts_on_case(session, case, user)
    writes = case.shadow_expert_id == user.id and not case.confidential and is_trainee(user)
    writes = writes and case.status in training.DRAFT_STATUSES
    if not drafts and not writes:
        return {"training": None}
    return {
        "training": {
            "drafts": drafts,
            "writes": writes,
            "reviews": user.role == "expert" and case.assigned_expert_id == user.id,
            "kinds": training.KINDS,
            "kind_names": KIND_NAMES,
            "competences": training.COMPETENCES,
            "scale": range(training.LOWEST, training.HIGHEST + 1),
            "max_draft": training.MAX_DRAFT,
            "max_comments": training.MAX_COMMENTS,
        }
    }


def _page_act(reference: str, act: Any, done: str):  # noqa: ANN202
    return act_on_case_page(reference, act, done, "training", _EXPLAINED)


@bp.post("/cases/<reference>/drafts")
@login_required
def write(reference: str):  # noqa: ANN201
    kind, body = request.form.get("kind", ""), request.form.get("body", "")
    if kind not in training.KINDS:
        abort(400)
    return _page_act(reference, lambda s, case: write_draft(s, case, current_user, kind, body),
                     _("Your draft is submitted; the case's expert is asked to review it."))  # fmt: skip


def _form_ratings() -> dict[str, int]:
    """The review form's ratings; a missing or odd one is left out (``ratings_errors`` refuses)."""
    ratings = {}
    for competence in training.COMPETENCES:
        value = request.form.get(f"rating_{competence}", "")
        if value.isdigit() and len(value) == 1:
            ratings[competence] = int(value)
    return ratings


@bp.post("/cases/<reference>/drafts/<int:draft_id>/review")
@login_required
def review(reference: str, draft_id: int):  # noqa: ANN201
    comments, ratings = request.form.get("comments", "")[: training.MAX_COMMENTS], _form_ratings()

    def act(session: Any, case: Case) -> None:
        draft = find_draft(session, current_user, draft_id, for_update=True)
        if draft is None or draft.case_id != case.id:
            abort(404)
        review_draft(session, draft, current_user, comments, ratings)

    return _page_act(reference, act, _("Your review is recorded; the trainee is mailed."))


@bp.get("/trainees/<int:user_id>")
@login_required
def record(user_id: int):  # noqa: ANN201
    """A trainee's record: to themselves and to coordinators."""
    session = get_db()
    trainee = find_trainee(session, current_user, user_id)
    if trainee is None:
        abort(404)
    return render_template("trainee_record.html", record=trainee_record(session, trainee), kind_names=KIND_NAMES,
                           competences=training.COMPETENCES, ready_average=training.READY_AVERAGE,
                           may_promote=current_user.role == "coordinator" and is_trainee(trainee))  # fmt: skip


@bp.get("/trainees")
@login_required
def listing():  # noqa: ANN201
    """Coordinators: every trainee's record in a line. A trainee: their own record."""
    if current_user.role != "coordinator":
        if current_user.role == "expert" and is_trainee(current_user):
            return redirect(url_for("training.record", user_id=current_user.id))
        abort(404)
    return render_template("trainees.html", trainees=trainees(get_db()), competences=training.COMPETENCES)


@bp.post("/trainees/<int:user_id>/promotion")
@login_required
def promote_page(user_id: int):  # noqa: ANN201
    coordinators_only()
    session = get_db()
    trainee = find_trainee(session, current_user, user_id)
    if trainee is None:
        abort(404)
    try:
        promote(session, current_user, trainee, date.today())
        session.commit()
        flash(_("%(name)s is now an expert: routing may give them cases.", name=trainee.name))
    except UserError:
        session.rollback()
        flash(_("Only a trainee is promoted to expert."))
    return redirect(url_for("training.record", user_id=user_id), 303)


# --- the API ------------------------------------------------------------------------------------


def _refusal(err: lifecycle.TransitionError, field: str = "_request"):  # noqa: ANN202
    return error(_STATUS_OF.get(err.code, 409), err.message, field if err.code == "invalid" else "_request")


@api_bp.get("/cases/<reference>/drafts")
@token_required
def list_drafts(reference: str):  # noqa: ANN201
    """The trainees' drafts on the case the caller may read (never the enterprise)."""
    session, user = get_db(), g.api_user
    case = find_visible_case(session, user, reference)
    if case is None:
        return error(404, "No such case.")
    if user.role == "enterprise":
        return error(403, "Trainees' drafts are for the trainee, the case's expert and the coordinators.")
    record_access(session, case, user, "view", "drafts api")
    session.commit()
    return jsonify(drafts=draft_schema.dump(drafts_on_case(session, case, user), many=True))


@api_bp.post("/cases/<reference>/drafts")
@token_required
def create_draft(reference: str):  # noqa: ANN201
    """The trainee shadowing the case writes a draft, submitted for review: ``{"kind", "body"}``."""
    session, user = get_db(), g.api_user
    try:
        data = load_input(DraftInputSchema(), request.get_json(silent=True))
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    case = find_visible_case(session, user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    try:
        draft = write_draft(session, case, user, data["kind"], data["body"])
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        return _refusal(err, "body")
    return jsonify(draft_schema.dump(draft)), 201


@api_bp.post("/drafts/<int:draft_id>/review")
@token_required
def review_api(draft_id: int):  # noqa: ANN201
    """The case's expert reviews a draft: ``{"comments", "ratings": {competence: 1-5, ...}}``."""
    session, user = get_db(), g.api_user
    try:
        data = load_input(ReviewInputSchema(), request.get_json(silent=True))
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    draft = find_draft(session, user, draft_id, for_update=True)
    if draft is None:
        session.rollback()
        return error(404, "No such draft.")
    try:
        review_draft(session, draft, user, data["comments"], data["ratings"])
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        return _refusal(err, "comments")
    return jsonify(draft_schema.dump(draft))


@api_bp.get("/trainees")
@token_required
def list_trainees():  # noqa: ANN201
    """Coordinators: every trainee (and promoted former trainee) with their averages."""
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators see every trainee's record.")
    listed = [{"id": t["user"].id, "name": t["user"].name, "is_trainee": bool(t["user"].expert.is_trainee),
               "supervisor": {"id": t["supervisor"].id, "name": t["supervisor"].name} if t["supervisor"] else None,
               "drafts": t["drafts"], "reviewed": t["reviewed"], "averages": t["averages"],
               "ready_for_promotion": t["readiness"].ready} for t in trainees(get_db())]  # fmt: skip
    return jsonify(trainees=listed)


@api_bp.get("/trainees/<int:user_id>")
@token_required
def get_record(user_id: int):  # noqa: ANN201
    """A trainee's record: to themselves and to coordinators."""
    session = get_db()
    trainee = find_trainee(session, g.api_user, user_id)
    if trainee is None:
        return error(404, "No such trainee.")
    return jsonify(record_json(trainee_record(session, trainee)))


@api_bp.post("/trainees/<int:user_id>/promotion")
@token_required
def promote_api(user_id: int):  # noqa: ANN201
    """A coordinator promotes a trainee to expert (audited)."""
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators promote a trainee.")
    session = get_db()
    trainee = find_trainee(session, g.api_user, user_id)
    if trainee is None:
        return error(404, "No such trainee.")
    try:
        promote(session, g.api_user, trainee, date.today())
        session.commit()
    except UserError as err:
        session.rollback()
        return error(409, str(err))
    return jsonify(record_json(trainee_record(session, trainee)))
