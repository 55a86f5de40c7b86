"""Security headers on every response: pages, API JSON, errors and file downloads alike.

Written here rather than with flask-talisman: six headers and a nonce are fewer lines than its
configuration, and it would redirect to HTTPS itself (the TLS proxy's job here).

The Content-Security-Policy allows no inline script or style: a page's own ``<script>`` and
``<style>`` elements carry the request's nonce (``csp_nonce()`` in templates), and no template uses
``style=`` attributes (no nonce can allow those). ``frame-ancestors 'none'`` and ``X-Frame-Options``
keep the pages out of other sites' frames, where their buttons could be clickjacked.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g

_POLICY = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self'{nonce}; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The policy of a response that rendered no nonce (API JSON, downloads, redirects): built once.
_POLICY_WITHOUT_NONCE = _POLICY.format(nonce="")
_ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: Browsers that reached the site over HTTPS keep to it for a year.
_HSTS = "max-age=31536000"
_CSP, _STS = "Content-Security-Policy", "Strict-Transport-Security"


def csp_nonce() -> str:
    """This request's nonce for its inline ``<script>`` and ``<style>`` elements (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def allow_style_attributes() -> None:
    """Let this response's page use ``style=""`` attributes (``style-src-attr 'unsafe-inline'``):
    only for the digest preview, which shows the digest email's own markup, made of inline styles
    because mail clients keep no stylesheet. Scripts and ``<style>`` elements stay nonce-only; a
    style attribute runs no code. (Showing it in a sandboxed frame of its own would remove even this.)"""
    g.csp_style_attributes = True


def init_app(app: Flask, https: bool) -> None:
    """Add the headers to every response of ``app``; with ``https``, HSTS and Secure cookies (the
    session cookie holds the login's secret and Flask-WTF's CSRF token: there is no other cookie)."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    if https:
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        nonce = g.get("csp_nonce")
        headers = response.headers
        policy = _POLICY.format(nonce=f" 'nonce-{nonce}'") if nonce else _POLICY_WITHOUT_NONCE
        if g.get("csp_style_attributes"):
            policy += "; style-src-attr 'unsafe-inline'"
        # As ``headers[name] = value`` for each (replacing a header a view set), but with one pass
        # over the response's headers: werkzeug's ``set`` goes over all of them for every name, a
        # fortieth of intake's request for five headers.
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - (iterating Headers gives pairs)
        for name, value in ((_CSP, policy), *_ALWAYS.items(), *([(_STS, _HSTS)] if https else ())):
            if name.lower() in present:
                headers[name] = value
            else:
                headers.add(name, value)
        return response
