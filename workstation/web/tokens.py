"""The API tokens page (``/settings/tokens``): everyone's own tokens; coordinators may end anyone's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workstation.services.auth import TokenError, check_token_request, issue_token, live_tokens, revoke_token, tokens_of
from workstation.web.support import get_config, get_db

bp = Blueprint("tokens", __name__)


@bp.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens():  # noqa: ANN201
    """List and make tokens. A new token is shown in the answer to the POST only (no redirect:
    it is never stored, so no later page could show it)."""
    session, config = get_db(), get_config()
    errors: dict[str, list[str]] = {}
    form = request.form if request.method == "POST" else {}
    new_token = None
    if request.method == "POST":
        days = form.get("expires_in_days", "").strip()
        try:
            name, days = check_token_request(
                form.get("name", ""), int(days) if days.isascii() and days.isdigit() else None, config.token_max_days
            )
        except TokenError as err:
            errors = err.errors
        else:
            record, token = issue_token(session, current_user, name, days, actor=current_user)
            session.commit()
            new_token = (record, token)
    return render_template(
        "tokens.html",
        tokens=tokens_of(session, current_user),
        everyone=live_tokens(session) if current_user.role == "coordinator" else [],
        new_token=new_token,
        errors=errors,
        form=form,
        default_days=config.token_days,
        max_days=config.token_max_days,
    ), 400 if errors else 200


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):  # noqa: ANN201
    session = get_db()
    if revoke_token(session, token_id, current_user) is None:
        abort(404)
    session.commit()
    flash(_("The token is revoked: it no longer opens the API."))
    return redirect(url_for("tokens.tokens")), 303
