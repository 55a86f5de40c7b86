"""Server-rendered pages: login, the intake form and the case status page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from workstation import login_manager
from workstation.auth import check_password, find_user
from workstation.cases import find_visible_case, visible_cases
from workstation.intake import IntakeError, accept_submission
from workstation.models import Case, User
from workstation.schemas import (
    LANGUAGES,
    RIGHT_KINDS,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    URGENCIES,
    case_errors_to_form,
    form_to_case_input,
)
from workstation.web_support import get_config, get_db

bp = Blueprint("web", __name__)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = get_db().get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.is_active else None


@bp.get("/")
def index():  # noqa: ANN201
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    cases = get_db().scalars(visible_cases(current_user).order_by(Case.created_at.desc()).limit(100)).all()
    return render_template("index.html", cases=cases)


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    error = None
    if request.method == "POST":
        user = find_user(get_db(), request.form.get("email", ""))
        if user is not None and user.is_active and check_password(user, request.form.get("password", "")):
            login_user(user)
            return redirect(local_target(request.args.get("next", "")) or url_for("web.index"))
        error = _("Wrong email or password.")
    return render_template("login.html", error=error), 401 if error else 200


def local_target(target: str) -> str | None:
    """``target`` if it is a path on this site, else None: login never sends anyone elsewhere.

    Browsers read ``/\\host`` as ``//host``, and drop tabs and newlines, so those are refused too.
    """
    if not target.startswith("/") or any(ch in target for ch in "\\\t\r\n") or not target.isprintable():
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and not target.startswith("//") else None


@bp.post("/logout")
def logout():  # noqa: ANN201
    logout_user()
    return redirect(url_for("web.login"))


def _choices() -> dict[str, tuple[str, ...]]:
    return {
        "right_types": RIGHT_TYPES,
        "services": SERVICES,
        "technical_fields": TECHNICAL_FIELDS,
        "languages": LANGUAGES,
        "urgencies": URGENCIES,
        "right_kinds": RIGHT_KINDS,
    }


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case():  # noqa: ANN201
    if current_user.role != "enterprise":
        abort(403)
    errors: dict = {}
    form = request.form
    if request.method == "POST":
        try:
            case = accept_submission(
                get_db(),
                get_config(),
                current_user,
                form_to_case_input(form.to_dict()),
                request.files.getlist("evidence"),
            )
        except IntakeError as err:
            get_db().rollback()
            errors = case_errors_to_form(err.errors)
        else:
            flash(_("Your case %(reference)s has been submitted.", reference=case.reference))
            return redirect(url_for("web.case_page", reference=case.reference))
    return render_template("case_new.html", errors=errors, form=form, **_choices()), 400 if errors else 200


@bp.get("/cases/<reference>")
@login_required
def case_page(reference: str):  # noqa: ANN201
    case = find_visible_case(get_db(), current_user, reference)
    if case is None:
        abort(404)
    return render_template("case_status.html", case=case)
