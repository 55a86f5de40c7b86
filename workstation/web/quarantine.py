"""The quarantine of received mail (coordinators): what matched no case, carried a forged
address or came from someone else's address. Attach a mail to a case as its sender, on the
coordinator's word, or discard it; both are audited (``services.mailin``)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from workstation.services.mailin import AttachError, attach, discard
from workstation.services.models import ReceivedMail
from workstation.services.paging import page_of
from workstation.web.support import coordinators_only, get_config, get_db, requested_page

bp = Blueprint("quarantine", __name__, url_prefix="/coordinator/quarantine")
PAGE_SIZE = 50

#: Why a mail is in the quarantine (``ReceivedMail.reason``).
REASONS = {
    "no_case": _l("Sent to no case's reply address"),
    "forged": _l("The reply address is forged or altered"),
    "wrong_sender": _l("Sent from another address than the one the reply address was made for"),
    "not_allowed": _l("The sender may not write in the case's thread"),
    "empty": _l("Nothing written and no file"),
    "unreadable": _l("The mail could not be read"),
    "unknown_sender": _l("Mail to the intake address from no approved enterprise's address"),
}


bp.before_request(coordinators_only)


@bp.get("")
def listing():  # noqa: ANN201
    query = select(ReceivedMail).where(ReceivedMail.status == "quarantined").order_by(ReceivedMail.id.desc())
    page = page_of(get_db(), query, requested_page(), PAGE_SIZE)
    return render_template("coordinator/quarantine.html", **page.context("mails"), reasons=REASONS)


def _quarantined(mail_id: int) -> ReceivedMail:
    row = get_db().get(ReceivedMail, mail_id, with_for_update=True)
    if row is None:
        abort(404)
    return row


@bp.post("/<int:mail_id>/attach")
def attach_mail(mail_id: int):  # noqa: ANN201
    db = get_db()
    row = _quarantined(mail_id)
    reference = request.form.get("reference", "").strip()
    try:
        attach(db, get_config(), row, reference, current_user)
        db.commit()
    except AttachError as err:
        db.rollback()
        flash(_(err.args[0]))
        return redirect(url_for("quarantine.listing")), 303
    flash(_("The mail is now a message on case %(reference)s.", reference=reference.upper()))
    return redirect(url_for("quarantine.listing")), 303


@bp.post("/<int:mail_id>/discard")
def discard_mail(mail_id: int):  # noqa: ANN201
    db = get_db()
    row = _quarantined(mail_id)
    try:
        discard(db, row, current_user)
        db.commit()
    except AttachError as err:
        db.rollback()
        flash(_(err.args[0]))
        return redirect(url_for("quarantine.listing")), 303
    flash(_("The mail is discarded."))
    return redirect(url_for("quarantine.listing")), 303
