"""Geo search (docs/dating.md#geo-search): the bounding box never loses a point the exact distance
keeps — checked against brute force on random points, including the poles and the antimeridian."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from core import geo

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
radii = st.floats(min_value=0.5, max_value=3000, allow_nan=False)
near_edges = st.one_of(
    latitudes,
    st.floats(min_value=85, max_value=90),
    st.floats(min_value=-90, max_value=-85),
)
near_antimeridian = st.one_of(
    longitudes, st.floats(min_value=175, max_value=180), st.floats(min_value=-180, max_value=-175)
)


@settings(max_examples=3000, deadline=None)
@given(near_edges, near_antimeridian, radii, near_edges, near_antimeridian)
def test_every_point_within_the_radius_is_inside_the_box(lat, lon, radius, plat, plon):
    box = geo.bounding_box(lat, lon, radius)
    if geo.haversine_km(lat, lon, plat, plon) <= radius:
        assert box.contains(plat, plon), (lat, lon, radius, plat, plon, box)


@settings(max_examples=500, deadline=None)
@given(latitudes, longitudes, radii)
def test_points_just_inside_the_circle_in_every_direction_are_in_the_box(lat, lon, radius):
    box = geo.bounding_box(lat, lon, radius * 1.0001)
    for bearing in range(0, 360, 15):
        plat, plon = _destination(lat, lon, radius, bearing)
        assert box.contains(plat, plon)


@settings(max_examples=3000, deadline=None)
@given(near_edges, near_antimeridian, radii, near_edges, near_antimeridian)
def test_every_point_within_the_radius_lies_in_a_listed_cell(lat, lon, radius, plat, plon):
    cells = geo.cells_covering(geo.bounding_box(lat, lon, radius))
    if cells is not None and geo.haversine_km(lat, lon, plat, plon) <= radius:
        assert geo.cell_of(plat, plon) in cells, (lat, lon, radius, plat, plon)


@settings(max_examples=1500, deadline=None)
@given(
    near_edges,
    near_antimeridian,
    st.floats(min_value=20, max_value=400),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_every_point_of_a_cell_found_inside_is_within_the_radius(lat, lon, radius, u, v):
    """Discover skips the distance test in these cells: a point anywhere in one (its corners,
    edges and inside, here at a random spot and the cell's nine reference spots) is within."""
    cells = geo.cells_covering(geo.bounding_box(lat, lon, radius))
    if cells is None:
        return
    for cell in geo.cells_inside(lat, lon, radius, cells):
        row, column = divmod(cell, geo.CELL_ROW)
        south = row / geo.CELLS_PER_DEGREE - 90
        west = column / geo.CELLS_PER_DEGREE - 180
        for a, b in [(u, v)] + [(x / 2, y / 2) for x in range(3) for y in range(3)]:
            plat = south + a * geo.CELL_DEGREES
            plon = west + b * geo.CELL_DEGREES
            assert geo.haversine_km(lat, lon, plat, plon) <= radius, (lat, lon, radius, cell)


def test_a_city_search_finds_the_cells_wholly_inside_its_circle():
    cells = geo.cells_covering(geo.bounding_box(48.8566, 2.3522, 50))
    inside = geo.cells_inside(48.8566, 2.3522, 50, cells)
    assert geo.cell_of(48.8566, 2.3522) in inside and 2 <= len(inside) < len(cells)
    assert geo.cells_inside(48.8566, 2.3522, 5, cells) == []  # a cell is ~28 km tall


def test_a_city_search_lists_a_few_dozen_cells_and_a_continent_none():
    paris = geo.bounding_box(48.8566, 2.3522, 50)
    assert 9 <= len(geo.cells_covering(paris)) <= 40
    assert geo.cells_covering(geo.bounding_box(48.8566, 2.3522, 2000)) is None
    # Round a pole: every longitude, but few rows of cells.
    assert len(geo.cells_covering(geo.bounding_box(89.95, 10.0, 20))) == 2 * 1441


def _destination(lat, lon, km, bearing_deg):
    d = km / geo.EARTH_RADIUS_KM
    phi1, lam1, theta = map(math.radians, (lat, lon, bearing_deg))
    phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi1),
        math.cos(d) - math.sin(phi1) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 540) % 360 - 180
    return max(-90.0, min(90.0, math.degrees(phi2))), lon2


def test_the_box_splits_across_the_antimeridian():
    box = geo.bounding_box(-18.14, 178.43, 300)  # Suva, Fiji
    assert len(box.lon_ranges) == 2
    assert box.contains(-18.0, -179.5) and box.contains(-18.0, 177.0)
    assert not box.contains(-18.0, 0.0)


def test_near_a_pole_every_longitude_is_in():
    box = geo.bounding_box(89.5, 10.0, 100)
    assert box.lon_ranges == ((-180.0, 180.0),) and box.max_lat == 90.0


def test_known_distances():
    paris, london = (48.8566, 2.3522), (51.5074, -0.1278)
    assert abs(geo.haversine_km(*paris, *london) - 343.6) < 1
    assert abs(geo.haversine_km(0, 179.9, 0, -179.9) - 22.24) < 0.1  # across ±180°
    assert geo.rounded_distance(0.4) == "less than 2 km away"
    assert geo.rounded_distance(23.4) == "25 km away"
    assert geo.coarsen(48.856613) == 48.86
