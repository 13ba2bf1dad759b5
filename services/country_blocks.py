"""Country blocks (docs/creators.md#country-blocks): a creator lists countries whose viewers cannot
see their page or content. The viewer's country comes from their profile and, when `GEOIP_DB` points
at a MaxMind country database, from their IP address (so logged-out visitors and members without a
profile country are covered too). A blocked viewer gets the same "not found" as for something that
does not exist."""

from __future__ import annotations

import re

from flask import has_request_context, request

from core import sql
from core.errors import ValidationFailed
from models import CreatorSettings, Profile, User
from services.geoip import country_of_ip

_CODE = re.compile(r"^[A-Z]{2}$")


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


def viewer_countries(viewer: User | None) -> set[str]:
    """Every country the viewer may be in: their profile's and their IP's."""
    found = set()
    if viewer is not None:
        profile = sql.get(Profile, viewer.id)
        if profile is not None and profile.country_code:
            found.add(profile.country_code.upper())
    if has_request_context():
        ip = country_of_ip(request.remote_addr)
        if ip:
            found.add(ip)
    return found


def blocked_for(creator_id: int) -> set[str]:
    settings = sql.get(CreatorSettings, creator_id)
    if settings is None or not settings.blocked_countries:
        return set()
    return set(settings.blocked_countries.split(","))


def is_blocked(creator_id: int, viewer: User | None) -> bool:
    if viewer is not None and viewer.id == creator_id:
        return False
    blocked = blocked_for(creator_id)
    return bool(blocked) and _keeps_out(creator_id, blocked, viewer, viewer_countries(viewer))


def _keeps_out(creator_id: int, blocked: set[str], viewer: User | None, where: set[str]) -> bool:
    """A creator's blocked countries keep out a viewer seen in `where` (never the creator)."""
    return getattr(viewer, "id", None) != creator_id and bool(blocked & where)


def keeping_out(blocked_by_creator: dict[int, str], viewer: User | None) -> set[int]:
    """Those creators whose blocked countries ("DE,FR", or "" for none) keep `viewer` out, from
    countries the caller read (`subscriptions.subscribed_creators`)."""
    blocking = {creator: blocked for creator, blocked in blocked_by_creator.items() if blocked}
    if not blocking:
        return set()
    where = viewer_countries(viewer)
    return {
        creator_id
        for creator_id, blocked in blocking.items()
        if _keeps_out(creator_id, set(blocked.split(",")), viewer, where)
    }
