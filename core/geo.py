"""Distances on the Earth for discovery (docs/dating.md#geo-search).

Discovery first narrows candidates with an indexed bounding box, then keeps those whose
great-circle (haversine) distance is within the radius. The box is exact for a spherical Earth
(Jan Philip Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using Bounding
Coordinates"): near a pole the box spans every longitude, and across the ±180° meridian it is
split in two longitude ranges.

The box is looked up by grid cell: every profile carries the number of its CELL_DEGREES ×
CELL_DEGREES cell (`profiles.geo_cell`, computed by the database with the same arithmetic as
`cell_of`), and a search lists the cells its box touches, so the index reads the people of a
few cells rather than of a whole band of latitude around the globe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
MAX_RADIUS_KM = 20_037.5  # half the circumference: every point on Earth


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    lon_ranges: tuple[tuple[float, float], ...]  # one, or two across the antimeridian

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and any(
            low <= lon <= high for low, high in self.lon_ranges
        )


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """The smallest latitude/longitude box containing every point within `radius_km`."""
    angular = radius_km / EARTH_RADIUS_KM
    min_lat = lat - math.degrees(angular)
    max_lat = lat + math.degrees(angular)
    if min_lat <= -90 or max_lat >= 90 or angular >= math.pi / 2:
        # A pole is inside the circle: all longitudes.
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), ((-180.0, 180.0),))
    dlon = math.degrees(math.asin(math.sin(angular) / math.cos(math.radians(lat))))
    low, high = lon - dlon, lon + dlon
    if low < -180:
        ranges = ((low + 360, 180.0), (-180.0, high))
    elif high > 180:
        ranges = ((low, 180.0), (-180.0, high - 360))
    else:
        ranges = ((low, high),)
    return BoundingBox(min_lat, max_lat, ranges)


CELL_DEGREES = 0.25  # about 28 km of latitude: a 50 km search touches 20 to 40 cells
CELLS_PER_DEGREE = 4
CELL_ROW = 2000  # cell = row × CELL_ROW + column; columns run 0…1440
MAX_CELLS = 4000  # a box touching more cells is searched by latitude alone

# The database computes the cell as a generated column with exactly this arithmetic.
CELL_SQL_POSTGRESQL = (
    f"floor((latitude + 90) * {CELLS_PER_DEGREE})::integer * {CELL_ROW}"
    f" + floor((longitude + 180) * {CELLS_PER_DEGREE})::integer"
)
CELL_SQL_SQLITE = (  # latitude + 90 and longitude + 180 are ≥ 0: truncation is floor
    f"CAST((latitude + 90) * {CELLS_PER_DEGREE} AS INTEGER) * {CELL_ROW}"
    f" + CAST((longitude + 180) * {CELLS_PER_DEGREE} AS INTEGER)"
)


def _row(lat: float) -> int:
    return math.floor((lat + 90) * CELLS_PER_DEGREE)


def _column(lon: float) -> int:
    return math.floor((lon + 180) * CELLS_PER_DEGREE)


def cell_of(lat: float, lon: float) -> int:
    return _row(lat) * CELL_ROW + _column(lon)


def cells_covering(box: BoundingBox) -> list[int] | None:
    """Every cell holding a point of the box, or None when there are more than MAX_CELLS
    (a radius of many hundreds of km, or a pole inside it)."""
    rows = range(_row(box.min_lat), _row(box.max_lat) + 1)
    columns = sorted(
        {c for low, high in box.lon_ranges for c in range(_column(low), _column(high) + 1)}
    )
    if len(rows) * len(columns) > MAX_CELLS:
        return None
    return [row * CELL_ROW + column for row in rows for column in columns]


INSIDE_MARGIN_KM = 0.01  # what a cell's corners keep from the edge of the circle


def cells_inside(lat: float, lon: float, radius_km: float, cells: list[int]) -> list[int]:
    """Of `cells`, those lying wholly within `radius_km` of (lat, lon), whose people need no
    distance test. A cell is a latitude/longitude rectangle: along a parallel the distance
    grows with the difference in longitude, along a meridian it has no maximum inside a short
    arc, so the farthest point of the cell is one of its four corners. The corners must be
    INSIDE_MARGIN_KM within the radius, far beyond any floating-point difference between this
    test, the database's cell arithmetic and its distance test."""
    within: dict[tuple[int, int], bool] = {}  # by corner: neighbouring cells share them

    def corner_within(row: int, column: int) -> bool:
        if (row, column) not in within:
            a, b = row / CELLS_PER_DEGREE - 90, column / CELLS_PER_DEGREE - 180
            within[row, column] = haversine_km(lat, lon, a, b) <= radius_km - INSIDE_MARGIN_KM
        return within[row, column]

    inside = []
    for cell in cells:
        row, column = divmod(cell, CELL_ROW)
        if all(corner_within(row + i, column + j) for i in (0, 1) for j in (0, 1)):
            inside.append(cell)
    return inside


def coarsen(value: float) -> float:
    """Stored precision: 0.01° (about 1.1 km of latitude), so an exact home is never kept."""
    return round(value, 2)


def rounded_distance(km: float) -> str:
    """What a card shows: never more precise than the stored position allows."""
    if km < 2:
        return "less than 2 km away"
    if km < 10:
        return f"{round(km)} km away"
    if km < 100:
        return f"{round(km / 5) * 5} km away"
    return f"{round(km / 10) * 10:,} km away"
