"""Dating profiles (docs/dating.md#profiles): what people show, where they are (to ~1 km), what they
seek."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select

from core import clock, geo, sql
from core.errors import DomainError, ValidationFailed
from extensions import db
from models import Profile, ProfileInterest, User
from models.dating import GENDERS
from services import cities

MAX_BIO = 2000
MAX_INTERESTS = 12
TAG = re.compile(r"^[a-z0-9][a-z0-9 \-]{0,30}$")
# The ages a member seeks and Discover filters by (the database checks them: ck_profiles_ages).
MIN_AGE, MAX_AGE = 18, 120
AGES_ERROR = f"Ages go from {MIN_AGE} to {MAX_AGE}, the lower one first."


def get(user_id: int) -> Profile | None:
    return sql.get(Profile, user_id)


def ensure(user: User) -> Profile:
    """The user's profile, created with defaults on first use (no commit)."""
    profile = db.session.get(Profile, user.id)
    if profile is None:
        profile = Profile(
            user_id=user.id,
            date_of_birth=user.date_of_birth,
            is_creator=user.is_creator,
            is_verified=user.creator_verified_at is not None,
        )
        db.session.add(profile)
        db.session.flush()
    return profile


def ages_error(age_min: int, age_max: int) -> str | None:
    """The error of an age range sought, None when it is fine."""
    return None if MIN_AGE <= age_min <= age_max <= MAX_AGE else AGES_ERROR


def normalize_tag(text: str) -> str:
    """An interest as stored and searched: lower case, single spaces."""
    return " ".join(text.strip().lower().split())


def _genders(values: Sequence[str], field: str) -> str:
    chosen = [v for v in GENDERS if v in set(values)]
    unknown = set(values) - set(GENDERS)
    if unknown or not chosen:
        raise ValidationFailed({field: "Choose at least one of: woman, man, non-binary."})
    return ",".join(chosen)


def update_basics(
    user: User,
    *,
    gender: str | None,
    seeking: Sequence[str],
    age_min: int,
    age_max: int,
    bio: str,
) -> Profile:
    """Gender (None: not said yet), who I seek and the ages I seek, and my bio. One
    transaction."""
    errors: dict[str, str] = {}
    if gender not in (None, *GENDERS):
        errors["gender"] = "Choose woman, man or non-binary."
    try:
        seeking_value = _genders(seeking, "seeking")
    except ValidationFailed as exc:
        errors.update(exc.errors)
        seeking_value = ""
    if ages := ages_error(age_min, age_max):
        errors["age_min"] = ages
    bio = bio.strip()
    if len(bio) > MAX_BIO:
        errors["bio"] = f"Keep it under {MAX_BIO} characters."
    if errors:
        raise ValidationFailed(errors)
    profile = ensure(user)
    profile.gender = gender
    profile.seeking = seeking_value
    profile.age_min, profile.age_max = age_min, age_max
    profile.bio = bio
    profile.updated_at = clock.now()
    db.session.commit()
    return profile


def set_interests(user: User, interests: Sequence[str]) -> Profile:
    """My interests as typed (one tag each); stored lower-cased, once each."""
    tags = []
    for text in interests:
        tag = normalize_tag(text)
        if not tag:
            continue
        if not TAG.match(tag):
            raise ValidationFailed(
                {
                    "interests": f"“{text.strip()[:40]}” is not a valid interest: letters, "
                    "numbers, spaces and dashes, up to 32 characters."
                }
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_INTERESTS:
        raise ValidationFailed({"interests": f"Up to {MAX_INTERESTS} interests."})
    profile = ensure(user)
    current = {interest.tag: interest for interest in profile.interests}
    for tag, interest in current.items():
        if tag not in tags:
            profile.interests.remove(interest)
    db.session.flush()  # deletions first: the (user, tag) pair is unique
    for tag in tags:
        if tag not in current:
            profile.interests.append(ProfileInterest(user_id=user.id, tag=tag))
    profile.updated_at = clock.now()
    db.session.commit()
    return profile


def set_location_coordinates(user: User, latitude: float, longitude: float) -> Profile:
    """From the browser's geolocation; stored rounded to ~1 km."""
    lat, lon = float(latitude), float(longitude)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN fails every comparison
        raise ValidationFailed(
            {"location": "Latitude goes from -90 to 90 and longitude from -180 to 180."}
        )
    nearest = _nearest_city(lat, lon)
    profile = ensure(user)
    profile.latitude, profile.longitude = geo.coarsen(lat), geo.coarsen(lon)
    profile.city_id = nearest.id if nearest else None
    profile.place_name = f"Near {nearest.label}" if nearest else "Somewhere on Earth"
    profile.country_code = nearest.country_code if nearest else None
    profile.updated_at = clock.now()
    db.session.commit()
    return profile


def set_location_city(user: User, city_id: int) -> Profile:
    city = cities.get(city_id)
    if city is None:
        raise ValidationFailed({"city": "Pick a city from the list."})
    profile = ensure(user)
    profile.latitude, profile.longitude = geo.coarsen(city.latitude), geo.coarsen(city.longitude)
    profile.city_id = city.id
    profile.place_name = city.label
    profile.country_code = city.country_code
    profile.updated_at = clock.now()
    db.session.commit()
    return profile


def _nearest_city(lat: float, lon: float, within_km: float = 100) -> cities.City | None:
    best, best_km = None, within_km
    box = geo.bounding_box(lat, lon, within_km)
    for city in cities._load()[0].values():
        if box.contains(city.latitude, city.longitude):
            km = geo.haversine_km(lat, lon, city.latitude, city.longitude)
            if km <= best_km:
                best, best_km = city, km
    return best


def interests_of(user_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(ProfileInterest.tag)
            .where(ProfileInterest.user_id == user_id)
            .order_by(ProfileInterest.tag)
        )
    )


def require_complete(user: User) -> Profile:
    profile = get(user.id)
    if profile is None or profile.latitude is None or profile.gender is None:
        raise DomainError("Set your gender and your place in your profile first.")
    return profile
