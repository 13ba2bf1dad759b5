"""Which addresses we redirect to or show as links: our own pages only.

A redirect to an address someone else chose (a `next` parameter, a `Referer` header) is an open
redirect, and a link to one in an admin page is a phishing lure, so both go through here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.exceptions import HTTPException


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _own_hosts() -> set[str]:
    base = urlsplit(current_app.config["BASE_URL"]).netloc
    return {host.lower() for host in (base, request.host) if host}


def own_path(url: str | None) -> str | None:
    """The path (and query) of `url` when it is an address on this site: a path, or an http(s)
    address on our own host (BASE_URL's or this request's). None for anything else."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in _own_hosts():
            return None
        url = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(url)


def own_page(url: str | None) -> str | None:
    """Like `own_path`, and only when the path is one of our pages (a GET route of the URL map):
    what may be shown as a link to an admin."""
    path = own_path(url)
    if path is None:
        return None
    adapter = current_app.url_map.bind(request.host)
    try:
        adapter.match(urlsplit(path).path, method="GET")
    except HTTPException:  # not found, not a page (POST only), or a redirect elsewhere
        return None
    return path
