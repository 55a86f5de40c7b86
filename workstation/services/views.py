"""Saved views: a coordinator's or an expert's named search (the search syntax,
``search_syntax``) and sort, shown as a tab on the desk or the queue with the number of cases it
finds.

A view is private to its owner, or shared with everyone of the owner's role (a coordinator's
shared view is never an expert's tab). Its count and its cases always come from
``search.search_cases`` for the one looking: a view shows each person only the cases they may
see, whoever saved it. Each tab costs one count query; a person has at most ``MAX_VIEWS`` views
of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from workstation.i18n import N_, Message
from workstation.search_syntax import MAX_LENGTH, SearchSyntaxError, parse
from workstation.services.models import Case, SavedView, User
from workstation.services.schemas import api_errors
from workstation.services.search import search_cases

#: Who has views: those with a desk or a queue.
ROLES = ("coordinator", "expert")
#: How a view's cases are ordered: by submission (newest or oldest first), by last change, by reference.
SORTS = ("newest", "oldest", "updated", "reference")
MAX_VIEWS, MAX_NAME = 20, 80
#: A name: no control characters, something other than spaces (spaces around it are dropped).
#: Explicit classes, not ``\s``: the document's readers disagree about what white space is.
NAME_PATTERN = r"^ *[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"

_ORDER = {
    "newest": (Case.id.desc(),),
    "oldest": (Case.id.asc(),),
    "updated": (Case.updated_at.desc(), Case.id.desc()),
    "reference": (Case.reference.asc(), Case.id.asc()),
}


class SavedViewInputSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_NAME), validate.Regexp(NAME_PATTERN)],
                         metadata={"example": "待分配的专利案件"})  # fmt: skip
    query = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_LENGTH),
        metadata={"description": "the search syntax (as GET /api/v1/cases?q=); one it cannot run is a 400 naming query",
                  "example": "status:submitted type:patent"},
    )  # fmt: skip
    sort = fields.String(load_default="newest", validate=validate.OneOf(SORTS))
    shared = fields.Boolean(load_default=False, metadata={"description": "shown to everyone of the owner's role"})


#: A tab counts its cases up to this many ("more than" beyond): counting every case a common word
#: finds took seconds under load (1.6 s for 商标 among 100,000).
COUNT_MAX = 1000


class SavedViewSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    query = fields.String()
    sort = fields.String(validate=validate.OneOf(SORTS))
    shared = fields.Boolean()
    mine = fields.Boolean(metadata={"description": "the caller saved it (and may delete it)"})
    count = fields.Integer(
        metadata={"description": f"the cases of the view the caller may see, counted up to {COUNT_MAX}"}
    )
    more = fields.Boolean(metadata={"description": f"the view finds more than {COUNT_MAX} cases (count stopped)"})


view_input_schema, view_schema = SavedViewInputSchema(), SavedViewSchema()


class ViewError(ValueError):
    """A view that cannot be saved or removed: ``errors`` as the API shows them; ``status``: 400
    for input at fault, 403 for someone without views, 404 for a view not theirs, 409 for a name
    taken or too many views."""

    def __init__(self, errors: dict[str, list[str]], status: int = 400) -> None:
        super().__init__(errors)
        self.errors, self.status = errors, status


@dataclass(frozen=True)
class Tab:
    """A view as its tab shows it to one person."""

    view: SavedView
    count: int
    mine: bool
    more: bool = False  # (more than ``count`` cases: counting stopped at COUNT_MAX)

    def as_dict(self) -> dict[str, Any]:
        v = self.view
        return view_schema.dump(
            {
                "id": v.id,
                "name": v.name,
                "query": v.query,
                "sort": v.sort,
                "shared": v.shared,
                "mine": self.mine,
                "count": self.count,
                "more": self.more,
            }  # fmt: skip
        )


def _may_have_views(user: User) -> None:
    if user.role not in ROLES:
        raise ViewError({"_request": [N_("Saved views are for coordinators and experts.")]}, 403)


def sorted_by(query: Select[tuple[Case]], sort: str) -> Select[tuple[Case]]:
    """``query`` ordered as ``sort`` (one of ``SORTS``) says."""
    return query.order_by(None).order_by(*_ORDER[sort])


def view_cases(session: Session, user: User, view: SavedView) -> Select[tuple[Case]]:
    """The cases of ``view`` that ``user`` may see, in the view's order (not run)."""
    return sorted_by(search_cases(session, user, parse(view.query)), view.sort)


def views_of(session: Session, user: User) -> list[SavedView]:
    """The views ``user`` sees: their own and those shared by others of their role, by name."""
    if user.role not in ROLES:
        return []
    seen = or_(SavedView.owner_id == user.id, (SavedView.shared.is_(True)) & (SavedView.role == user.role))
    return list(session.scalars(select(SavedView).where(seen).order_by(SavedView.name, SavedView.id)))


def tabs_for(session: Session, user: User) -> list[Tab]:
    """``user``'s views with the number of cases each finds for them (one count query a view)."""
    return [tab_of(session, user, view) for view in views_of(session, user)]


def tab_of(session: Session, user: User, view: SavedView) -> Tab:
    """``view`` as ``user``'s tab: with the number of its cases they may see."""
    found = view_cases(session, user, view).order_by(None).with_only_columns(Case.id).limit(COUNT_MAX + 1)
    count = session.scalar(select(func.count()).select_from(found.subquery())) or 0
    return Tab(view, min(count, COUNT_MAX), view.owner_id == user.id, count > COUNT_MAX)


def _checked(data: Any, partial: bool = False) -> dict[str, Any]:
    """``data`` as a view's fields (``SavedViewInputSchema``), its query one the search can run."""
    if not isinstance(data, dict):
        raise ViewError({"_request": [N_("A JSON object.")]})
    try:
        loaded = SavedViewInputSchema(partial=partial).load(data)
    except ValidationError as err:
        raise ViewError(api_errors(err.messages)) from None
    if "query" in loaded:
        try:
            parse(loaded["query"])
        except SearchSyntaxError as err:
            raise ViewError({"query": [err.message]}) from None
        loaded["query"] = loaded["query"].strip()
    if "name" in loaded:
        loaded["name"] = loaded["name"].strip(" ")
    return loaded


def _name_taken(session: Session, user: User, name: str, other_than: int | None = None) -> None:
    same = select(SavedView.id).where(SavedView.owner_id == user.id, SavedView.name == name)
    if other_than is not None:
        same = same.where(SavedView.id != other_than)
    if session.scalar(same) is not None:
        raise ViewError({"name": [N_("You already have a view of this name.")]}, 409)


def save_view(session: Session, user: User, data: Any) -> SavedView:
    """A new view of ``user``'s from ``data`` (``SavedViewInputSchema``); ``ViewError`` if it cannot be."""
    _may_have_views(user)
    loaded = _checked(data)
    _name_taken(session, user, loaded["name"])
    owned = session.scalar(select(func.count()).select_from(SavedView).where(SavedView.owner_id == user.id)) or 0
    if owned >= MAX_VIEWS:
        raise ViewError({"_request": [Message(N_("At most %(n)d views each; delete one first."), n=MAX_VIEWS)]}, 409)
    view = SavedView(owner_id=user.id, role=user.role, **loaded)
    session.add(view)
    session.flush()
    return view


def own_view(session: Session, user: User, view_id: int) -> SavedView:
    """``user``'s own view ``view_id``: ``ViewError`` 404 for anyone else's (shared or not)."""
    view = session.get(SavedView, view_id)
    if view is None or view.owner_id != user.id:
        raise ViewError({"_request": [N_("No such view of yours.")]}, 404)
    return view


def rename_view(session: Session, user: User, view_id: int, name: str) -> SavedView:
    view = own_view(session, user, view_id)
    loaded = _checked({"name": name}, partial=True)
    _name_taken(session, user, loaded["name"], other_than=view.id)
    view.name = loaded["name"]
    return view


def delete_view(session: Session, user: User, view_id: int) -> None:
    session.delete(own_view(session, user, view_id))
