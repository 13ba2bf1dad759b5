"""Country blocks (SPEC §3): a creator lists countries whose viewers cannot see their page or
content. The viewer's country comes from their profile and, when `GEOIP_DB` points at a MaxMind
country database, from their IP address (so logged-out visitors and members without a profile
country are covered too). A blocked viewer gets the same "not found" as for something that does
not exist."""

from __future__ import annotations

import logging
import re
import threading

from flask import current_app, has_request_context, request

from extensions import db
from models import CreatorSettings, Profile, User
from services.errors import ValidationFailed

log = logging.getLogger("amora.geo")
_CODE = re.compile(r"^[A-Z]{2}$")
_readers: dict[str, object] = {}
_lock = threading.Lock()


def parse(raw: object) -> str:
    """ "de, fr" → "DE,FR" (ISO 3166 alpha-2 codes), or ValidationFailed."""
    codes = []
    for part in str(raw or "").replace(" ", ",").split(","):
        code = part.strip().upper()
        if not code:
            continue
        if not _CODE.match(code):
            raise ValidationFailed(
                {"blocked_countries": f"“{code[:10]}” is not a two-letter country code."}
            )
        if code not in codes:
            codes.append(code)
    if len(codes) > 60:
        raise ValidationFailed({"blocked_countries": "Up to 60 countries."})
    return ",".join(codes)


def _reader(path: str):
    with _lock:
        if path not in _readers:
            import maxminddb

            _readers[path] = maxminddb.open_database(path)
        return _readers[path]


def country_of_ip(ip: str | None) -> str | None:
    path = current_app.config.get("GEOIP_DB")
    if not path or not ip:
        return None
    try:
        record = _reader(path).get(ip)
    except (ValueError, OSError) as exc:
        log.warning("GeoIP lookup failed for %s: %s", ip, exc)
        return None
    if not isinstance(record, dict):
        return None
    country = record.get("country") or record.get("registered_country") or {}
    code = country.get("iso_code") if isinstance(country, dict) else None
    return code.upper() if isinstance(code, str) else None


def viewer_countries(viewer: User | None) -> set[str]:
    """Every country the viewer may be in: their profile's and their IP's."""
    found = set()
    if viewer is not None:
        profile = db.session.get(Profile, viewer.id)
        if profile is not None and profile.country_code:
            found.add(profile.country_code.upper())
    if has_request_context():
        ip = country_of_ip(request.remote_addr)
        if ip:
            found.add(ip)
    return found


def blocked_for(creator_id: int) -> set[str]:
    settings = db.session.get(CreatorSettings, creator_id)
    if settings is None or not settings.blocked_countries:
        return set()
    return set(settings.blocked_countries.split(","))


def is_blocked(creator_id: int, viewer: User | None) -> bool:
    if viewer is not None and viewer.id == creator_id:
        return False
    blocked = blocked_for(creator_id)
    return bool(blocked) and bool(blocked & viewer_countries(viewer))
