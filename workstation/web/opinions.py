"""The opinion: the assigned expert writes it in the form that fits the service asked for, issues
it (which moves the case to ``opinion_issued`` and mails the enterprise), and everyone who may see
the case reads and prints it."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from workstation import lifecycle
from workstation.opinions import form_to_opinion_input, issued_on, opinion_fields, statutory_hints
from workstation.services.cases import find_visible_case, record_access
from workstation.services.opinions import check_may_issue, issue_opinion, opinion_form
from workstation.services.schemas import form_errors
from workstation.vocabulary import litigation_facet
from workstation.web.support import get_db

bp = Blueprint("opinions", __name__)


@bp.route("/cases/<reference>/opinion/new", methods=["GET", "POST"])
@login_required
def new_opinion(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=request.method == "POST")
    if case is None:
        abort(404)
    try:
        check_may_issue(case, current_user)
    except lifecycle.TransitionError:
        session.rollback()
        abort(403)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            issue_opinion(session, case, current_user, form_to_opinion_input(case.service, request.form))
            session.commit()
        except ValidationError as err:
            session.rollback()
            errors = form_errors(err.messages)
        else:
            flash(_("The opinion was issued and sent to the enterprise."))
            return redirect(url_for("opinions.opinion_page", reference=reference)), 303
    record_access(session, case, current_user, "view", "opinion form")  # the form shows the case
    session.commit()
    asked = opinion_form(session, case)
    hints = (statutory_hints(case.right_type, str(get_locale()), list(asked.right_kinds))
             if case.service == "compensation_estimate" else None)  # fmt: skip
    return render_template(
        "opinion_form.html",
        case=case,
        service=case.service,
        fields=asked.fields,
        form=request.form,
        errors=errors,
        today=date.today(),
        rule_hint=hints,
    ), 400 if errors else 200


@bp.get("/cases/<reference>/opinion")
@login_required
def opinion_page(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference)
    if case is None or case.opinion is None:
        abort(404)
    record_access(session, case, current_user, "view", "opinion")
    session.commit()
    opinion = case.opinion
    return render_template(
        "opinion.html",
        case=case,
        opinion=opinion,
        fields=opinion_fields(
            opinion.service,
            (case.activity or {}).get("kind"),
            "panel_conclusion" in opinion.body,
            litigation_facet(case.litigation),
        ),
        issued_on=issued_on(opinion.issued_at),
    )
