"""The account pages: change your password and your preferences (``/account``) and reset a
forgotten password by email (``/password/forgot``, then the mailed ``/password/reset/<token>``)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from workstation.services.accounts import (
    DELIVERIES,
    LANGUAGE_CHOICES,
    MANDATORY_KINDS,
    OPTIONAL_KINDS,
    PreferenceError,
    check_preferences,
    notification_settings,
    set_preferences,
)
from workstation.services.auth import UserError, find_user
from workstation.services.logins import attempt_succeeded, begin_attempt, may_send_mail
from workstation.services.passwords import (
    change_password,
    mail_reset_link,
    may_reset,
    reset_password,
    reset_token,
    user_for_reset_token,
)
from workstation.web.pages import LOGIN_SECRET, too_many_attempts, too_many_requests
from workstation.web.support import get_config, get_db

bp = Blueprint("account", __name__)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():  # noqa: ANN201
    """Change the password, knowing the current one: the user's other logins end, this one goes on.
    Wrong current passwords count against the login limits (a left-open session must not become a
    way to guess the password)."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        db = get_db()
        attempt = begin_attempt(db, get_config(), current_user.email, request.remote_addr or "")
        if attempt.retry_after is not None:
            return too_many_attempts("account.html", attempt.retry_after, **_account_context(errors=errors))
        try:
            change_password(
                db,
                current_user,
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
                keep_secret=session.get(LOGIN_SECRET),
            )
        except UserError as err:
            db.rollback()
            if err.field != "current_password":
                attempt_succeeded(db, attempt)  # the current password was right
                db.commit()
            errors[err.field] = [err.args[0]]
        else:
            attempt_succeeded(db, attempt)
            db.commit()
            flash(_("Your password has been changed. Your other logins have ended."))
            return redirect(url_for("account.account")), 303
    return _account_page(errors=errors), 400 if errors else 200


def _account_context(**context: object) -> dict[str, object]:
    """What the account page shows besides the password form: the user's preferences."""
    return {
        "settings": notification_settings(current_user),
        "optional_kinds": OPTIONAL_KINDS,
        "mandatory_kinds": MANDATORY_KINDS,
        "deliveries": DELIVERIES,
        "languages": LANGUAGE_CHOICES,
        "errors": {},
        "preference_errors": {},
        **context,
    }


def _account_page(**context: object) -> str:
    return render_template("account.html", **_account_context(**context))


@bp.post("/account/preferences")
@login_required
def preferences():  # noqa: ANN201
    """Name, language and how each kind of email is sent (the same rules as ``PATCH /api/v1/me``)."""
    form = request.form
    asked: dict[str, object] = {"name": form.get("name", ""), "language": form.get("language", "")}
    asked["notifications"] = {kind: form[kind] for kind in OPTIONAL_KINDS + MANDATORY_KINDS if kind in form}
    db = get_db()
    try:
        set_preferences(current_user, check_preferences(asked))
    except PreferenceError as err:
        db.rollback()
        return _account_page(preference_errors=err.errors), 400
    db.commit()
    flash(_("Your preferences are saved."))
    return redirect(url_for("account.account")), 303


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():  # noqa: ANN201
    """Mail a reset link to the address given, if it has an account; the answer is the same either
    way, so the page does not tell which emails have accounts."""
    if request.method == "POST":
        email = request.form.get("email", "")
        wait = may_send_mail(get_db(), get_config(), email, request.remote_addr or "")
        if wait is not None:
            return too_many_requests("password_forgot.html", wait)
        user = find_user(get_db(), email)
        if may_reset(user):
            config = get_config()
            # The configured base URL, never the request's Host header, which the asker chooses.
            link = config.base_url + url_for("account.reset", token=reset_token(config, user))
            mail_reset_link(config, user, link)
        flash(_("If an account has this email, a link to choose a new password is on its way to it."))
        return redirect(url_for("account.forgot_password")), 303
    return render_template("password_forgot.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str):  # noqa: ANN201
    """Choose a new password from a mailed link: every login of the account ends, this browser's too."""
    db = get_db()
    user = user_for_reset_token(db, get_config(), token)
    if user is None:
        return render_template("password_reset.html", valid=False, errors={}), 400
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            reset_password(db, user, request.form.get("new_password", ""))
        except UserError as err:
            db.rollback()
            errors[err.field] = [err.args[0]]
        else:
            db.commit()
            logout_user()
            session.clear()
            flash(_("Your password has been changed. Please log in with it."))
            return redirect(url_for("web.login")), 303
    return render_template("password_reset.html", valid=True, errors=errors), 400 if errors else 200
