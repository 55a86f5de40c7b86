"""Flask's signed-cookie session, without its work on requests that carry no session.

Flask's ``SecureCookieSessionInterface`` builds an itsdangerous serializer (keys, signer, a trial
``dumps`` to tell text from bytes) twice a request, to open the session and to save it, and
reads seven cookie settings to save even an empty session it then does not write. The API's
requests carry no cookie (bearer tokens): on intake's hot path that was about 4 % of the
request's CPU for nothing. Here the serializer is built once per secret key, a request without
a ``Cookie`` header gets its empty session without it, and an empty session nobody changed
saves as Flask's would (``Vary: Cookie`` if it was read, nothing else) without the settings.
Sessions that exist are opened and saved by Flask's own code.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` with its serializer built once (``create_app`` sets it)."""

    def __init__(self) -> None:
        #: (the keys it was built with, the serializer): built again only when the keys change
        self._built: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._built is None or self._built[0] != keys:
            self._built = (keys, super().get_signing_serializer(app))
        return self._built[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()  # what Flask opens for a request without the cookie
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:
            # Flask's own steps for it: the Vary header if the session was read; no cookie.
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
