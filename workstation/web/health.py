"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from workstation.services.messaging import broker_is_reachable
from workstation.web.support import get_config, get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # noqa: ANN201
    checks = {}
    try:
        get_db().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = "unreachable"
    checks["broker"] = "ok" if broker_is_reachable(get_config()) else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
