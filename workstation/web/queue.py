"""The experts' queue: the cases assigned to them, soonest deadline first, with filters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from workstation import lifecycle
from workstation.deadlines import deadlines_for, next_deadline
from workstation.i18n import translate
from workstation.search_syntax import Query, SearchSyntaxError, parse
from workstation.services.audit import record_reads
from workstation.services.cases import visible_cases
from workstation.services.conversation import with_news
from workstation.services.models import Case, User
from workstation.services.search import search_cases
from workstation.services.training import to_review
from workstation.services.views import SORTS, sorted_by, tabs_for
from workstation.vocabulary import RIGHT_TYPES
from workstation.web.support import get_db

bp = Blueprint("queue", __name__)

#: What an expert must do something about: accept or decline, start, write the opinion.
NEEDS_ACTION = (lifecycle.ASSIGNED, lifecycle.ACCEPTED, lifecycle.IN_PROGRESS)


def expert_queue(
    user: User, status: str | None = None, right_type: str | None = None, view: tuple[Query, str] | None = None
) -> list[dict[str, Any]]:
    """The expert's active cases (and shadowed ones, for trainees; those whose panel they sit or
    sat on), soonest running deadline first; or, for a saved view's tab (``view``: its search and
    sort), the cases the view finds, in its order (what its count counted)."""
    if view is None:
        query = visible_cases(user).where(Case.status.in_(lifecycle.ACTIVE_FOR_EXPERT))
    else:
        query = sorted_by(search_cases(get_db(), user, view[0]), view[1])
    query = query.options(selectinload(Case.events))
    if status in lifecycle.ACTIVE_FOR_EXPERT:
        query = query.where(Case.status == status)
    if right_type in RIGHT_TYPES:
        query = query.where(Case.right_type == right_type)
    rows = []
    for case in get_db().scalars(query):
        deadlines = deadlines_for(case)
        rows.append(
            {
                "case": case,
                "deadlines": deadlines,
                "deadline": next_deadline(deadlines),
                "mine": case.assigned_expert_id == user.id,
                # (neither theirs nor shadowed: a seat on its panel, ``services.panels``)
                "panel": case.assigned_expert_id != user.id and case.shadow_expert_id != user.id,
                "needs_action": case.assigned_expert_id == user.id and case.status in NEEDS_ACTION,
                "news": False,
            }
        )
    news = with_news(get_db(), user, [r["case"].id for r in rows])
    for row in rows:
        row["news"] = row["case"].id in news
    if view is None:
        rows.sort(key=lambda r: (r["deadline"] is None, r["deadline"].due_at.timestamp() if r["deadline"] else 0))
    return rows


@bp.get("/queue")
@login_required
def queue():  # noqa: ANN201
    if current_user.role != "expert":
        abort(403)
    status, right_type = request.args.get("status") or None, request.args.get("right_type") or None
    search, sort = request.args.get("q", "").strip(), request.args.get("sort") or ""
    view, problem = None, None
    if search or sort:
        try:
            view = (parse(search), sort if sort in SORTS else "newest")
        except SearchSyntaxError as err:
            problem = translate(err.message, _)
    rows = [] if problem else expert_queue(current_user, status, right_type, view)
    record_reads(get_db(), current_user, "queue page", [r["case"] for r in rows])
    get_db().commit()
    return render_template(
        "queue.html",
        rows=rows,
        needs_action=sum(r["needs_action"] for r in rows),
        statuses=lifecycle.ACTIVE_FOR_EXPERT,
        right_types=RIGHT_TYPES,
        status=status or "",
        right_type=right_type or "",
        search=search,
        search_problem=problem,
        sort=sort if sort in SORTS else "",
        sorts=SORTS,
        tabs=tabs_for(get_db(), current_user),
        # (trainees' drafts on the expert's cases, waiting for their review: ``services.training``)
        to_review=to_review(get_db(), current_user),
    )
