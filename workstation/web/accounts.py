"""Accounts people run themselves: enterprises sign up (``/register``), confirm their email and wait
for approval; invitees choose their first password (``/invitation/<token>``); coordinators invite
people and decide on registrations (``/coordinator/invitations``, ``/coordinator/registrations``)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from workstation.evidence import path_of
from workstation.services.accounts import (
    CONFIRM_PATH,
    INVITABLE_ROLES,
    INVITATION_PATH,
    LANGUAGE_CHOICES,
    RegistrationError,
    accept_invitation,
    check_registration,
    confirm_email,
    decide_registration,
    invite,
    invite_new_user,
    may_accept_invitation,
    pending_invitations,
    pending_registrations,
    register_enterprise,
    registration_of,
    resend_confirmation,
    submission_refusal,
    unconfirmed_count,
    user_for_confirmation_token,
    user_for_invitation_token,
)
from workstation.services.auth import UserError
from workstation.services.intake import IntakeError, store_uploads
from workstation.services.logins import may_send_mail, start_login_session
from workstation.services.models import Registration, User
from workstation.services.schemas import RIGHT_TYPES
from workstation.web.pages import LOGIN_SECRET, minutes_to_wait, too_many_requests
from workstation.web.support import coordinators_only, get_config, get_db

bp = Blueprint("accounts", __name__)
# The links the notify worker writes into emails lead here.
assert INVITATION_PATH == "/invitation/" and CONFIRM_PATH == "/register/confirm/"


def _coordinators_only(view):  # noqa: ANN001, ANN202
    """For this blueprint's few coordinator views (the rest is for anyone): ``coordinators_only``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        refused = coordinators_only()
        return refused if refused is not None else view(*args, **kwargs)

    return wrapper


# --- enterprises sign up ----------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
def register():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    errors: dict[str, list[str]] = {}
    form = request.form
    if request.method == "POST":
        db, config = get_db(), get_config()
        try:
            data = check_registration(db, form.to_dict())
            # Counted once it would be mailed (a form refused for its fields sends nothing).
            wait = may_send_mail(db, config, data["email"], request.remote_addr or "")
            if wait is not None:
                return too_many_requests("register.html", wait, errors={}, form=form, languages=LANGUAGE_CHOICES)
            licences = store_uploads(config, request.files.getlist("licence"), "licence")
            if len(licences) > 1:
                raise IntakeError({"licence": [_("Send one file.")]})
            register_enterprise(db, data, licences[0] if licences else None)
            db.commit()
        except RegistrationError as err:
            db.rollback()
            errors = err.errors
        except IntakeError as err:
            db.rollback()
            errors = err.errors
        except UserError as err:  # (a race with another sign-up of the same code or email)
            db.rollback()
            errors = {err.field: [err.args[0]]}
        else:
            # The same answer whether or not the email had an account (its owner is mailed).
            return render_template("register_done.html", email=data["email"]), 200
    status = 400 if errors else 200
    return render_template("register.html", errors=errors, form=form, languages=LANGUAGE_CHOICES), status


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):  # noqa: ANN201
    """The mailed link: a button (a POST, so that a mail scanner opening the link confirms nothing)."""
    db = get_db()
    user = user_for_confirmation_token(db, get_config(), token)
    if user is None:
        return render_template("register_confirm.html", valid=False), 400
    if request.method == "POST":
        confirm_email(db, user)
        db.commit()
        flash(_("Thank you: your email is confirmed. A coordinator will now review your registration."))
        return redirect(url_for("accounts.waiting" if current_user.is_authenticated else "web.login")), 303
    return render_template("register_confirm.html", valid=True, user=user)


@bp.get("/register/waiting")
@login_required
def waiting():  # noqa: ANN201
    """What an enterprise not approved yet sees instead of its cases."""
    if current_user.role != "enterprise" or current_user.approval == "approved":
        return redirect(url_for("web.index"))
    registration = registration_of(get_db(), current_user)
    return render_template("register_waiting.html", registration=registration, why=submission_refusal(current_user))


@bp.post("/register/resend")
@login_required
def resend():  # noqa: ANN201
    db = get_db()
    wait = may_send_mail(db, get_config(), current_user.email, request.remote_addr or "")
    if wait is not None:
        flash(_("Too many requests: please try again in %(minutes)d minutes.", minutes=minutes_to_wait(wait)))
        return redirect(url_for("accounts.waiting")), 303
    if current_user.role == "enterprise" and resend_confirmation(db, current_user):
        db.commit()
        flash(_("A new link is on its way to %(email)s.", email=current_user.email))
    return redirect(url_for("accounts.waiting")), 303


# --- invitations ------------------------------------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):  # noqa: ANN201
    """Choose the first password from an invitation; then the invitee is logged in."""
    db = get_db()
    user = user_for_invitation_token(db, get_config(), token)
    if user is None:
        return render_template("invitation.html", valid=False, errors={}), 400
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            accept_invitation(db, user, request.form.get("new_password", ""))
        except UserError as err:
            db.rollback()
            errors[err.field] = [err.args[0]]
        else:
            secret = start_login_session(db, user)
            db.commit()
            logout_user()
            session.clear()  # nothing from before is carried into the login
            session[LOGIN_SECRET] = secret
            login_user(user)
            flash(_("Welcome! Your password is set and you are logged in."))
            return redirect(url_for("web.index")), 303
    return render_template("invitation.html", valid=True, user=user, errors=errors), 400 if errors else 200


@bp.route("/coordinator/invitations", methods=["GET", "POST"])
@_coordinators_only
def invitations():  # noqa: ANN201
    db = get_db()
    errors: dict[str, list[str]] = {}
    form = request.form
    if request.method == "POST":
        try:
            user = invite_new_user(
                db,
                current_user,
                form.get("email", ""),
                form.get("role", ""),
                form.get("name", ""),
                form.get("language", ""),
                organisation=form.get("organisation", ""),
                credit_code=form.get("credit_code", "").strip().upper() or None,
                right_types=form.getlist("right_types"),
            )
            db.commit()
        except UserError as err:
            db.rollback()
            errors = {err.field: [err.args[0]]}
        else:
            flash(_("An invitation is on its way to %(email)s.", email=user.email))
            return redirect(url_for("accounts.invitations")), 303
    return render_template(
        "coordinator/invitations.html",
        errors=errors,
        form=form,
        invited=pending_invitations(db),
        roles=INVITABLE_ROLES,
        languages=LANGUAGE_CHOICES,
        right_types=RIGHT_TYPES,
        selected=form.getlist("right_types"),
        config_days=get_config().account_link_days,
    ), 400 if errors else 200


@bp.post("/coordinator/invitations/<int:user_id>/again")
@_coordinators_only
def invite_again(user_id: int):  # noqa: ANN201
    db = get_db()
    user = db.get(User, user_id)
    if user is None or not may_accept_invitation(user):
        abort(404)
    invite(db, user, current_user.id, "page")
    db.commit()
    flash(_("An invitation is on its way to %(email)s.", email=user.email))
    return redirect(url_for("accounts.invitations")), 303


# --- registrations (coordinators) ---------------------------------------------------------------


@bp.get("/coordinator/registrations")
@_coordinators_only
def registrations():  # noqa: ANN201
    db = get_db()
    return render_template(
        "coordinator/registrations.html", pending=pending_registrations(db), unconfirmed=unconfirmed_count(db)
    )


@bp.post("/coordinator/registrations/<int:registration_id>/decision")
@_coordinators_only
def decide(registration_id: int):  # noqa: ANN201
    db = get_db()
    registration = db.get(Registration, registration_id)
    if registration is None:
        abort(404)
    approve = request.form.get("decision") == "approve"
    if request.form.get("decision") not in ("approve", "refuse"):
        abort(400)
    try:
        decide_registration(db, current_user, registration, approve, request.form.get("reason", ""))
        db.commit()
    except UserError as err:
        db.rollback()
        flash(_("Please give a reason.") if err.field == "reason" else _(err.args[0]))
        return redirect(url_for("accounts.registrations")), 303
    name = registration.user.name
    flash(_("%(name)s is approved.", name=name) if approve else _("%(name)s is refused.", name=name))
    return redirect(url_for("accounts.registrations")), 303


@bp.get("/coordinator/registrations/<int:registration_id>/licence")
@_coordinators_only
def licence(registration_id: int):  # noqa: ANN201
    registration = get_db().get(Registration, registration_id)
    if registration is None or registration.licence_sha256 is None:
        abort(404)
    path = path_of(get_config().evidence_dir, registration.licence_sha256)
    if not path.is_file():
        abort(404)
    return send_file(
        path,
        mimetype=registration.licence_content_type,
        as_attachment=True,
        download_name=registration.licence_filename,
    )
