"""The installable app: a valid web app manifest, the service worker at the site's root, and an
offline page that shows no member's data (it is kept in the browser's cache)."""

from __future__ import annotations

import io

from PIL import Image

from tests.creator_helpers import signed_in


def test_the_manifest_describes_an_installable_app(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == "Amora" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    sizes = {}
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200, icon["src"]
        width, height = Image.open(io.BytesIO(image.data)).size
        assert icon["sizes"] == f"{width}x{height}"
        sizes.setdefault(icon.get("purpose", "any"), set()).add(width)
    assert {192, 512} <= sizes["any"] and 512 in sizes["maskable"]
    page = client.get("/terms").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page


def test_the_service_worker_covers_the_site_and_is_checked_for_updates(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "no-cache" in response.headers["Cache-Control"]
    assert '"/offline"' in response.get_data(as_text=True)


def test_the_offline_page_is_the_same_for_everyone(app):
    auth, _ = signed_in(app, "ana@example.com", "Ana")
    page = auth.client.get("/offline").get_data(as_text=True)
    assert "You are offline" in page
    assert "Ana" not in page and "ana@example.com" not in page and "credits" not in page
