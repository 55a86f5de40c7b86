"""The coordinators' audit page: the administrative audit log and the reads of confidential cases,
newest first, paged, filtered by person, case and dates. It only reads: no route changes an
audit row (the tables are append-only)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from workstation.services.audit import ACTIONS, access_log_query, admin_audit_query, references_of
from workstation.services.models import AccessLog, AdminAudit
from workstation.services.paging import page_of
from workstation.web.support import coordinators_only, get_db, requested_page

bp = Blueprint("audit", __name__, url_prefix="/coordinator")
PAGE_SIZE = 50

#: What each administrative act is called on the page.
ACTION_NAMES = {
    "user_created": _l("Account created"),
    "user_deactivated": _l("Account deactivated"),
    "user_reactivated": _l("Account reactivated"),
    "expert_profile_edited": _l("Expert profile edited"),
    "password_changed": _l("Password changed"),
    "password_reset": _l("Password reset"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "case_reassigned": _l("Case reassigned"),
    "case_classified": _l("Case classified (right type and service)"),
    "clearance_override": _l("Clearance overridden"),
    "digest_settings_changed": _l("Digest settings changed"),
    "personal_data_exported": _l("Personal data exported"),
    "personal_data_erased": _l("Personal data erased"),
    "user_invited": _l("Invitation sent"),
    "invitation_accepted": _l("Invitation accepted"),
    "enterprise_registered": _l("Enterprise registered"),
    "registration_approved": _l("Registration approved"),
    "registration_refused": _l("Registration refused"),
    "cases_exported": _l("Cases exported (confidential among them)"),
    "mail_attached": _l("Quarantined mail attached to a case"),
    "mail_discarded": _l("Quarantined mail discarded"),
    "case_marked_difficult": _l("Case marked difficult"),
    "panel_convened": _l("Panel convened"),
    "panel_dissolved": _l("Panel dissolved"),
    "partner_saved": _l("Partner added or changed"),
    "partner_deactivated": _l("Partner deactivated"),
    "referral_recorded": _l("Referral sent or its step recorded"),
    "bulk_action": _l("Bulk action on several cases"),
    "trainee_promoted": _l("Trainee promoted to expert"),
}
#: Where a confidential case was read (``access_log.target``; a download names its file's hash).
READ_PLACES = {
    "page": _l("case page"),
    "api": _l("case API"),
    "events api": _l("timeline API"),
    "transitions api": _l("action API"),
    "classification api": _l("classification API"),
    "opinion": _l("opinion page"),
    "opinion form": _l("opinion form"),
    "referral letter": _l("referral letter"),
    "referrals api": _l("referrals API"),
    "drafts api": _l("trainees' drafts API"),
    "case list": _l("case list"),
    "queue page": _l("expert queue"),
    "queue api": _l("queue API"),
    "desk page": _l("coordinator desk"),
    "lookalikes page": _l("look-alike marks page"),
    "digest preview": _l("digest preview"),
    "notices page": _l("notices page"),
    "notices api": _l("notices API"),
    "cases api": _l("case list API"),
    "cases export api": _l("export of cases (API)"),
    "cases export desk": _l("export of cases (desk)"),
    "bulk action": _l("bulk action"),
}
READ_ACTIONS = {"view": _l("viewed"), "download": _l("downloaded")}


bp.before_request(coordinators_only)


def _day(name: str, errors: dict[str, str]) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = _l("A date such as 2026-12-31.")
        return None


@bp.get("/audit")
def audit_log():  # noqa: ANN201
    session = get_db()
    tab = "reads" if request.args.get("tab") == "reads" else "admin"
    errors: dict[str, str] = {}
    filters = {
        "person": request.args.get("person", "").strip(),
        "reference": request.args.get("case", "").strip(),
        "since": _day("from", errors),
        "until": _day("to", errors),
    }
    action = request.args.get("action", "")
    if tab == "admin":
        query = admin_audit_query(**filters, action=action)
        listing = page_of(session, query, requested_page(), PAGE_SIZE,
                          joinedload(AdminAudit.actor), joinedload(AdminAudit.subject))  # fmt: skip
    else:
        listing = page_of(session, access_log_query(**filters), requested_page(), PAGE_SIZE, joinedload(AccessLog.user))
    args = {k: v for k, v in request.args.items() if k in ("person", "case", "from", "to", "action") and v}
    return render_template(
        "coordinator/audit.html",
        tab=tab,
        **listing.context("rows"),
        references=references_of(session, (r.case_id for r in listing.rows)),
        args=args,
        errors=errors,
        action=action,
        actions=ACTIONS,
        action_names=ACTION_NAMES,
        read_places=READ_PLACES,
        read_actions=READ_ACTIONS,
    ), 400 if errors else 200
