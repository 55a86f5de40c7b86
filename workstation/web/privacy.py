"""A coordinator's PIPL tools for one enterprise: export everything held about it, and erase a
deactivated enterprise's personal data once the retention period has passed (both audited by
``services.personal_data``)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from workstation.i18n import translate
from workstation.services.models import User
from workstation.services.personal_data import (
    DEFAULT_RETENTION_DAYS,
    PersonalDataError,
    erase_enterprise,
    export_enterprise,
)
from workstation.web.support import coordinators_only, get_config, get_db

bp = Blueprint("privacy", __name__, url_prefix="/coordinator/enterprises")


bp.before_request(coordinators_only)


def _enterprise(user_id: int) -> User:
    user = get_db().get(User, user_id)
    if user is None or user.role != "enterprise":
        abort(404)
    return user


@bp.post("/<int:user_id>/export")
def export(user_id: int) -> Response:
    session = get_db()
    user = _enterprise(user_id)
    archive = export_enterprise(session, get_config().evidence_dir, user.id, current_user.id)
    session.commit()  # the audit row, before the data leaves
    name = f"personal-data-{user.id}.zip"
    return Response(archive, mimetype="application/zip",
                    headers={"Content-Disposition": f"attachment; filename={name}"})  # fmt: skip


@bp.post("/<int:user_id>/erase")
def erase(user_id: int):  # noqa: ANN201
    session = get_db()
    user = _enterprise(user_id)
    if request.form.get("confirm") != user.email:
        flash(_("To erase, type the enterprise's email exactly."))
        return redirect(url_for("coordinator.users")), 303
    try:
        done = erase_enterprise(
            session, get_config().evidence_dir, user.id, current_user.id, timedelta(days=DEFAULT_RETENTION_DAYS)
        )
    except PersonalDataError as err:
        session.rollback()
        flash(_("Not erased: %(why)s", why=translate(err.args[0], _)))
    else:
        session.commit()
        flash(_("Personal data erased: %(cases)d cases, %(files)d files removed.", cases=done.cases,
                files=done.files_removed))  # fmt: skip
    return redirect(url_for("coordinator.users")), 303
