"""Small helpers shared by the blueprints: the request's database session and its config."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from flask import Response, abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_babel import force_locale, gettext, lazy_gettext
from flask_login import current_user, login_required
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from workstation import lifecycle
from workstation.config import Config
from workstation.i18n import DEFAULT_LANGUAGE, LANGUAGES
from workstation.services.cases import find_visible_case
from workstation.services.models import MAX_ID, Case
from workstation.services.paging import page_number
from workstation.storable import refusal


def requested_page() -> int:
    """A page's ``?page=``: anything that is not a page number from 1 to ``MAX_PAGE`` is page 1."""
    return page_number(request.args.get("page")) or 1


@login_required
def coordinators_only() -> None:
    """A coordinator's pages: the login page for nobody, a 403 for anyone else (a blueprint's
    ``before_request``, or ``coordinator_view`` for a single view)."""
    if current_user.role != "coordinator":
        abort(403)


def get_config() -> Config:
    return current_app.extensions["workstation"]["config"]


def get_engine() -> Engine:
    return current_app.extensions["workstation"]["engine"]


def get_db() -> Session:
    """The request's session (opened on first use, closed when the request ends)."""
    if "db" not in g:
        g.db = current_app.extensions["workstation"]["sessions"]()
    return g.db


#: How long a client is asked to wait before trying again while the database is out of reach:
#: about as long as a standby's promotion or a restart takes.
RETRY_AFTER_SECONDS = 5


def request_language() -> str:
    """The language a request asks for without its user: ``?lang=``, else the browser's
    preference, else Chinese."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def database_unavailable_answer() -> tuple[Response | str, int, dict[str, str]]:
    """The answer when the database could not do a request's work (``db.database_unavailable``):
    503 with ``Retry-After``, in the API's error shape or as a page saying to try again in a
    moment. Nothing was written: the work's transaction did not commit. The page is rendered
    without the user, whose look-up needs the database: not through ``render_template``, whose
    context processors include Flask-Login's, which looks the user up; in the language the
    request asks for."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/"):
        message = f"The database is unavailable for a moment; try again in {RETRY_AFTER_SECONDS} seconds."
        return jsonify(errors={"_request": [message]}), 503, headers
    with force_locale(request_language()):
        page = current_app.jinja_env.get_template("unavailable.html").render(
            without_user=True,
            again=request.full_path if request.method == "GET" else "/",
            title=lazy_gettext("Temporarily unavailable"),
            explanation=lazy_gettext(
                "The workstation cannot reach its database just now, so this page could not be shown "
                "or your changes saved (nothing is ever saved half-way). Please try again in a moment."
            ),
        )
    return page, 503, headers


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route. A number larger than ``MAX_ID`` names nothing: a 404 at once,
    instead of reaching the database driver and overflowing there (a 500). (Refusing it as a
    mismatch instead would make werkzeug answer 405 for some methods of a route that has them.)"""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


# In UTF-8 JSON a NUL or a surrogate is written as an escape, ``\\u0000`` or ``\\ud800``-``\\udfff``,
# or raw: a zero byte, or a surrogate's 3 bytes (ED A0-BF ..), which JSON's decoder lets through
# ("surrogatepass"). A body in UTF-16 or UTF-32 (JSON allows them) holds zero bytes.
_MAY_BE_REFUSED = re.compile(rb"\\u0000|\x00|\\u[dD]|\xed[\xa0-\xbf]")


def _may_be_refused(body: bytes) -> bool:
    """Whether a JSON body can decode to text ``refusal`` refuses. Most bodies cannot, and need no
    walk: the API's hot path. (A pair of surrogate escapes, an emoji as ``json.dumps`` writes it,
    is walked and found fine.) Every match of the pattern holds one of three byte strings, each
    found at memchr's speed: a body without them (UTF-8 text written as it is) is not searched."""
    if b"\\u" not in body and b"\x00" not in body and b"\xed" not in body:
        return False
    return _MAY_BE_REFUSED.search(body) is not None


def refused_field() -> tuple[str, str] | None:
    """The first field of this request whose text cannot be stored (``refusal``), and why; or None.

    Path parts, the query, form fields and a JSON body are checked before any view runs, so that
    such text is a 400 naming the field on both databases, not a 500 from the driver. Files are
    not: their contents are stored as files, and their names are cleaned. (Form fields and the
    query are decoded by werkzeug, which replaces what is not UTF-8: only a NUL can get through.)
    """
    pairs: list[tuple[Any, Any]] = [*(request.view_args or {}).items()]
    if request.query_string:  # (werkzeug's parsing of an empty query cost as much as the rest of this)
        pairs += request.args.items(multi=True)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        pairs += request.form.items(multi=True)
    elif request.is_json and _may_be_refused(request.get_data()):
        body = request.get_json(silent=True)
        pairs += body.items() if isinstance(body, dict) else [("_request", body)]
    for name, value in pairs:
        if why := refusal(name):
            return "_request", why
        if why := refusal(value):
            return str(name), why
    return None


#: How a page tells an exception of one kind (besides the lifecycle's refusals) to the person.
Explain = Callable[[Session, Exception], str]


def act_on_case_page(
    reference: str,
    act: Callable[[Session, Case], Any],
    done: str,
    anchor: str,
    explained: Collection[str] = (),
    explain: Mapping[type[Exception], Explain] | None = None,
) -> tuple[Response, int]:
    """A page's POST on one case the person may see (else 404): ``act(session, case)`` on the case
    locked, then back to the case page's ``#anchor`` with ``done`` flashed, or with why not: a
    lifecycle refusal's own message where ``explained`` names it (others say only that it cannot be
    done), or what ``explain`` says of an exception of its kind. Nothing is kept of a refused act."""
    session = get_db()
    case = find_visible_case(session, current_user, reference, for_update=True)
    if case is None:
        session.rollback()
        abort(404)
    back = redirect(url_for("web.case_page", reference=reference) + f"#{anchor}"), 303
    refusals = tuple((explain or {}).keys())
    try:
        act(session, case)
        session.commit()
    except lifecycle.TransitionError as err:
        session.rollback()
        known = err.message in explained
        flash(gettext(err.message) if known else gettext("You may not do this on this case, or it has moved on."))
        return back
    except refusals as err:
        session.rollback()
        flash(next(say for kind, say in (explain or {}).items() if isinstance(err, kind))(session, err))
        return back
    flash(done)
    return back
