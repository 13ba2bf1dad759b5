"""The installable app (docs/deployment.md#installable-app): the web app manifest, the service
worker at the site's root (so that its scope is the whole site) and the page it shows offline."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, send_from_directory, url_for

bp = Blueprint("app_shell", __name__)

THEME_COLOR = "#c2185b"
BACKGROUND = "#faf7fb"


@bp.get("/manifest.webmanifest")
def manifest():
    icons = [
        {
            "src": url_for("static", filename="icons/icon-192.png"),
            "sizes": "192x192",
            "type": "image/png",
        },
        {
            "src": url_for("static", filename="icons/icon-512.png"),
            "sizes": "512x512",
            "type": "image/png",
        },
        {
            "src": url_for("static", filename="icons/maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    response = jsonify(
        name="Amora",
        short_name="Amora",
        description="Dating, creators and random chat.",
        id="/",
        start_url="/",
        scope="/",
        display="standalone",
        theme_color=THEME_COLOR,
        background_color=BACKGROUND,
        icons=icons,
    )
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/sw.js")
def service_worker():
    response = send_from_directory(current_app.static_folder, "sw.js", max_age=0)
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "no-cache"  # browsers look for a new worker on each visit
    return response


@bp.get("/offline")
def offline():
    """What the service worker shows without a network: the same for everyone (it is kept in
    the browser's cache), so it shows no member's data."""
    return render_template("main/offline.html")
