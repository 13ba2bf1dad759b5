"""What Amora holds about a member (docs/security.md#your-data): every table belongs to one area of
`services.personal_data.REGISTRY`, which says what the export writes about it and what erasing
the account does to it, so a new table cannot be forgotten by both."""

from __future__ import annotations

from collections import Counter

import pytest

from extensions import db
from models import Photo, User
from services.personal_data import REGISTRY, Area


def test_every_table_belongs_to_one_area_of_the_registry():
    tables = {table.name for table in db.metadata.sorted_tables}
    claimed = Counter(name for area in REGISTRY for name in area.tables)
    forgotten = sorted(tables - set(claimed))
    assert not forgotten, (
        f"No area of services/personal_data declares {forgotten}: add each table to an area "
        "that exports and erases it, or that says why not (not_exported, kept)."
    )
    assert sorted(name for name, count in claimed.items() if count > 1) == []
    assert set(claimed) <= tables  # the registry names no table that does not exist
    names = [area.name for area in REGISTRY]
    assert len(names) == len(set(names))


def test_an_area_must_export_and_erase_its_rows_or_say_why_not():
    with pytest.raises(ValueError, match="not_exported"):
        Area("photos", (Photo,), erase=lambda erasure: None)
    with pytest.raises(ValueError, match="kept"):
        Area("photos", (Photo,), export=lambda user: {})
    kept = Area("users", (User,), not_exported="an example", kept="an example")
    assert kept.tables == {"users"}
