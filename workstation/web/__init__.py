"""The web layer: the application factory, its blueprints by audience and the web helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import Any

from flask import Flask, abort, g, jsonify, render_template, request
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from workstation.config import Config
from workstation.deadlines import zone
from workstation.evidence import human_size
from workstation.i18n import DEFAULT_LANGUAGE, TRANSLATIONS_DIR, compile_catalogs, label, translate
from workstation.services.db import DATABASE_UNAVAILABLE, database_unavailable, make_engine, make_session_factory
from workstation.services.mail import TEMPLATES_DIR
from workstation.web import (
    account,
    accounts,
    api,
    audit,
    bulk,
    coordinator,
    headers,
    health,
    opinions,
    pages,
    panels,
    privacy,
    quarantine,
    queue,
    referrals,
    statistics,
    tokens,
    training,
    views,
    watch,
)
from workstation.web.extensions import babel, csrf, login_manager
from workstation.web.jsonio import JsonAnswers
from workstation.web.session import CookieSessions
from workstation.web.support import IdConverter, database_unavailable_answer, refused_field, request_language


def select_locale() -> str:
    """The user's setting, else ``?lang=``, else the browser's preference, else Chinese."""
    if current_user and current_user.is_authenticated:
        return current_user.language
    return request_language()


def local_time(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) moment as the centre's clock shows it (China Standard Time)."""
    return moment.astimezone(zone()).strftime(fmt)


#: What a page says for an HTTP error (the API answers its own JSON errors).
ERROR_PAGES = {
    400: (
        lazy_gettext("Bad request"),
        lazy_gettext("The request could not be understood. Please go back and try again."),
    ),
    403: (lazy_gettext("Not allowed"), lazy_gettext("Your account may not open this page.")),
    404: (lazy_gettext("Not found"), lazy_gettext("There is no such page, or it is not yours to see.")),
    413: (lazy_gettext("Too large"), lazy_gettext("What you sent is larger than the workstation accepts.")),
    500: (lazy_gettext("Something went wrong"), lazy_gettext("The error has been logged. Please try again later.")),
}


def _error_pages(app: Flask) -> None:
    def page(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/"):
            # An API path no route took (unknown path, a method it does not have): still the API's
            # error shape, with the error's own headers (a 405's Allow).
            code = exc.code or 500
            response = jsonify(errors={"_request": [exc.description if code < 500 else "Internal error."]})
            response.headers.extend((k, v) for k, v in exc.get_headers() if k.lower() != "content-type")
            return response, code
        if exc.code not in ERROR_PAGES:
            return exc  # werkzeug's own page for the rare rest (405 on a page, 415...)
        title, explanation = ERROR_PAGES[exc.code]
        return render_template("error.html", title=title, explanation=explanation), exc.code

    # Every HTTP error, and through its 500 every unhandled exception.
    app.register_error_handler(HTTPException, page)

    def unavailable(exc: Exception):  # noqa: ANN202
        if not database_unavailable(exc):
            raise exc  # any other database error: a 500, logged
        logging.getLogger(__name__).warning("database unavailable in %s %s: %s", request.method, request.path, exc)
        return database_unavailable_answer()

    # The database out of reach (down, restarting, failing over): a 503 to try again, not a 500.
    # (The API's blueprint, which answers every other exception itself, asks the same.)
    for error_class in (*DATABASE_UNAVAILABLE, DBAPIError):
        app.register_error_handler(error_class, unavailable)


class Workstation(Flask):
    """Flask, asking less of ``inspect`` on every request, its JSON answers written by orjson."""

    json_provider_class = JsonAnswers

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks this of every hook and view, every request (seven times for an API request),
        # and ``inspect.iscoroutinefunction`` takes its time to say no. A plain function or method
        # whose code is not a coroutine's, and that is not marked as one, is returned as it is, as
        # Flask would; anything else is Flask's to decide.
        plain = func.__func__ if type(func) is MethodType else func
        if (
            type(plain) is FunctionType
            and not plain.__code__.co_flags & CO_COROUTINE
            and "_is_coroutine_marker" not in plain.__dict__  # (inspect.markcoroutinefunction, 3.12)
        ):
            return func
        return super().ensure_sync(func)


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Workstation(__name__, template_folder=str(TEMPLATES_DIR), instance_path=str(config.instance_path))
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR),
    )
    app.session_interface = CookieSessions()
    engine = make_engine(config.database_url)
    app.extensions["workstation"] = {"config": config, "engine": engine, "sessions": make_session_factory(engine)}

    compile_catalogs()
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = lazy_gettext("Please log in to see this page.")

    # Before any route is added: rules pick their converters when they are added.
    app.url_map.converters["int"] = IdConverter
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(queue.bp)
    app.register_blueprint(opinions.bp)
    app.register_blueprint(panels.bp)
    app.register_blueprint(watch.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(quarantine.bp)
    app.register_blueprint(statistics.bp)
    app.register_blueprint(referrals.bp)
    app.register_blueprint(referrals.api_bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(bulk.bp)
    app.register_blueprint(bulk.api_bp)
    app.register_blueprint(training.bp)
    app.register_blueprint(training.api_bp)
    app.jinja_env.globals["label"] = lambda code: label(code, gettext)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["tr"] = lambda message: translate(message, gettext, str(get_locale()))
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["filesize"] = human_size
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, never cookies
    csrf.exempt(referrals.api_bp)
    csrf.exempt(bulk.api_bp)
    csrf.exempt(training.api_bp)

    _error_pages(app)
    headers.init_app(app, https=config.https)

    @app.before_request
    def _refuse_unstorable_text():  # noqa: ANN202
        """No text the databases cannot store gets in (``refused_field``): a 400 naming the field."""
        refused = refused_field()
        if refused is None:
            return None
        if request.path.startswith("/api/"):
            field, why = refused
            return jsonify(errors={field: [why]}), 400
        abort(400)

    @app.before_request
    def _check_the_login_first() -> None:
        """A page's login is checked (``pages._load_user``) before its view runs: the check's
        once-a-minute commit of ``last_seen_at`` then never commits a view's unfinished work. The
        API authenticates by token and leaves the cookie alone."""
        if not request.path.startswith("/api/"):
            current_user._get_current_object()  # werkzeug's LocalProxy: loads the user

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    return app
