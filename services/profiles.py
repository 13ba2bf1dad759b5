"""Dating profiles (docs/dating.md#profiles): what people show, where they are (to ~1 km), what they
seek."""

from __future__ import annotations

import re

from sqlalchemy import select

from core import clock, geo
from core.errors import DomainError, ValidationFailed
from extensions import db
from models import Profile, ProfileInterest, User
from models.dating import GENDERS
from services import cities

MAX_BIO = 2000
MAX_INTERESTS = 12
TAG = re.compile(r"^[a-z0-9][a-z0-9 \-]{0,30}$")


def get(user_id: int) -> Profile | None:
    return db.session.get(Profile, user_id)


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


def _genders(values: list[str], field: str) -> str:
    chosen = [v for v in GENDERS if v in set(values)]
    unknown = set(values) - set(GENDERS)
    if unknown or not chosen:
        raise ValidationFailed({field: "Choose at least one of: woman, man, non-binary."})
    return ",".join(chosen)


def update_basics(
    user: User,
    *,
    gender: str | None,
    seeking: list[str],
    age_min: int | None,
    age_max: int | None,
    bio: str,
) -> Profile:
    """Gender, who I seek and the ages I seek, and my bio. One transaction."""
    errors: dict[str, str] = {}
    if gender not in (None, "", *GENDERS):
        errors["gender"] = "Choose woman, man or non-binary."
    try:
        seeking_value = _genders(seeking, "seeking")
    except ValidationFailed as exc:
        errors.update(exc.errors)
        seeking_value = ""
    if age_min is None or age_max is None or not (18 <= age_min <= age_max <= 120):
        errors["age_min"] = "Ages go from 18 to 120, the lower one first."
    bio = (bio or "").strip()
    if len(bio) > MAX_BIO:
        errors["bio"] = f"Keep it under {MAX_BIO} characters."
    if errors:
        raise ValidationFailed(errors)
    profile = ensure(user)
    profile.gender = gender or None
    profile.seeking = seeking_value
    profile.age_min, profile.age_max = age_min, age_max
    profile.bio = bio
    profile.updated_at = clock.now()
    db.session.commit()
    return profile


def set_interests(user: User, raw: str) -> Profile:
    tags = []
    for part in (raw or "").split(","):
        tag = " ".join(part.strip().lower().split())
        if not tag:
            continue
        if not TAG.match(tag):
            raise ValidationFailed(
                {
                    "interests": f"“{part.strip()[:40]}” is not a valid interest: letters, "
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


def set_location_coordinates(user: User, latitude: object, longitude: object) -> Profile:
    """From the browser's geolocation; stored rounded to ~1 km."""
    try:
        lat, lon = float(latitude), float(longitude)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"location": "Those coordinates are not numbers."}) from exc
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or lat != lat or lon != lon:
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


def set_location_city(user: User, city_id: object) -> Profile:
    try:
        city = cities.get(int(city_id))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        city = None
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
