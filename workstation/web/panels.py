"""The case page's difficult-case part (``services.panels``): the expert or a coordinator marks the
case difficult; a coordinator convenes a panel from the experts listed with their load and, for
those refused, why; a member writes a view; a coordinator dissolves the panel."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.services.conversation import MAX_BODY
from workstation.services.models import Case, User
from workstation.services.panels import (
    EMPTY_VIEW,
    LONG_VIEW,
    PanelError,
    convene_panel,
    dissolve_panel,
    mark_difficult,
    panel_choices,
    refusal_name,
    sitting_seats,
    write_view,
)
from workstation.web.support import act_on_case_page

bp = Blueprint("panels", __name__)

#: What the page says after each act.
_DONE = {
    "difficult": _l("The case is marked difficult."),
    "convene": _l("The panel is convened; its members are mailed."),
    "dissolve": _l("The panel is dissolved; its members' seats are given back."),
    "view": _l("Your view was added for the panel; the enterprise does not see it."),
}
#: Refusals the page explains (the rest say the case has moved on, or that it is not theirs).
_EXPLAINED = (lifecycle.NOT_DIFFICULT, lifecycle.PANEL_SITS, lifecycle.NO_PANEL, lifecycle.PANEL_SIZE_WRONG,
              lifecycle.LEAD_ON_PANEL, lifecycle.REASON_NEEDED, EMPTY_VIEW, LONG_VIEW)  # fmt: skip


def panel_context(session: Any, case: Case, user: User) -> dict[str, Any]:
    """What the case page shows of the case's difficulty and panel to ``user`` (nothing to the
    enterprise): who may mark it, the choice of experts for a coordinator, the sitting members,
    and whether ``user`` writes a view."""
    if user.role == "enterprise":
        return {"panel": None}
    working = case.status in lifecycle.PANEL_STATUSES
    coordinator = user.role == "coordinator"
    seats = sitting_seats(session, case)
    convenes = coordinator and working and case.difficult_reason is not None and not seats
    return {
        "panel": {
            "reason": case.difficult_reason,
            "may_mark": working and (coordinator or case.assigned_expert_id == user.id),
            "choices": panel_choices(session, case) if convenes else [],
            "members": [seat.expert for seat in seats],
            "may_dissolve": coordinator and bool(seats),
            "writes_view": any(seat.expert_id == user.id for seat in seats),
            "max_body": MAX_BODY,  # (the form's limit; ``write_view`` holds it)
            "refusal_name": refusal_name,
        }
    }


def _not_convened(session: Session, err: PanelError) -> str:
    names = dict(session.query(User.id, User.name).filter(User.id.in_(list(err.refused))).all())
    refused = "; ".join(f"{names.get(i, i)}: {_(refusal_name(r))}" for i, r in sorted(err.refused.items()))
    return _("Not convened: %(refused)s", refused=refused)


def _act(reference: str, act: Any, done: str):  # noqa: ANN202
    return act_on_case_page(reference, act, str(_DONE[done]), "panel", _EXPLAINED, {PanelError: _not_convened})


@bp.post("/cases/<reference>/difficult")
@login_required
def mark(reference: str):  # noqa: ANN201
    reason = request.form.get("reason", "")
    return _act(reference, lambda s, case: mark_difficult(s, case, current_user, reason[:2000]), "difficult")


@bp.post("/cases/<reference>/panel")
@login_required
def convene(reference: str):  # noqa: ANN201
    chosen = [int(v) for v in request.form.getlist("expert_id") if v.isdigit() and len(v) < 16]
    return _act(reference, lambda s, case: convene_panel(s, case, current_user, chosen), "convene")


@bp.post("/cases/<reference>/panel/dissolve")
@login_required
def dissolve(reference: str):  # noqa: ANN201
    return _act(
        reference, lambda s, case: dissolve_panel(s, case, current_user, request.form.get("reason")), "dissolve"
    )


@bp.post("/cases/<reference>/panel/views")
@login_required
def view(reference: str):  # noqa: ANN201
    body = request.form.get("body", "")
    return _act(reference, lambda s, case: write_view(s, case, current_user, body), "view")
