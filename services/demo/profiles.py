"""Demo dating profiles: a gender, a place near one of a few cities, interests, a bio, answers
to the first match questions, and a portrait."""

from __future__ import annotations

import random

from sqlalchemy import select

from core import clock
from extensions import db
from models import Profile, User
from services import matching, profiles
from services.demo.images import portrait, store_upload
from services.demo.people import DEMO_DOMAIN

DEMO_PLACES = [  # (latitude, longitude, label): most demo people near Paris and London
    (48.8566, 2.3522, "Paris, France"),
    (48.8566, 2.3522, "Paris, France"),
    (51.5074, -0.1278, "London, United Kingdom"),
    (52.5200, 13.4050, "Berlin, Germany"),
    (40.7128, -74.0060, "New York City, United States"),
]
DEMO_INTERESTS = [
    "hiking",
    "jazz",
    "cooking",
    "board games",
    "travel",
    "photography",
    "yoga",
    "cinema",
    "running",
    "books",
    "techno",
    "museums",
]
DEMO_BIOS = [
    "Weekend hiker, weekday coffee snob. Looking for someone to get lost with.",
    "I cook too much pasta and I am always looking for people to share it with.",
    "Museums in the morning, jazz at night. Tell me your favourite record.",
    "New in town, curious about everything. Let's find the best bakery together.",
]
ANSWERED = 15  # demo people answer 8 to 15 of the bank's first questions


def _demo_members(*where) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.email.like(f"%@{DEMO_DOMAIN}"), User.role == "fan", *where)
            .order_by(User.id)
        )
    )


def seed_profiles() -> None:
    """Profiles for demo people who have none yet, then a portrait for those without a photo."""
    people = _demo_members(~select(Profile.user_id).where(Profile.user_id == User.id).exists())
    questions = list(matching.bank().values())[:ANSWERED]
    for index, user in enumerate(people):
        rng = random.Random(user.email)  # the same world every time
        gender = ("woman", "man", "nonbinary")[index % 3 if index % 7 else 2]
        lat, lon, _ = DEMO_PLACES[index % len(DEMO_PLACES)]
        profile = profiles.ensure(user)
        profile.gender = gender
        profile.seeking = "woman,man,nonbinary"
        profile.bio = DEMO_BIOS[index % len(DEMO_BIOS)]
        db.session.commit()
        profiles.set_location_coordinates(
            user, lat + rng.uniform(-0.15, 0.15), lon + rng.uniform(-0.2, 0.2)
        )
        profiles.set_interests(user, rng.sample(DEMO_INTERESTS, 3))
        for question in questions[: 8 + index % 8]:
            choices = len(question.choices)
            mine = rng.randrange(choices)
            accepted = sorted({mine, rng.randrange(choices)})
            matching.answer(user, question.id, mine, accepted, rng.choice([1, 10, 10, 50, 250]))
        user.last_active_at = clock.now() if index % 4 == 0 else None
    db.session.commit()
    without_photo = select(Profile.user_id).where(
        Profile.user_id == User.id, Profile.photo_count == 0
    )
    for user in _demo_members(without_photo.exists()):
        store_upload(user, "photo", portrait(user.email))
