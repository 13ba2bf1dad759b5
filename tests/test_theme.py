"""Dark mode (Settings → Account → Appearance): light, dark, or as the device is set."""

from __future__ import annotations

from extensions import db
from models import User
from tests.creator_helpers import signed_in

HTMX = {"HX-Request": "true"}


def test_a_member_chooses_dark_pages_and_every_page_says_so(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    page = auth.client.get("/settings").get_data(as_text=True)
    assert 'name="theme"' in page and "As my device is set" in page
    assert "data-theme=" not in page.split(">", 2)[1]  # the device decides
    assert auth.post("/settings/appearance", {"theme": "dark"}).status_code == 303
    with app.app_context():
        assert db.session.get(User, user_id).theme == "dark"
    for url in ("/", "/settings", "/wallet"):
        html = auth.client.get(url).get_data(as_text=True)
        assert '<html lang="en" data-theme="dark">' in html, url
    assert auth.post("/settings/appearance", {"theme": "light"}, headers=HTMX).status_code == 204
    assert '<html lang="en" data-theme="light">' in auth.client.get("/").get_data(as_text=True)
    auth.post("/settings/appearance", {"theme": "system"})
    assert '<html lang="en">' in auth.client.get("/").get_data(as_text=True)


def test_an_unknown_appearance_is_refused(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    response = auth.post("/settings/appearance", {"theme": "neon"})
    assert response.status_code == 422
    assert "Choose light, dark, or as your device is set." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user_id).theme == "system"
