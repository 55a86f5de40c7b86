"""Early-warning pages: an enterprise's watched marks (``/marks``) and everyone's notices (``/notices``)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workstation.services.marks import WatchError, matches_for_enterprise, unwatch_mark, watch_mark, watched_marks_of
from workstation.services.notices import KINDS, notice_context, notices_for, record_notice_reads
from workstation.services.schemas import form_errors
from workstation.web.support import get_db, requested_page

bp = Blueprint("watch", __name__)


@bp.route("/marks", methods=["GET", "POST"])
@login_required
def marks():  # noqa: ANN201
    if current_user.role != "enterprise":
        abort(403)
    session = get_db()
    errors: dict[str, list[str]] = {}
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            mark = watch_mark(session, current_user, {"text": form.get("text", ""), "classes": form.get("classes", "")})
            session.commit()
            flash(_("Now watching “%(mark)s”.", mark=mark.text))
            return redirect(url_for("watch.marks")), 303
        except WatchError as err:
            session.rollback()
            errors = form_errors(err.errors)
    language = str(get_locale())
    return render_template(
        "marks.html",
        marks=watched_marks_of(session, current_user),
        matches=matches_for_enterprise(session, current_user),
        language=language,
        errors=errors,
        form=form,
    ), 400 if errors else 200


@bp.post("/marks/<int:mark_id>/remove")
@login_required
def remove_mark(mark_id: int):  # noqa: ANN201
    if current_user.role != "enterprise":
        abort(403)
    session = get_db()
    if not unwatch_mark(session, current_user, mark_id):
        abort(404)
    session.commit()
    flash(_("The mark is no longer watched."))
    return redirect(url_for("watch.marks")), 303


@bp.get("/notices")
@login_required
def notices():  # noqa: ANN201
    kind = request.args.get("kind")
    kind = kind if kind in KINDS else None
    listing = notices_for(get_db(), current_user, requested_page(), kind)
    record_notice_reads(get_db(), current_user, "notices page", listing.rows)
    get_db().commit()
    language = str(get_locale())
    return render_template(
        "notices.html",
        notices=[(n, notice_context(n, language)) for n in listing.rows],
        kinds=KINDS,
        kind=kind,
        page=listing.number,
        pages=listing.pages,
        total=listing.total,
    )
