"""Error pages: full pages for browsers, partials for htmx, security headers on everything."""

from __future__ import annotations

import pytest

from tests.conftest import make_app

HTMX = {"HX-Request": "true"}


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data and b"<html" in response.data


def test_htmx_gets_a_partial_aimed_at_the_flash_area(client):
    response = client.get("/no/such/page", headers=HTMX)
    assert response.status_code == 404
    assert b"<html" not in response.data and b"Page not found" in response.data
    assert response.headers["HX-Retarget"] == "#flashes"
    assert response.headers["HX-Reswap"] == "innerHTML"


def test_a_row_that_is_not_there_is_the_404_page_with_the_services_reason(app, auth):
    """Views let a service's NotFound through: the error handler answers it, a whole page for a
    browser and the flash-area partial for htmx, as for an unknown address."""
    auth.signup()
    page = auth.client.get("/calls/4242")
    assert page.status_code == 404 and b"<html" in page.data
    assert b"Page not found" in page.data and b"There is no such call." in page.data
    partial = auth.client.get("/messages/4242", headers=HTMX)
    assert partial.status_code == 404 and b"<html" not in partial.data
    assert b"That person is not here." in partial.data
    assert partial.headers["HX-Retarget"] == "#flashes"


def test_wrong_method_is_a_405_page(client):
    response = client.delete("/login")
    assert response.status_code == 405 and b"Method not allowed" in response.data


@pytest.fixture
def crashing_app(sqlite_url):
    app = make_app(sqlite_url, TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    return app


def test_an_unexpected_error_is_a_500_page_without_details(crashing_app):
    response = crashing_app.test_client().get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data and b"kaboom" not in response.data
    partial = crashing_app.test_client().get("/boom", headers=HTMX)
    assert partial.status_code == 500 and b"<html" not in partial.data


def test_security_headers_and_a_fresh_csp_nonce(client):
    first = client.get("/")
    second = client.get("/")
    csp = first.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert csp != second.headers["Content-Security-Policy"]  # a new nonce per response
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in first.headers["Vary"]


def test_user_input_is_escaped(app, auth):
    auth.signup(name="<script>alert(1)</script>")
    html = auth.client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_session_cookie_is_httponly_and_lax(app, auth):
    response = auth.signup()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
