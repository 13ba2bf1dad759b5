"""People with dating profiles, created through the services."""

from __future__ import annotations

import datetime as dt
import itertools

from core import clock
from extensions import db
from models import User
from services import matching, profiles

_n = itertools.count(1)


def dater(
    name="Ana",
    *,
    gender="woman",
    seeking=("woman", "man", "nonbinary"),
    age=30,
    lat=48.8566,
    lon=2.3522,
    creator=False,
) -> User:
    today = clock.today()
    user = User(
        email=f"{name.lower()}{next(_n)}@example.com",
        password_hash="x",
        display_name=name,
        date_of_birth=today.replace(year=today.year - age) - dt.timedelta(days=1),
        is_creator=creator,
        email_verified_at=clock.now(),
        last_active_at=clock.now(),
    )
    db.session.add(user)
    db.session.commit()
    profiles.update_basics(
        user, gender=gender, seeking=list(seeking), age_min=18, age_max=99, bio=f"I am {name}."
    )
    profiles.set_location_coordinates(user, lat, lon)
    return user


def answer(user: User, question_id: str, choice: int, acceptable: list[int], importance: int):
    matching.answer(user, question_id, choice, acceptable, importance)
