"""Where an IP address is, from the MaxMind database `GEOIP_DB` points at (GeoLite2/GeoIP2
Country or City). Without a database, or for an address it does not know (private ranges,
loopback), every answer is None: callers treat "unknown" as the normal case."""

from __future__ import annotations

import logging
import threading

from flask import current_app

log = logging.getLogger("amora.geo")
_readers: dict[str, object] = {}
_lock = threading.Lock()


def _reader(path: str):
    with _lock:
        if path not in _readers:
            import maxminddb  # noqa: PLC0415 (loaded only where GEOIP_DB is set)

            _readers[path] = maxminddb.open_database(path)
        return _readers[path]


def lookup(ip: str | None) -> dict | None:
    """The database's record for `ip`, or None."""
    path = current_app.config.get("GEOIP_DB")
    if not path or not ip:
        return None
    try:
        record = _reader(path).get(ip)
    except (ValueError, OSError) as exc:
        log.warning("GeoIP lookup failed for %s: %s", ip, exc)
        return None
    return record if isinstance(record, dict) else None


def _field(record: dict, name: str) -> dict:
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def _english_name(part: dict) -> str | None:
    names = part.get("names")
    name = names.get("en") if isinstance(names, dict) else None
    return name if isinstance(name, str) and name else None


def country_of_ip(ip: str | None) -> str | None:
    """The ISO 3166 alpha-2 code of the country `ip` is in, or None."""
    record = lookup(ip)
    if record is None:
        return None
    country = _field(record, "country") or _field(record, "registered_country")
    code = country.get("iso_code")
    return code.upper() if isinstance(code, str) else None


def place_of_ip(ip: str | None) -> str | None:
    """A place a person would recognise: "Berlin, Germany", "Germany" or "DE"; None if unknown.
    Country databases hold no cities, so they give the country alone."""
    record = lookup(ip)
    if record is None:
        return None
    country = _field(record, "country") or _field(record, "registered_country")
    country_name = _english_name(country) or (
        country.get("iso_code") if isinstance(country.get("iso_code"), str) else None
    )
    city = _english_name(_field(record, "city"))
    parts = [part for part in (city, country_name) if part]
    return ", ".join(parts) or None
