"""Security headers on every kind of response, a Content-Security-Policy the pages keep to (no
inline script or style without the request's nonce), and HTTPS-only extras when configured."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from tests.conftest import ROOT
from tests.test_api import PDF, multipart
from tests.test_web import login
from workstation.config import Config
from workstation.web import create_app


def assert_secured(response) -> None:  # noqa: ANN001
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert re.search(r"(^|; )script-src 'self'", policy) and re.search(r"(^|; )style-src 'self'", policy)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert "Strict-Transport-Security" not in headers  # only when WORKSTATION_HTTPS=1


def test_every_kind_of_response_carries_the_security_headers(client, people) -> None:  # noqa: ANN001
    created = client.post(
        "/api/v1/cases", content_type="multipart/form-data", **multipart(people, [(io.BytesIO(PDF), "a.pdf")])
    )
    reference = created.get_json()["reference"]
    login(client, people.enterprise.email)
    responses = {
        "page": client.get("/login"),
        "logged-in page": client.get(f"/cases/{reference}"),
        "redirect": client.get("/"),
        "download": client.get(f"/cases/{reference}/files/{hashlib.sha256(PDF).hexdigest()}"),
        "404 page": client.get("/nowhere"),
        "API JSON": client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")),
        "API 401": client.get("/api/v1/queue"),
        "API 404": client.get("/api/v1/nowhere"),
        "OpenAPI": client.get("/api/v1/openapi.json"),
        "health": client.get("/healthz"),
    }
    assert responses["download"].status_code == 200 and responses["download"].data == PDF
    for kind, response in responses.items():
        try:
            assert_secured(response)
        except (AssertionError, KeyError) as err:
            raise AssertionError(f"{kind} ({response.status_code}): {err!r}") from err


def test_a_500_carries_them_too(app, client) -> None:  # noqa: ANN001
    @app.get("/boom")
    def boom():  # noqa: ANN202
        raise RuntimeError("boom")

    app.config["TESTING"] = False  # answer as in production, not re-raise
    response = client.get("/boom")
    assert response.status_code == 500
    assert_secured(response)


def test_a_pages_inline_style_and_script_carry_the_nonce_of_its_policy(client) -> None:  # noqa: ANN001
    response = client.get("/login")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    page = response.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in page
    assert re.findall(r"<(?:script|style)\b[^>]*>", page) == [f'<style nonce="{nonce}">']
    other = client.get("/login").headers["Content-Security-Policy"]
    assert nonce not in other  # a new nonce for every response


TEMPLATES = sorted(p for p in (ROOT / "templates").rglob("*.html") if "email" not in p.parts)


@pytest.mark.pure
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_page_template_has_inline_code_the_policy_would_block(template) -> None:  # noqa: ANN001
    """No nonce can allow a style="" or on...="" attribute; a <script> or <style> needs the nonce.
    (Emails are not pages: mail clients need inline styles, and no policy applies there.)"""
    source = template.read_text()
    assert not re.search(r"\sstyle\s*=", source), "style attribute"
    assert not re.search(r"\son[a-z]+\s*=", source), "event handler attribute"
    assert not re.search(r"javascript:", source, re.IGNORECASE)
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", source):
        assert 'nonce="{{ csp_nonce() }}"' in tag, tag


def test_over_https_there_is_hsts_and_the_session_cookie_is_secure(env, people) -> None:  # noqa: ANN001
    app = create_app(Config.from_env({**env, "WORKSTATION_HTTPS": "1"}))
    client = app.test_client()
    response = login(client, people.enterprise.email)
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    app.extensions["workstation"]["engine"].dispose()


def test_only_the_digest_preview_may_use_style_attributes_and_never_scripts(client, people) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    preview = client.get("/coordinator/digest/preview")
    assert preview.status_code == 200 and 'style="' in preview.get_data(as_text=True)  # the email's own markup
    policy = preview.headers["Content-Security-Policy"]
    assert policy.endswith("; style-src-attr 'unsafe-inline'") and "script-src 'self' 'nonce-" in policy
    assert "style-src-attr" not in client.get("/coordinator/").headers["Content-Security-Policy"]


def test_a_views_own_security_header_is_replaced_once_and_the_rest_kept(app, client) -> None:  # noqa: ANN001
    """The headers are set in one pass over the response's (``_security_headers``): one a view set
    itself (in any case) is replaced by ours, not sent twice; its other headers stay in order."""
    from flask import Response

    @app.get("/own-headers")
    def own_headers() -> Response:
        response = Response("x")
        response.headers.add("x-frame-options", "SAMEORIGIN")
        response.headers.add("X-Frame-Options", "ALLOW-FROM https://example.com")
        response.headers.add("X-Custom", "kept")
        return response

    response = client.get("/own-headers")
    assert_secured(response)
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    names = [name.lower() for name, _ in response.headers]
    assert len(names) == len(set(names)) and response.headers["X-Custom"] == "kept"
    assert names.index("x-frame-options") < names.index("x-custom")
