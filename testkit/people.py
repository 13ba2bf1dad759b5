"""People written straight to the database, verified, without going through sign-up."""

from __future__ import annotations

import datetime as dt
import itertools

from core import clock
from extensions import db
from models import User

_counter = itertools.count(1)


def person(name: str = "Fan", *, creator: bool = False) -> User:
    n = next(_counter)
    user = User(
        email=f"{name.lower().replace(' ', '')}{n}@example.com",
        password_hash="x",
        display_name=name,
        date_of_birth=dt.date(1990, 1, 1),
        is_creator=creator,
        email_verified_at=clock.now(),
    )
    db.session.add(user)
    db.session.commit()
    return user
