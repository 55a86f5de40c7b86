"""Small helpers shared by the blueprints: the request's database session and its config."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from workstation.config import Config
from workstation.models import MAX_ID


def get_config() -> Config:
    return current_app.extensions["workstation"]["config"]


def get_engine() -> Engine:
    return current_app.extensions["workstation"]["engine"]


def get_db() -> Session:
    """The request's session (opened on first use, closed when the request ends)."""
    if "db" not in g:
        g.db = current_app.extensions["workstation"]["sessions"]()
    return g.db


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route. A number larger than ``MAX_ID`` names nothing: a 404 at once,
    instead of reaching the database driver and overflowing there (a 500). (Refusing it as a
    mismatch instead would make werkzeug answer 405 for some methods of a route that has them.)"""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


NUL = "\x00"
#: What a field holding one is told (PostgreSQL cannot store the character).
NUL_REFUSED = "Must not contain the NUL character."


def holds_nul(value: Any) -> bool:
    """Whether ``value`` (JSON-like) has a string with a NUL character anywhere in it."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def _may_hold_nul(body: bytes) -> bool:
    """Whether a JSON body can decode to text with a NUL. In UTF-8 JSON a NUL can only be written
    as the escape ``\\u0000`` (a raw one makes it invalid JSON, refused as such by the view); a
    body in UTF-16 or UTF-32 (which JSON allows) holds zero bytes, so it is walked too. Most bodies
    hold neither and need no walk: the API's hot path."""
    return b"\\u0000" in body or b"\x00" in body


def field_with_nul() -> str | None:
    """The first field of this request whose text holds a NUL character, or None.

    PostgreSQL cannot store one, and refuses it even as a query parameter (a 500 where SQLite
    answers): path parts, the query, form fields and a JSON body are checked before any view
    runs. Files are not: their contents are stored as files, and their names are cleaned.
    """
    pairs: list[tuple[Any, Any]] = [*(request.view_args or {}).items(), *request.args.items(multi=True)]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        pairs += request.form.items(multi=True)
    elif request.is_json and _may_hold_nul(request.get_data()):
        body = request.get_json(silent=True)
        pairs += body.items() if isinstance(body, dict) else [("_request", body)]
    for name, value in pairs:
        if holds_nul(value) or holds_nul(name):
            return "_request" if holds_nul(name) else str(name)
    return None
