"""Small helpers shared by the blueprints: the request's database session and its config."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from workstation.config import Config


def get_config() -> Config:
    return current_app.extensions["workstation"]["config"]


def get_db() -> Session:
    """The request's session (opened on first use, closed when the request ends)."""
    if "db" not in g:
        g.db = current_app.extensions["workstation"]["sessions"]()
    return g.db
