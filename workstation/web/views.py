"""Saved views from the desk and the queue: save the current search as a named view, rename or
delete one's own (``services.views``; the tabs themselves are drawn by the desk and the queue)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workstation.i18n import translate
from workstation.services.views import ViewError, delete_view, rename_view, save_view
from workstation.web.support import get_db

bp = Blueprint("views", __name__, url_prefix="/views")


def _back(**shown: str):  # noqa: ANN202
    """Back to the page the form was on (the queue for an expert, the desk for a coordinator),
    showing ``shown`` (the view just saved)."""
    shown = {k: v for k, v in shown.items() if v}
    if current_user.role == "expert":
        return redirect(url_for("queue.queue", **shown))
    return redirect(url_for("coordinator.desk", **shown))


def _refused(err: ViewError):  # noqa: ANN202
    if err.status in (403, 404):
        abort(err.status)
    for messages in err.errors.values():
        for message in messages:
            flash(translate(message, _))
    return _back()


@bp.post("")
@login_required
def save():  # noqa: ANN201
    session = get_db()
    data = {
        "name": request.form.get("name", ""),
        "query": request.form.get("query", ""),
        "sort": request.form.get("sort") or "newest",
        "shared": request.form.get("shared") == "on",
    }
    try:
        view = save_view(session, current_user, data)
    except ViewError as err:
        session.rollback()
        return _refused(err)
    session.commit()
    flash(_("View “%(name)s” saved.", name=view.name))
    return _back(q=view.query, sort=view.sort)


@bp.post("/<int:view_id>/rename")
@login_required
def rename(view_id: int):  # noqa: ANN201
    session = get_db()
    try:
        rename_view(session, current_user, view_id, request.form.get("name", ""))
    except ViewError as err:
        session.rollback()
        return _refused(err)
    session.commit()
    return _back()


@bp.post("/<int:view_id>/delete")
@login_required
def delete(view_id: int):  # noqa: ANN201
    session = get_db()
    try:
        delete_view(session, current_user, view_id)
    except ViewError as err:
        session.rollback()
        return _refused(err)
    session.commit()
    flash(_("View deleted."))
    return _back()
