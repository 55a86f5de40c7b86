"""Server-rendered pages: login, the intake form, the case page and what each side does on it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from workstation import lifecycle
from workstation.deadlines import NOTICE_RULES, deadlines_for
from workstation.evidence import path_of
from workstation.i18n import translate
from workstation.services.accounts import submission_refusal
from workstation.services.audit import record_reads
from workstation.services.auth import find_user, password_matches
from workstation.services.cases import (
    IneligibleExpertError,
    active_expert,
    actor_relation,
    attach_files,
    available_actions,
    detail_for,
    find_visible_case,
    reassign,
    reassignment_choices,
    record_access,
    transition,
    visible_cases,
)
from workstation.services.conversation import (
    MessageError,
    case_file,
    mark_seen,
    may_write,
    post_message,
    reads_notes,
    thread,
    visible_events,
    visible_files,
    with_news,
)
from workstation.services.intake import IntakeError, accept_submission, store_uploads
from workstation.services.logins import (
    attempt_succeeded,
    begin_attempt,
    end_login_session,
    live_login,
    start_login_session,
)
from workstation.services.models import AccessLog, Case, User
from workstation.services.ratings import RatingError, rate_case, rating_refusal
from workstation.services.schemas import (
    ABUSE_KINDS,
    ACTIVITY_KINDS,
    ACTIVITY_SERVICES,
    LANGUAGES,
    LITIGATION_KINDS,
    LITIGATION_SERVICES,
    MAX_LIST_ITEMS,
    PARTY_ROLES,
    RIGHT_KINDS,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    URGENCIES,
    case_errors_to_form,
    form_rows_shown,
    form_to_case_input,
)
from workstation.timeline import describe
from workstation.web.extensions import login_manager
from workstation.web.panels import panel_context
from workstation.web.referrals import referral_context
from workstation.web.support import get_config, get_db
from workstation.web.training import training_context

bp = Blueprint("web", __name__)


#: The key in the (signed) session cookie of the login's secret (``services.logins``).
LOGIN_SECRET = "login"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The cookie's user while its login is live on the server: a copy of the cookie taken before a
    logout, a password change or an expiry lets nobody in."""
    secret = session.get(LOGIN_SECRET)
    if not isinstance(secret, str) or not user_id.isdigit():
        return None
    return live_login(get_db(), get_config(), secret, int(user_id))


@bp.get("/")
def index():  # noqa: ANN201
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    if current_user.role == "enterprise" and submission_refusal(current_user):
        return redirect(url_for("accounts.waiting"))  # (registered itself, not approved yet)
    session = get_db()
    cases = session.scalars(visible_cases(current_user).order_by(Case.created_at.desc()).limit(100)).all()
    record_reads(session, current_user, "case list", cases)
    session.commit()
    return render_template("index.html", cases=cases, news=with_news(session, current_user, [c.id for c in cases]))


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if request.method == "GET":
        return render_template("login.html")
    db, email = get_db(), request.form.get("email", "")
    attempt = begin_attempt(db, get_config(), email, request.remote_addr or "")
    if attempt.retry_after is not None:
        return too_many_attempts("login.html", attempt.retry_after)
    user = find_user(db, email)
    if not password_matches(user, request.form.get("password", "")):  # as slow for no such user
        return render_template("login.html", error=_("Wrong email or password.")), 401
    attempt_succeeded(db, attempt)
    secret = start_login_session(db, user)
    db.commit()
    session.clear()  # nothing from before the login is carried into it
    session[LOGIN_SECRET] = secret
    login_user(user)
    return redirect(local_target(request.args.get("next", "")) or url_for("web.index"))


def too_many_attempts(template: str, retry_after: int, **context: Any) -> tuple[str, int, dict[str, str]]:
    """``template`` as a 429 saying when to try again (``Retry-After``: seconds), the password unchecked."""
    error = _(
        "Too many failed attempts. Please try again in %(minutes)d minutes.", minutes=minutes_to_wait(retry_after)
    )
    return render_template(template, error=error, **context), 429, {"Retry-After": str(retry_after)}


def too_many_requests(template: str, retry_after: int, **context: Any) -> tuple[str, int, dict[str, str]]:
    """``template`` as a 429 for a form that mails someone, asked too often (nothing sent)."""
    error = _("Too many requests: please try again in %(minutes)d minutes.", minutes=minutes_to_wait(retry_after))
    return render_template(template, error=error, **context), 429, {"Retry-After": str(retry_after)}


def minutes_to_wait(seconds: int) -> int:
    """Seconds to wait as whole minutes, rounded up."""
    return -(-seconds // 60)  # rounded up: never "0 minutes"


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
    secret = session.get(LOGIN_SECRET)
    if isinstance(secret, str):
        end_login_session(get_db(), secret)
        get_db().commit()
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


def _choices() -> dict[str, Any]:
    return {
        "activity_kinds": ACTIVITY_KINDS,
        "activity_services": sorted(ACTIVITY_SERVICES),
        "litigation_kinds": LITIGATION_KINDS,
        "abuse_kinds": ABUSE_KINDS,
        "litigation_services": sorted(LITIGATION_SERVICES),
        "right_types": RIGHT_TYPES,
        "services": SERVICES,
        "technical_fields": TECHNICAL_FIELDS,
        "languages": LANGUAGES,
        "urgencies": URGENCIES,
        "right_kinds": RIGHT_KINDS,
        "party_roles": PARTY_ROLES,
        "max_rows": MAX_LIST_ITEMS,
        "notice_rules": tuple(NOTICE_RULES.items()),
    }


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case():  # noqa: ANN201
    if current_user.role != "enterprise":
        abort(403)
    if why := submission_refusal(current_user):
        return render_template("error.html", title=_("Not allowed"), explanation=translate(why, _)), 403
    errors: dict = {}
    status = 200
    form = request.form
    if request.method == "POST":
        session = get_db()
        try:
            case = accept_submission(
                session,
                get_config(),
                current_user,
                form_to_case_input(form.to_dict()),
                request.files.getlist("evidence"),
            )
        except IntakeError as err:
            session.rollback()
            errors = case_errors_to_form(err.errors, form)
            # a page shown again with its errors: 400, or 413 for a file over the size cap (the API
            # answers 415 for a file's type, which says nothing more to a browser)
            status = 413 if err.status == 413 else 400
        else:
            session.commit()
            flash(_("Your case %(reference)s has been submitted.", reference=case.reference))
            return redirect(url_for("web.case_page", reference=case.reference))
    rows = {f"{prefix}_rows": form_rows_shown(form, prefix) for prefix in ("party", "right", "counterparty")}
    return render_template("case_new.html", errors=errors, form=form, **rows, **_choices()), status


@bp.get("/cases/<reference>")
@login_required
def case_page(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference)
    if case is None:
        abort(404)
    record_access(session, case, current_user, "view", "page")
    mark_seen(session, current_user, case)
    session.commit()
    timeline = case_thread(session, case)
    coordinator = current_user.role == "coordinator"
    actions = available_actions(case, current_user)
    # the choice of expert for the reassign form: the eligible, then those only an override lets in
    experts = reassignment_choices(session, case) if "reassign" in actions else []
    access_log = (
        session.scalars(select(AccessLog).where(AccessLog.case_id == case.id).order_by(AccessLog.id.desc()).limit(200))
        if coordinator and case.confidential
        else []
    )
    return render_template(
        "case_status.html",
        case=case,
        timeline=timeline,
        files=visible_files(case.evidence, current_user),
        may_write=may_write(case, current_user),
        may_note=may_write(case, current_user) and reads_notes(current_user),
        may_ask=(case.assigned_expert_id == current_user.id and "request_info" in actions),
        actions=[a for a in actions if a not in _SAID_IN_THE_THREAD],
        deadlines=deadlines_for(case),
        experts=experts,
        access_log=access_log,
        may_rate=rating_refusal(case, current_user) is None,
        may_upload=case.assigned_expert_id == current_user.id and case.status in lifecycle.ACTIVE_FOR_EXPERT,
        may_issue=case.assigned_expert_id == current_user.id and case.status == lifecycle.IN_PROGRESS,
        may_classify=coordinator and case.status in lifecycle.CLASSIFIABLE,
        right_types=RIGHT_TYPES,
        services=SERVICES,
        **panel_context(session, case, current_user),
        **referral_context(session, case),
        **training_context(session, case, current_user),
    )


#: Actions the page takes through the thread's form, not a button of their own: the expert's
#: request is a message that asks (its box), the enterprise's answer its next public message.
#: (``case_action`` still takes them, for a page loaded before this one.)
_SAID_IN_THE_THREAD = ("request_info", "provide_info")


def case_thread(session, case: Case) -> list[dict[str, Any]]:  # noqa: ANN001
    """The case's thread as ``current_user`` reads it, merged with its timeline, in time order:
    each item ``{"at", "message"}`` (something said: a message, a note, a request, an answer) or
    ``{"at", "sentence"}`` (a move of the case, in plain words)."""
    said = thread(session, case, current_user)
    by_event = {m.event_id: m for m in said if m.event_id is not None}
    named = {e.detail["expert_id"] for e in case.events if isinstance(e.detail.get("expert_id"), int)}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(named))).all()) if named else {}
    items: list[dict[str, Any]] = []
    for e in visible_events(case.events, current_user):
        if e.id in by_event:
            items.append({"at": e.created_at, "message": by_event.pop(e.id)})
        elif e.action not in (lifecycle.MESSAGE, lifecycle.NOTE):
            detail = detail_for(e, current_user) | _named(e)
            items.append({"at": e.created_at, "sentence": describe(e.action, e.actor.name if e.actor else None,
                                                                   detail, names)})  # fmt: skip
    # (a request or answer from before the thread whose event was not found: by its moment)
    items += [{"at": m.created_at, "message": m} for m in said if m.event_id is None or m.event_id in by_event]
    items.sort(key=lambda item: item["at"])  # stable: events in id order at the same moment
    return items


def _named(event) -> dict:  # noqa: ANN001
    """Who the event put on the case is part of what everyone sees (the reasons are not)."""
    return {"expert_id": event.detail["expert_id"]} if "expert_id" in event.detail else {}


#: What the page says after each action.
_DONE = {
    "accept": _l("You accepted the case."),
    "decline": _l("You declined the case; it goes to another expert."),
    "start": _l("Work on the case has started."),
    "request_info": _l("Your request was sent to the enterprise."),
    "provide_info": _l("Your answer was sent to the expert."),
    "close": _l("The case is closed."),
    "withdraw": _l("The case was withdrawn."),
    "reopen": _l("The case was reopened."),
    "reassign": _l("The case was reassigned."),
}
_REFUSED = {
    "forbidden": _l("You may not do this on this case."),
    "conflict": _l("The case has moved on; this is no longer possible."),
    "invalid": _l("Please give a reason."),
    "unknown": _l("Unknown action."),
}


@bp.post("/cases/<reference>/actions")
@login_required
def case_action(reference: str):  # noqa: ANN201
    session = get_db()
    action = request.form.get("action", "")
    case = find_visible_case(session, current_user, reference, for_update=True)
    if case is None:
        session.rollback()
        abort(404)
    if action in lifecycle.WRITTEN_ACTIONS:  # (no button offers it: a form posted by hand, or an old page)
        session.rollback()
        flash(_(lifecycle.WRITTEN_ACTIONS[action]))
        return redirect(url_for("web.case_page", reference=reference)), 303
    reason = request.form.get("reason")
    try:
        if action not in lifecycle.USER_ACTIONS:
            raise lifecycle.TransitionError("unknown", action)
        if action == "reassign":
            if (expert := active_expert(session, request.form.get("expert_id", type=int))) is None:
                raise lifecycle.TransitionError("invalid", "expert")
            override = request.form.get("override_clearance") == "true"
            reassign(session, case, current_user, expert, reason, override_clearance=override)
        else:
            files = (
                store_uploads(get_config(), request.files.getlist("files"), "files") if action == "provide_info" else []
            )
            event = transition(session, case, action, current_user, reason=reason)
            if files:  # the answer's files, with its message in the thread
                session.flush()
                attach_files(session, case, current_user, files, "answer", event.message.id)
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        flash(_("Choose an active expert.") if err.message == "expert" else str(_REFUSED[err.code]))
        return redirect(url_for("web.case_page", reference=reference)), 303
    except IneligibleExpertError as err:
        session.rollback()
        flash(translate(err.message, _, str(get_locale())))
        return redirect(url_for("web.case_page", reference=reference)), 303
    except IntakeError as err:
        session.rollback()
        flash(" ".join(translate(m, _, str(get_locale())) for messages in err.errors.values() for m in messages))
        return redirect(url_for("web.case_page", reference=reference)), 303
    flash(str(_DONE[action]))
    if action == "decline":  # no longer theirs to see
        return redirect(url_for("queue.queue")), 303
    return redirect(url_for("web.case_page", reference=reference)), 303


@bp.post("/cases/<reference>/messages")
@login_required
def post_to_thread(reference: str):  # noqa: ANN201
    """Write in the case's thread (the case page's form): a message, an internal note, or the
    expert's request for information, with files."""
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=True)
    if case is None:
        session.rollback()
        abort(404)
    if not may_write(case, current_user):
        session.rollback()
        abort(403)
    back = redirect(url_for("web.case_page", reference=reference) + "#thread"), 303
    internal, asks = request.form.get("internal") == "true", request.form.get("request_info") == "true"
    try:
        lifecycle.decide_message(case.status, actor_relation(case, current_user), internal, asks)
        files = store_uploads(get_config(), request.files.getlist("files"), "files")
        message = post_message(session, case, current_user, request.form.get("body", ""), internal, files,
                               source="web", asks=asks)  # fmt: skip
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        flash(_(err.message) if err.message in (lifecycle.ENTERPRISE_NOTE, lifecycle.ASKS_BY_EXPERT)
              else str(_REFUSED[err.code]))  # fmt: skip
        return back
    except (IntakeError, MessageError) as err:
        session.rollback()
        flash(" ".join(translate(m, _, str(get_locale())) for messages in err.errors.values() for m in messages))
        return back
    flash(str(_SAID[message.kind]))
    return back


#: What the page says once something is written in the thread, by its kind.
_SAID = {
    "message": _l("Your message was added to the case."),
    "note": _l("Your internal note was added; the enterprise does not see it."),
    "request": _l("Your request was sent to the enterprise."),
    "answer": _l("Your answer was sent to the expert."),
}


@bp.post("/cases/<reference>/documents")
@login_required
def upload_documents(reference: str):  # noqa: ANN201
    """The assigned expert's working documents, kept with the case like evidence (by hash)."""
    session = get_db()
    case = find_visible_case(session, current_user, reference)
    if case is None:
        abort(404)
    if case.assigned_expert_id != current_user.id or case.status not in lifecycle.ACTIVE_FOR_EXPERT:
        abort(403)
    try:
        files = store_uploads(get_config(), request.files.getlist("files"), "files")
    except IntakeError as err:
        flash(" ".join(translate(m, _, str(get_locale())) for messages in err.errors.values() for m in messages))
        return redirect(url_for("web.case_page", reference=reference)), 303
    if not files:
        flash(_("Choose at least one file."))
        return redirect(url_for("web.case_page", reference=reference)), 303
    attach_files(session, case, current_user, files, "document")
    session.commit()
    flash(_("%(n)d document(s) added.", n=len(files)))
    return redirect(url_for("web.case_page", reference=reference)), 303


@bp.get("/cases/<reference>/files/<sha256>")
@login_required
def download(reference: str, sha256: str):  # noqa: ANN201
    """A file of a case, to those who may see the case; a confidential case's downloads are logged."""
    session = get_db()
    case = find_visible_case(session, current_user, reference)
    item = case_file(session, case, current_user, sha256) if case else None
    if item is None:
        abort(404)
    path = path_of(get_config().evidence_dir, item.sha256)
    if not path.is_file():
        abort(404)  # recorded but not on this disk (a restore without the files): nothing to send
    record_access(session, case, current_user, "download", sha256)
    session.commit()
    return send_file(
        path,
        mimetype=item.content_type,
        as_attachment=True,
        download_name=item.filename,
    )


@bp.post("/cases/<reference>/rating")
@login_required
def rate(reference: str):  # noqa: ANN201
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=True)
    if case is None:
        abort(404)
    if rating_refusal(case, current_user):
        abort(403)
    score = request.form.get("score", type=int)
    try:
        rate_case(session, case, current_user, {"score": score, "comment": request.form.get("comment", "")})
    except RatingError:
        session.rollback()
        flash(_("Choose a rating from 1 to 5 (a comment is up to 2000 characters)."))
        return redirect(url_for("web.case_page", reference=reference)), 303
    session.commit()
    flash(_("Thank you for your rating."))
    return redirect(url_for("web.case_page", reference=reference)), 303
