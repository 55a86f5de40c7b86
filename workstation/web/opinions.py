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
from workstation.opinions import (
    form_to_opinion_input,
    issued_on,
    load_opinion,
    opinion_fields,
    statutory_hints,
)
from workstation.services.cases import find_visible_case, record_access, transition
from workstation.services.models import Opinion
from workstation.services.panels import panel_sat
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
    if case.assigned_expert_id != current_user.id or case.status != lifecycle.IN_PROGRESS:
        session.rollback()
        abort(403)
    errors: dict[str, list[str]] = {}
    activity_kind, facet = (case.activity or {}).get("kind"), litigation_facet(case.litigation)
    with_panel = panel_sat(session, case)
    kinds = [right.get("kind") for right in case.rights or () if isinstance(right, dict)]  # a GI's route
    if request.method == "POST":
        try:
            data = form_to_opinion_input(case.service, request.form)
            body = load_opinion(case.service, data, case.right_type, activity_kind=activity_kind, panel_sat=with_panel,
                                litigation_facet=facet, right_kinds=kinds)  # fmt: skip
            session.add(Opinion(case_id=case.id, service=case.service, body=body, issued_by=current_user.id))
            transition(session, case, "issue_opinion", current_user)
            session.commit()
        except ValidationError as err:
            session.rollback()
            errors = form_errors(err.messages)
        else:
            flash(_("The opinion was issued and sent to the enterprise."))
            return redirect(url_for("opinions.opinion_page", reference=reference)), 303
    record_access(session, case, current_user, "view", "opinion form")  # the form shows the case
    session.commit()
    hints = (statutory_hints(case.right_type, str(get_locale()), kinds)
             if case.service == "compensation_estimate" else None)  # fmt: skip
    return render_template(
        "opinion_form.html",
        case=case,
        service=case.service,
        fields=opinion_fields(case.service, activity_kind, panel_sat=with_panel, litigation_facet=facet),
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
