"""The coordinators' pages: the desk (all cases, the piles that need them, figures), the expert
pool (list, create, edit, deactivate, leave, CSV import) and the other accounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session, joinedload

from workstation import lifecycle
from workstation.i18n import N_, Message, label, translate
from workstation.routing import DIMENSIONS
from workstation.search_syntax import SearchSyntaxError, parse
from workstation.services.audit import audit, record_reads
from workstation.services.auth import UserError, create_user
from workstation.services.bulk import experts_to_choose
from workstation.services.classification import cases_to_classify, classification_schema, classify
from workstation.services.db import lock_for_write
from workstation.services.desk import (
    awaiting_expert,
    cases_per_week,
    hours_to_assignment,
    satisfaction,
    sla_breaches,
)
from workstation.services.digest import build_digest, digest_period, digest_references
from workstation.services.exports import FORMATS, MEDIA_TYPES, export_cases
from workstation.services.exports import filename as export_filename
from workstation.services.intake import accept_submission
from workstation.services.marks import all_matches, risk_case_input
from workstation.services.models import (
    Case,
    DigestRecord,
    DigestSetting,
    ExpertImport,
    ExpertProfile,
    LookalikeMatch,
    User,
    utcnow,
)
from workstation.services.paging import page_of
from workstation.services.panels import difficult_cases, panel_load
from workstation.services.pool import (
    AFFILIATION_KINDS,
    ImportFileError,
    expert_form_values,
    expert_record,
    expert_schema,
    form_to_expert_input,
    import_record,
    queue_import,
    save_expert,
)
from workstation.services.referrals import open_referrals, partners
from workstation.services.schemas import (
    LANGUAGES,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    form_errors,
    mark_warning_input_schema,
)
from workstation.services.search import search_cases
from workstation.services.views import SORTS, sorted_by, tabs_for
from workstation.web.headers import allow_style_attributes
from workstation.web.support import coordinators_only, get_config, get_db, requested_page

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
PAGE_SIZE = 100
DESK_PAGE = 50
#: How many of a desk search's cases are counted past the page's first ("more than" beyond).
DESK_COUNT_MAX = 1000


bp.before_request(coordinators_only)


@bp.get("/experts")
def experts():  # noqa: ANN201
    session = get_db()
    search = request.args.get("q", "").strip()
    query = select(User).join(ExpertProfile, ExpertProfile.user_id == User.id)
    if search:
        like = f"%{search}%"
        query = query.where(or_(User.name.ilike(like), User.email.ilike(like), User.organisation.ilike(like)))
    query = query.order_by(User.is_active.desc(), User.name, User.id)
    listing = page_of(session, query, requested_page(), PAGE_SIZE, joinedload(User.expert))
    imports = session.scalars(select(ExpertImport).order_by(ExpertImport.id.desc()).limit(5)).all()
    return render_template(
        "coordinator/experts.html",
        **listing.context("experts"),
        search=search,
        imports=imports,
        today=date.today(),
    )


@bp.route("/experts/new", methods=["GET", "POST"])
def new_expert():  # noqa: ANN201
    return _expert_form(None)


@bp.route("/experts/<int:expert_id>", methods=["GET", "POST"])
def edit_expert(expert_id: int):  # noqa: ANN201
    user = get_db().get(User, expert_id)
    if user is None or user.role != "expert":
        abort(404)
    return _expert_form(user)


def _expert_form(user: User | None):  # noqa: ANN202
    session = get_db()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = expert_schema.load(form_to_expert_input(request.form))
            saved, outcome = save_expert(session, data, date.today(), existing=user, actor=current_user, via="form")
            session.commit()
        except ValidationError as err:
            session.rollback()
            errors = form_errors(err.normalized_messages(), {"competence": DIMENSIONS})
        except UserError as err:
            session.rollback()
            errors[err.field] = [err.args[0]]
        else:
            messages = {
                "created": _("Expert %(name)s created.", name=saved.name),
                "updated": _("Expert %(name)s updated.", name=saved.name),
                "unchanged": _("Nothing changed."),
            }
            flash(messages[outcome])
            return redirect(url_for("coordinator.experts"))
        form: dict[str, Any] = {
            k: request.form.getlist(k) if k in _LISTS else request.form.get(k, "") for k in request.form
        }
    else:
        form = (
            expert_form_values(expert_record(user))
            if user
            else {"language": "zh", "capacity": "5", "available": True, "is_active": True}
        )
    return render_template(
        "coordinator/expert_form.html",
        expert=user,
        form=form,
        errors=errors,
        right_types=RIGHT_TYPES,
        services=SERVICES,
        technical_fields=TECHNICAL_FIELDS,
        languages=LANGUAGES,
        dimensions=DIMENSIONS,
        affiliation_kinds=AFFILIATION_KINDS,
    ), 400 if errors else 200


_LISTS = ("right_types", "services", "languages", "technical_fields")


@bp.post("/experts/import")
def import_experts():  # noqa: ANN201
    upload = request.files.get("file")
    session = get_db()
    try:
        if upload is None or not upload.filename:
            raise ImportFileError(Message("Choose a CSV file to import."))
        job = queue_import(session, current_user, upload.filename, upload.read())
        session.commit()
    except ImportFileError as err:
        session.rollback()
        flash(_("The file cannot be imported: %(reason)s", reason=translate(err.args[0], _)))
        return redirect(url_for("coordinator.experts"))
    return redirect(url_for("coordinator.import_progress", import_id=job.id))


@bp.get("/imports/<int:import_id>")
def import_progress(import_id: int):  # noqa: ANN201
    job = get_db().get(ExpertImport, import_id)
    if job is None:
        abort(404)
    record = import_record(job)
    # Row errors are stored as data; shown as messages again, they read in the page's language.
    for e in record["errors"]:
        if (template := e.get("template")) is not None:
            e["message"] = Message(template, **e["params"])
    return render_template("coordinator/import.html", job=record)


# --- the desk: all cases, the piles that need a coordinator, figures ----------------------------


def desk_view(session: Session, args: Mapping[str, str] | None = None) -> tuple[Any, str | None]:
    """The desk's current view: ``?q=`` in the search syntax with ``?status=`` and ``?right_type=``
    added; (the query, or one finding nothing, and what is wrong with the search, translated).
    ``args``: the view as another form carries it (the bulk actions' "the whole view")."""
    args = request.args if args is None else args
    status, right_type = args.get("status") or "", args.get("right_type") or ""
    try:
        asked = parse(args.get("q", ""))
    except SearchSyntaxError as err:
        return select(Case).where(false()), translate(err.message, _)
    if status in lifecycle.STATUSES:
        asked = replace(asked, statuses=(*asked.statuses, status))
    if right_type in RIGHT_TYPES:
        asked = replace(asked, right_types=(*asked.right_types, right_type))
    return sorted_by(search_cases(session, current_user, asked), _asked_sort(args)), None


def _asked_sort(args: Mapping[str, str]) -> str:
    """``?sort=`` (a saved view's tab), newest first when not one of ``SORTS``."""
    sort = args.get("sort") or "newest"
    return sort if sort in SORTS else "newest"


@bp.get("/export")
def export_view():  # noqa: ANN201
    """The desk's current view (every page) as CSV or XLSX, headers in the page's language."""
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        abort(400)
    session = get_db()
    query, problem = desk_view(session)
    if problem:
        abort(400)
    sessions = current_app.extensions["workstation"]["sessions"]
    asked = request.args.get("q", "")
    pieces = export_cases(session, sessions, current_user, query, fmt, str(get_locale()), asked, via="desk")
    session.commit()
    disposition = f'attachment; filename="{export_filename(fmt, utcnow())}"'
    mimetype = MEDIA_TYPES[fmt].split(";")[0]
    return Response(stream_with_context(pieces), mimetype=mimetype, headers={"Content-Disposition": disposition})


@bp.get("/")
def desk():  # noqa: ANN201
    session = get_db()
    status, right_type = request.args.get("status") or "", request.args.get("right_type") or ""
    search = request.args.get("q", "").strip()
    query, problem = desk_view(session)
    listing = page_of(session, query, requested_page(), DESK_PAGE, joinedload(Case.assigned_expert), cap=DESK_COUNT_MAX)
    unclassified, pile, breaches = cases_to_classify(session), awaiting_expert(session), sla_breaches(session)
    difficult = difficult_cases(session)
    referrals = open_referrals(session, get_config().referral_wait_days)
    shown = [*listing.rows, *unclassified, *pile, *(b.case for b in breaches), *(d["case"] for d in difficult),
             *(r.case for r, _late in referrals)]  # fmt: skip
    record_reads(session, current_user, "desk page", shown)
    session.commit()
    return render_template(
        "coordinator/desk.html",
        **listing.context("cases"),
        status=status,
        right_type=right_type,
        search=search,
        search_problem=problem,
        sort=request.args.get("sort") if request.args.get("sort") in SORTS else "",
        sorts=SORTS,
        tabs=tabs_for(session, current_user),
        statuses=lifecycle.STATUSES,
        right_types=RIGHT_TYPES,
        services=SERVICES,
        unclassified=unclassified,
        pile=pile,
        breaches=breaches,
        difficult=difficult,
        panel_load=panel_load(session),
        referrals=referrals,
        weekly=cases_per_week(session),
        assignment=hours_to_assignment(session),
        rating=satisfaction(session),
        bulk_experts=experts_to_choose(session),
        bulk_partners=partners(session, active_only=True),
    )


@bp.post("/cases/<reference>/classify")
def classify_case(reference: str):  # noqa: ANN201
    """Set a case's right type and service (the desk's first pile, the case page): routing then
    looks at it again. Back to the desk, or to the case page (``back=case``)."""
    session = get_db()
    back = (url_for("web.case_page", reference=reference) if request.form.get("back") == "case"
            else url_for("coordinator.desk"))  # fmt: skip
    try:
        chosen = classification_schema.load(
            {"right_type": request.form.get("right_type", ""), "service": request.form.get("service", "")}
        )
    except ValidationError:
        flash(_("Choose a right type and a service."))
        return redirect(back), 303
    lock_for_write(session)
    case = session.scalar(select(Case).where(Case.reference == reference).with_for_update())
    if case is None:
        session.rollback()
        abort(404)
    try:
        event = classify(session, case, current_user, chosen["right_type"], chosen["service"])
        session.commit()
    except lifecycle.TransitionError:
        session.rollback()
        flash(_("The case has moved on; it can no longer be classified."))
        return redirect(back), 303
    kind = {"reference": reference, "right_type": label(case.right_type, _), "service": label(case.service, _)}
    if event is None:
        flash(_("Nothing changed."))
    elif event.detail.keys() - {"to_classify"}:
        flash(_("%(reference)s is now %(right_type)s, %(service)s; routing looks at it again.", **kind))
    else:
        flash(_("%(reference)s stays %(right_type)s, %(service)s.", **kind))
    return redirect(back), 303


# --- enterprise and coordinator accounts -------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
def users():  # noqa: ANN201
    """Enterprise and coordinator accounts: list, create, deactivate (experts are in the pool)."""
    session = get_db()
    errors: dict[str, list[str]] = {}
    form = request.form
    if request.method == "POST":
        try:
            user = create_user(
                session,
                form.get("email", ""),
                form.get("password", ""),
                form.get("role", "") if form.get("role") in ("enterprise", "coordinator") else "",
                name=form.get("name", "").strip(),
                language=form.get("language", "zh"),
                organisation=form.get("organisation", "").strip(),
                credit_code=form.get("credit_code", "").strip().upper() or None,
            )
            audit(session, current_user, "user_created", user, role=user.role, via="form")
            session.commit()
        except UserError as err:
            session.rollback()
            errors[err.field] = [err.args[0]]
        else:
            flash(_("Account %(email)s created.", email=user.email))
            return redirect(url_for("coordinator.users")), 303
    accounts = session.scalars(
        select(User).where(User.role.in_(("enterprise", "coordinator"))).order_by(User.role, User.name)
    ).all()
    return render_template("coordinator/users.html", accounts=accounts, errors=errors, form=form,
                           languages=LANGUAGES), 400 if errors else 200  # fmt: skip


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int):  # noqa: ANN201
    session = get_db()
    user = session.get(User, user_id)
    if user is None or user.role not in ("enterprise", "coordinator"):
        abort(404)
    if user.id == current_user.id:
        flash(_("You cannot deactivate your own account."))
    else:
        active = request.form.get("active") == "true"
        if user.is_active != active:
            user.is_active = active
            audit(session, current_user, "user_reactivated" if active else "user_deactivated", user, via="form")
        session.commit()
        flash(_("Account %(email)s updated.", email=user.email))
    return redirect(url_for("coordinator.users")), 303


# --- look-alike marks --------------------------------------------------------------------------


@bp.get("/lookalikes")
def lookalikes():  # noqa: ANN201
    session = get_db()
    listing = all_matches(session, requested_page(), DESK_PAGE)
    # a match from a confidential case shows a mark that case names
    record_reads(session, current_user, "lookalikes page", [m.case for m in listing.rows if m.case_id is not None])
    session.commit()
    return render_template(
        "coordinator/lookalikes.html",
        **listing.context("matches"),
    )


@bp.post("/lookalikes/<int:match_id>/case")
def open_risk_case(match_id: int):  # noqa: ANN201
    """One action: a risk-warning case for the watching enterprise, from the match's facts."""
    session = get_db()
    lock_for_write(session)
    match = session.get(LookalikeMatch, match_id, with_for_update=True)
    if match is None:
        abort(404)
    if match.risk_case_id is None:
        enterprise = session.get(User, match.enterprise_id)
        raw = {**risk_case_input(match), "language": enterprise.language}
        case = accept_submission(
            session, get_config(), enterprise, raw, actor=current_user, detail={"lookalike_match": match.id},
            schema=mark_warning_input_schema,
        )  # fmt: skip
        match.risk_case_id = case.id
        session.commit()
        flash(_("Risk-warning case %(reference)s opened for %(name)s.", reference=case.reference,
                name=enterprise.organisation or enterprise.name))  # fmt: skip
    reference = session.scalar(select(Case.reference).where(Case.id == match.risk_case_id))
    return redirect(url_for("web.case_page", reference=reference)), 303


# --- the coordinator's own digest ----------------------------------------------------------------


class DigestSettingSchema(Schema):
    frequency = fields.String(required=True, validate=validate.OneOf(("daily", "weekly")))
    hour = fields.Integer(required=True, validate=validate.Range(0, 23))
    timezone = fields.String(
        required=True,
        validate=validate.OneOf(available_timezones(), error=N_("Not a timezone name; use one like Asia/Shanghai.")),
    )
    paused = fields.Boolean(load_default=False)


@bp.route("/digest", methods=["GET", "POST"])
def digest_settings():  # noqa: ANN201
    """When the coordinator's digest comes (or that it is paused), and the digests sent so far."""
    session = get_db()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form
        try:
            data = DigestSettingSchema().load(
                {"frequency": form.get("frequency", ""), "hour": form.get("hour", ""),
                 "timezone": form.get("timezone", "").strip(), "paused": form.get("paused") == "true"}
            )  # fmt: skip
        except ValidationError as err:
            errors = form_errors(err.normalized_messages())
        else:
            _audit_digest_change(session, data)
            session.merge(DigestSetting(user_id=current_user.id, **data))  # the row, added or updated
            session.commit()
            flash(_("Digest settings saved."))
            return redirect(url_for("coordinator.digest_settings")), 303
    else:
        current = DigestSetting.of(session, current_user.id)
        form = {"frequency": current.frequency, "hour": str(current.hour), "timezone": current.timezone,
                "paused": current.paused}  # fmt: skip
    records = session.scalars(
        select(DigestRecord)
        .where(DigestRecord.coordinator_id == current_user.id)
        .order_by(DigestRecord.period_end.desc())
        .limit(30)
    ).all()
    return render_template("coordinator/digest.html", form=form, errors=errors, records=records,
                           hours=range(24)), 400 if errors else 200  # fmt: skip


def _audit_digest_change(session: Session, data: dict[str, Any]) -> None:
    """``digest_settings_changed`` with what changed, ``{field: [before, after]}`` (nothing if nothing did)."""
    current = DigestSetting.of(session, current_user.id)
    changes = {k: [getattr(current, k), v] for k, v in data.items() if getattr(current, k) != v}
    if changes:
        audit(session, current_user, "digest_settings_changed", current_user, changes=changes)


@bp.get("/digest/preview")
def digest_preview():  # noqa: ANN201
    """The digest as it would be sent now, for the coordinator's own schedule."""
    allow_style_attributes()  # the email's markup, inline styles and all
    session = get_db()
    setting = DigestSetting.of(session, current_user.id)
    now = utcnow()
    period = digest_period(setting.frequency, setting.hour, setting.timezone, now)
    digest = build_digest(session, period, now, get_config().referral_wait_days)
    record_reads(session, current_user, "digest preview", references=digest_references(digest))
    session.commit()
    return render_template("coordinator/digest_preview.html", digest=digest,
                           period=period, base_url=get_config().base_url)  # fmt: skip
