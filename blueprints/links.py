"""Which addresses we redirect to: our own pages only.

A redirect to an address someone else chose (a `next` parameter, a `Referer` header) is an open
redirect, so both go through here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request


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
