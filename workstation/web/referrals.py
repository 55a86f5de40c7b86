"""Referrals to partner bodies (``services.referrals``): the coordinators' directory of partners,
referring a case from its page and recording the partner's steps, the printable referral letter,
and the same through the API (``/api/v1/partners``, ``/api/v1/cases/<reference>/referrals``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from workstation import lifecycle
from workstation import referrals as rules
from workstation.i18n import label, translate
from workstation.services.cases import find_visible_case, record_access
from workstation.services.conversation import reads_notes
from workstation.services.intake import IntakeError, store_uploads
from workstation.services.models import Case, Partner
from workstation.services.referrals import (
    ReferralChangeSchema,
    ReferralInputSchema,
    dump_referral,
    find_referral,
    may_refer,
    partner_input_schema,
    partner_schema,
    partners,
    record_step,
    refer,
    referrals_of,
    save_partner,
)
from workstation.services.schemas import api_errors, form_errors, load_input
from workstation.vocabulary import RIGHT_TYPES
from workstation.web.api import error, token_required
from workstation.web.support import coordinators_only, get_config, get_db

bp = Blueprint("referrals", __name__)
api_bp = Blueprint("referrals_api", __name__, url_prefix="/api/v1")

_STATUS_OF = {"forbidden": 403, "conflict": 409, "invalid": 400, "unknown": 400}


def referral_context(session: Any, case: Case) -> dict[str, Any]:
    """What the case page shows of the case's referrals (``templates/_referrals.html``)."""
    shown = referrals_of(session, case)
    offer = may_refer(case, current_user)
    return {"referrals": shown, "may_refer": offer, "partners": partners(session, active_only=True) if offer else []}


# --- the directory (coordinators) ---------------------------------------------------------------


def _partner_form(form: MultiDict) -> dict[str, Any]:
    """The directory form as ``PartnerInputSchema``'s input (languages typed as "zh, en")."""
    text = ("name", "kind", "contact_name", "email", "phone", "address", "notes")
    data: dict[str, Any] = {key: form.get(key, "").strip() for key in text}
    data["languages"] = [code.strip().lower() for code in form.get("languages", "").replace("，", ",").split(",")
                         if code.strip()]  # fmt: skip
    data["fields"] = form.getlist("fields")
    return data


def _as_form(partner: Partner) -> dict[str, Any]:
    """A partner as its edit form shows it."""
    return {**partner_schema.dump(partner), "languages": ", ".join(partner.languages)}


def _directory(errors: dict[str, list[str]] | None = None, form: Any = None, partner: Partner | None = None):  # noqa: ANN202
    if form is None and partner is not None:
        form = _as_form(partner)
    template = "coordinator/partner_form.html" if partner is not None else "coordinator/partners.html"
    page = render_template(template, partners=partners(get_db()), partner=partner, errors=errors or {},
                           form=form or {}, kinds=rules.PARTNER_KINDS, right_types=RIGHT_TYPES)  # fmt: skip
    return page, 400 if errors else 200


@bp.get("/coordinator/partners")
@login_required
def directory():  # noqa: ANN201
    coordinators_only()
    return _directory()


@bp.post("/coordinator/partners")
@login_required
def add_partner():  # noqa: ANN201
    coordinators_only()
    try:
        data = partner_input_schema.load(_partner_form(request.form))
    except ValidationError as err:
        return _directory(form_errors(err.messages), request.form)
    partner = save_partner(get_db(), current_user, None, data)
    get_db().commit()
    flash(_("%(name)s was added to the directory.", name=partner.name))
    return redirect(url_for("referrals.directory")), 303


@bp.route("/coordinator/partners/<int:partner_id>", methods=["GET", "POST"])
@login_required
def edit_partner(partner_id: int):  # noqa: ANN201
    coordinators_only()
    session = get_db()
    partner = session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    if request.method == "GET":
        return _directory(partner=partner)
    try:
        data = partner_input_schema.load({**_partner_form(request.form), "is_active": "is_active" in request.form})
    except ValidationError as err:
        return _directory(form_errors(err.messages), request.form, partner)
    save_partner(session, current_user, partner, data)
    session.commit()
    flash(_("%(name)s was saved.", name=partner.name))
    return redirect(url_for("referrals.directory")), 303


@bp.post("/coordinator/partners/<int:partner_id>/deactivate")
@login_required
def deactivate_partner(partner_id: int):  # noqa: ANN201
    coordinators_only()
    session = get_db()
    partner = session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    save_partner(session, current_user, partner, {"is_active": False})
    session.commit()
    flash(_("%(name)s is no longer offered for referrals; its referrals are kept.", name=partner.name))
    return redirect(url_for("referrals.directory")), 303


# --- referring a case, recording the partner's steps (the case page) ----------------------------


def _refused(reference: str, err: lifecycle.TransitionError):  # noqa: ANN202
    get_db().rollback()
    flash(translate(err.message, _, str(get_locale())) if err.code in ("forbidden", "invalid") else
          _("The referral has moved on; this is no longer possible."))  # fmt: skip
    return redirect(url_for("web.case_page", reference=reference) + "#referrals"), 303


@bp.post("/cases/<reference>/referrals")
@login_required
def refer_case(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=True)
    if case is None:
        abort(404)
    try:
        asked = ReferralInputSchema().load({"partner_id": request.form.get("partner_id", type=int),
                                            "question": request.form.get("question", "").strip()})  # fmt: skip
    except ValidationError:
        asked = None
    partner = session.get(Partner, asked["partner_id"]) if asked else None
    if partner is None:
        session.rollback()
        flash(_("Choose a partner and write the question you refer to it (at most 4000 characters)."))
        return redirect(url_for("web.case_page", reference=reference) + "#referrals"), 303
    try:
        referral = refer(session, case, current_user, partner, asked["question"])
        session.commit()
    except lifecycle.TransitionError as err:
        return _refused(reference, err)
    flash(_("The case was referred to %(partner)s; print the letter and send it.", partner=partner.name))
    return redirect(url_for("referrals.letter", reference=reference, referral_id=referral.id)), 303


@bp.post("/cases/<reference>/referrals/<int:referral_id>")
@login_required
def record_referral_step(reference: str, referral_id: int):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=True)
    referral = find_referral(session, case, referral_id) if case is not None else None
    if referral is None:
        abort(404)
    status = request.form.get("status", "")
    try:
        files = store_uploads(get_config(), request.files.getlist("files"), "files") if status == "answered" else []
        record_step(session, case, referral, current_user, status, request.form.get("answer"), files)
        session.commit()
    except lifecycle.TransitionError as err:
        return _refused(reference, err)
    except IntakeError as err:
        session.rollback()
        flash(" ".join(translate(m, _, str(get_locale())) for messages in err.errors.values() for m in messages))
        return redirect(url_for("web.case_page", reference=reference) + "#referrals"), 303
    flash(_("Recorded: %(status)s.", status=label(f"referral_{status}", _)))
    return redirect(url_for("web.case_page", reference=reference) + "#referrals"), 303


@bp.get("/cases/<reference>/referrals/<int:referral_id>/letter")
@login_required
def letter(reference: str, referral_id: int):  # noqa: ANN201
    """The referral letter, printable, in the case's language (the partner reads the case's
    language, whoever prints it)."""
    session = get_db()
    case = find_visible_case(session, current_user, reference)
    referral = find_referral(session, case, referral_id) if case is not None else None
    if referral is None or not reads_notes(current_user):
        abort(404)
    record_access(session, case, current_user, "view", "referral letter")
    session.commit()
    with force_locale(case.language):
        return render_template("referral_letter.html", case=case, referral=referral,
                               centre_site=get_config().base_url, lang=case.language)  # fmt: skip


# --- the API ------------------------------------------------------------------------------------


@api_bp.get("/partners")
@token_required
def list_partners():  # noqa: ANN201
    """The directory: all of it to coordinators, the active partners to experts (to choose from)."""
    if g.api_user.role not in ("coordinator", "expert"):
        return error(403, "Only experts and coordinators use the partners' directory.")
    shown = partners(get_db(), active_only=g.api_user.role != "coordinator")
    return jsonify(partners=partner_schema.dump(shown, many=True))


@api_bp.post("/partners")
@token_required
def create_partner():  # noqa: ANN201
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators keep the partners' directory.")
    try:
        data = load_input(partner_input_schema, request.get_json(silent=True))
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    partner = save_partner(get_db(), g.api_user, None, data)
    get_db().commit()
    return jsonify(partner_schema.dump(partner)), 201


@api_bp.patch("/partners/<int:partner_id>")
@token_required
def change_partner(partner_id: int):  # noqa: ANN201
    """Change some of a partner's fields (``is_active: false`` deactivates it)."""
    if g.api_user.role != "coordinator":
        return error(403, "Only coordinators keep the partners' directory.")
    session = get_db()
    partner = session.get(Partner, partner_id)
    if partner is None:
        return error(404, "No such partner.")
    try:
        data = load_input(partner_input_schema, request.get_json(silent=True), partial=True)
    except ValidationError as err:
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    save_partner(session, g.api_user, partner, data)
    session.commit()
    return jsonify(partner_schema.dump(partner))


@api_bp.get("/cases/<reference>/referrals")
@token_required
def list_referrals(reference: str):  # noqa: ANN201
    session, user = get_db(), g.api_user
    case = find_visible_case(session, user, reference)
    if case is None:
        return error(404, "No such case.")
    record_access(session, case, user, "view", "referrals api")
    session.commit()
    return jsonify(referrals=[dump_referral(r, user) for r in referrals_of(session, case)])


@api_bp.post("/cases/<reference>/referrals")
@token_required
def create_referral(reference: str):  # noqa: ANN201
    session, user = get_db(), g.api_user
    body = request.get_json(silent=True)
    case = find_visible_case(session, user, reference, for_update=True)
    if case is None:
        session.rollback()
        return error(404, "No such case.")
    try:
        asked = load_input(ReferralInputSchema(), body)
        partner = session.get(Partner, asked["partner_id"])
        if partner is None:  # (a well-formed id of no partner: what exists, not the input, refuses)
            session.rollback()
            return error(409, "No such partner.", "partner_id")
        referral = refer(session, case, user, partner, asked["question"])
        session.commit()
    except ValidationError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    except lifecycle.TransitionError as err:
        session.rollback()
        return error(_STATUS_OF[err.code], err.message, "partner_id" if err.code == "invalid" else "_request")
    response = jsonify(dump_referral(referral, user))
    response.headers["Location"] = url_for("referrals_api.list_referrals", reference=reference)
    return response, 201


@api_bp.patch("/cases/<reference>/referrals/<int:referral_id>")
@token_required
def change_referral(reference: str, referral_id: int):  # noqa: ANN201
    """Record the partner's step: ``{"status": "acknowledged" | "answered" | "closed", "answer"}``,
    or the same as multipart form fields with the answer's files ``files``."""
    session, user = get_db(), g.api_user
    multipart = request.mimetype == "multipart/form-data"
    body = {k: v for k, v in request.form.items()} if multipart else request.get_json(silent=True)
    case = find_visible_case(session, user, reference, for_update=True)
    referral = find_referral(session, case, referral_id) if case is not None else None
    if referral is None:
        session.rollback()
        return error(404, "No such referral.")
    try:
        asked = load_input(ReferralChangeSchema(), body)
        uploads = request.files.getlist("files") if multipart and asked["status"] == "answered" else []
        files = store_uploads(get_config(), uploads, "files")
        record_step(session, case, referral, user, asked["status"], asked["answer"], files)
        session.commit()
    except ValidationError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.normalized_messages())), 400
    except IntakeError as err:
        session.rollback()
        return jsonify(errors=api_errors(err.errors)), err.status
    except lifecycle.TransitionError as err:
        session.rollback()
        return error(_STATUS_OF[err.code], err.message, "answer" if err.code == "invalid" else "_request")
    return jsonify(dump_referral(referral, user))
