"""The bundled city list (services/data/cities.csv, from GeoNames; see services/data/README.md)
for people who pick their place instead of sharing their browser's location."""

from __future__ import annotations

import csv
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "cities.csv"


@dataclass(frozen=True)
class City:
    id: int
    name: str
    country_code: str
    country: str
    admin1: str
    latitude: float
    longitude: float
    population: int

    @property
    def label(self) -> str:
        region = f", {self.admin1}" if self.admin1 and self.admin1 != self.name else ""
        return f"{self.name}{region}, {self.country}"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@functools.cache
def _load() -> tuple[dict[int, City], list[tuple[str, City]]]:
    by_id: dict[int, City] = {}
    index: list[tuple[str, City]] = []
    with DATA.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            city = City(
                id=int(row["id"]),
                name=row["name"],
                country_code=row["country_code"],
                country=row["country"],
                admin1=row.get("admin1") or "",
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                population=int(row["population"] or 0),
            )
            by_id[city.id] = city
            index.append((_fold(city.name), city))
            if row.get("ascii_name") and _fold(row["ascii_name"]) != _fold(city.name):
                index.append((_fold(row["ascii_name"]), city))
    return by_id, index


def get(city_id: int) -> City | None:
    return _load()[0].get(city_id)


def search(query: str, limit: int = 10) -> list[City]:
    """Cities whose name starts with the query (accents and case ignored), biggest first."""
    folded = _fold((query or "").strip())
    if len(folded) < 2:
        return []
    seen: set[int] = set()
    found = []
    for name, city in _load()[1]:
        if name.startswith(folded) and city.id not in seen:
            seen.add(city.id)
            found.append(city)
    found.sort(key=lambda c: -c.population)
    return found[:limit]
