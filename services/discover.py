"""Discover (docs/dating.md#discover): people near me who fit my filters, sorted, in keyset pages.

1. SQL narrows the candidates with the indexed bounding box — the grid cells it touches, its
   latitude and longitude ranges (two across the antimeridian, every longitude near a pole) —
   and every other filter — gender, age, blocks in
   either direction, banned accounts, people I already liked or passed.
2. The exact haversine distance keeps those within the radius.
   SQL already drops those outside (with a hair of slack for floating point), so only the
   people nearby come back.
3. Sorting and the keyset cursor (sort value, user id) pick one page; match % is computed for
   the page alone, except when sorting by it.
4. Sorting by match % ranks a bounded pool: the MATCH_POOL most recently active people nearby
   who fit the filters, picked in SQL, then scored in one statement (their ids as one array
   parameter). Pages walk that pool. On SQLite the pool is read in recency order (ix_profiles_recent
   leads with the week of recency, and the weeks are listed newest first), so a dense city
   costs the people of its last few weeks, not everyone in the circle.

People in the grid cells that lie wholly inside the circle skip the distance test.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import functools
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    func,
    null,
    or_,
    select,
    union_all,
    update,
)

from core import clock, geo, kept, sql
from core.errors import ValidationFailed
from extensions import db
from models import Block, Like, Photo, Profile, ProfileInterest, User, UserStatus
from models.dating import GENDERS
from models.user import age_on
from services import dating_sql, matching, profiles

SORTS = ("distance", "match", "newest", "active")
KINDS = ("all", "daters", "creators")
DEFAULT_RADIUS_KM = 50
ONLINE_WINDOW = dt.timedelta(minutes=5)
PAGE = 20
MATCH_POOL = 500  # sort by match %: how many of the most recently active nearby are ranked
RECENT_WEEKS = 8  # Profile.active_week: older weeks are week 0 (settle_recent_weeks)
MAX_WEEKS_LISTED = 60  # more weeks than this (the hourly job not run): no week list
EPOCH = dt.date(1970, 1, 1)


@dataclass
class Filters:
    genders: list[str]
    age_min: int
    age_max: int
    radius_km: float
    sort: str = "distance"
    online_only: bool = False
    with_photos: bool = False
    verified_only: bool = False  # verified creators
    photo_verified_only: bool = False  # daters who passed the photo check (docs/identity.md)
    kind: str = "all"  # all | creators | daters
    interests: list[str] = field(default_factory=list)


@dataclass
class Card:
    user_id: int
    display_name: str
    age: int
    distance_km: float
    distance_label: str
    place: str | None
    match: int | None
    online: bool
    photo_count: int
    is_creator: bool
    is_verified: bool
    is_photo_verified: bool = False
    photo_key: str | None = None
    answers_needed: int | None = None  # more answers in common before `match` shows


def filters_for(
    me_profile: Profile,
    *,
    genders: Sequence[str] = (),
    age_min: int | None = None,
    age_max: int | None = None,
    radius_km: float | None = None,
    sort: str | None = None,
    kind: str | None = None,
    online_only: bool = False,
    with_photos: bool = False,
    verified_only: bool = False,
    photo_verified_only: bool = False,
    interests: Sequence[str] = (),
) -> Filters:
    """The filters of a search; what is not given defaults to what my profile seeks (genders,
    ages), DEFAULT_RADIUS_KM, distance order and everyone. A value out of bounds is a field
    error (keyed by its query-string name), never silently fixed."""
    errors: dict[str, str] = {}
    genders = list(genders) or me_profile.seeking_list
    if any(g not in GENDERS for g in genders):
        errors["gender"] = "Choose among woman, man and non-binary."
    age_min = me_profile.age_min if age_min is None else age_min
    age_max = me_profile.age_max if age_max is None else age_max
    if ages := profiles.ages_error(age_min, age_max):
        errors["age_min"] = ages
    radius = DEFAULT_RADIUS_KM if radius_km is None else float(radius_km)
    if not (0 < radius <= geo.MAX_RADIUS_KM):  # NaN fails it too
        errors["radius"] = (
            f"The distance must be more than 0 and at most {geo.MAX_RADIUS_KM:,.0f} km."
        )
    sort = sort or "distance"
    if sort not in SORTS:
        errors["sort"] = "Unknown sort order."
    kind = kind or "all"
    if kind not in KINDS:
        errors["kind"] = "Unknown kind."
    tags = [tag for tag in map(profiles.normalize_tag, interests) if tag]
    if errors:
        raise ValidationFailed(errors)
    return Filters(
        genders=genders,
        age_min=age_min,
        age_max=age_max,
        radius_km=radius,
        sort=sort,
        online_only=online_only,
        with_photos=with_photos,
        verified_only=verified_only,
        photo_verified_only=photo_verified_only,
        kind=kind,
        interests=list(dict.fromkeys(tags))[: profiles.MAX_INTERESTS],
    )


def _encode(cursor: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")


def _decode(raw: str | None) -> tuple | None:
    if not raw:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], int | float)
            and not isinstance(value[0], bool)
            and isinstance(value[1], int)
        ):
            return value[0], value[1]
    except (ValueError, json.JSONDecodeError):
        pass
    raise ValidationFailed({"cursor": "That page marker is not valid; start from the top."})


def search(
    me: User,
    filters: Filters,
    cursor: str | None = None,
    limit: int = PAGE,
    *,
    answers: list | None = None,
) -> tuple[list[Card], str | None]:
    """One page of cards after `cursor`, and the cursor of the next page (None at the end).

    The ranked list of everyone who fits (`_ranked`) is kept per member and filters for
    `DISCOVER_STACK_SECONDS` (a "stack", `StackCache`): the next pages, a reload, Back, a filter
    switched off and on again page through it instead of searching again. Every page checks its
    people again as it reads their cards (`_CARDS`): someone liked, passed, blocked, banned or
    hidden since never shows; the rest of a stack is at most that many seconds old.
    `answers`: my answers as read with my account (`matching.my_answers`), when known."""
    me_profile = profiles.require_complete(me)
    after = _decode(cursor)
    now = clock.now()
    cache = _stack_cache()
    key = _stack_key(me, me_profile, filters, answers)
    stack = cache.get(key) if cache is not None else None
    if stack is None:
        stack = _ranked(me, me_profile, filters, now, answers=answers)
        if cache is not None:
            cache.put(key, stack)
    if after is not None and stack.truncated and stack.keys and after >= stack.keys[-1]:
        stack = _ranked(me, me_profile, filters, now, after=after, answers=answers)  # beyond
    start = bisect.bisect_right(stack.keys, after) if after is not None else 0
    page, last_read = _eligible_page(me, stack, start, limit)
    if len(page) > limit:
        next_cursor = _encode(list(stack.keys[page[limit - 1][0]]))
    elif stack.truncated and last_read == len(stack.items) - 1:
        # The kept part ended before the page did: the next page searches beyond it.
        next_cursor = _encode(list(stack.keys[last_read]))
    else:
        next_cursor = None
    page = page[:limit]
    ids = [stack.items[i][0] for i, _ in page]
    if filters.sort == "match":
        scores = {user_id: stack.scores.get(user_id, matching.Match(None)) for user_id in ids}
    else:
        scores = matching.matches(me.id, ids, answers)
    scores = matching.with_answers_needed(scores)
    return [_card(row, stack.items[i][1], scores[row.user_id], now) for i, row in page], next_cursor


@dataclass
class Stack:
    """Everyone who fits a search, ranked: `items` (user id, km) in page order and `keys` their
    cursor keys (sort value, user id), ascending. `truncated`: more people fit than the
    STACK_KEPT kept; past the last one a page searches again. `scores`: match % (sort=match)."""

    items: list[tuple[int, float]]
    keys: list[tuple]
    truncated: bool
    scores: dict[int, matching.Match]
    built: float = 0.0  # time.monotonic()


STACK_KEPT = 500  # people kept per stack: 25 pages


class StackCache:
    """Stacks kept per member and search in this process, for `seconds`, the `members` seen most
    recently (one stack each: a new search replaces the member's last one; some 100 bytes a
    person, at most 13 MB in all)."""

    def __init__(self, seconds: float, members: int = 256) -> None:
        self.seconds = seconds
        self.members = members
        self._entries: OrderedDict[int, tuple[tuple, Stack]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Stack | None:
        with self._lock:
            found = self._entries.get(key[0])
            if found is None or found[0] != key:
                return None
            if time.monotonic() - found[1].built >= self.seconds:
                del self._entries[key[0]]
                return None
            self._entries.move_to_end(key[0])
            return found[1]

    def put(self, key: tuple, stack: Stack) -> None:
        stack.built = time.monotonic()
        with self._lock:
            self._entries[key[0]] = (key, stack)
            self._entries.move_to_end(key[0])
            while len(self._entries) > self.members:
                self._entries.popitem(last=False)

    def forget(self, user_id: int) -> None:
        """`user_id`'s next search ranks anew, whatever it keeps."""
        with self._lock:
            self._entries.pop(user_id, None)


def _stack_cache() -> StackCache | None:
    """This app's StackCache; None when DISCOVER_STACK_SECONDS is 0."""
    return kept.per_app("amora_discover_stacks", "DISCOVER_STACK_SECONDS", StackCache)


def forget_stack(user_id: int) -> None:
    """Drop `user_id`'s kept search in this process."""
    cache = _stack_cache()
    if cache is not None:
        cache.forget(user_id)


def _stack_key(me: User, me_profile: Profile, filters: Filters, answers=None) -> tuple:
    return (
        me.id,
        me_profile.latitude,
        me_profile.longitude,
        tuple(filters.genders),
        filters.age_min,
        filters.age_max,
        filters.radius_km,
        filters.sort,
        filters.online_only,
        filters.with_photos,
        filters.verified_only,
        filters.photo_verified_only,
        filters.kind,
        tuple(filters.interests),
        # Sorted by match %: ranked from my answers as they were (a changed answer ranks anew).
        tuple(matching.my_answers(me.id, answers)) if filters.sort == "match" else None,
    )


def _ranked(
    me: User,
    me_profile: Profile,
    filters: Filters,
    now: dt.datetime,
    after: tuple | None = None,
    answers: list | None = None,
) -> Stack:
    """Everyone who fits `filters` (and comes after the cursor key `after`), ranked: the first
    STACK_KEPT of them."""
    dating_sql.plan_each_search(db.session.connection())
    near = _nearby(me, me_profile, filters, now, pool=filters.sort == "match")
    if filters.sort == "match":
        rows, scores = _match_pool(me, near, answers)
    else:
        rows, scores = db.session.connection().execute(*near).all(), {}
    lat, lon, radius = me_profile.latitude, me_profile.longitude, filters.radius_km
    distance = geo.haversine_km
    sort = filters.sort
    ranked = []
    for user_id, their_lat, their_lon, created_at, last_active in rows:
        km = distance(lat, lon, their_lat, their_lon)
        if km > radius:  # SQL kept a hair more, for rounding: the exact test
            continue
        if sort == "distance":
            key = (round(km, 3), user_id)
        elif sort == "match":
            # People whose match % is hidden (too few questions in common) come after everyone
            # with one, 0% included.
            found = scores.get(user_id)
            percent = found.percent if found is not None else None
            key = (-(percent if percent is not None else -1), user_id)
        elif sort == "newest":
            key = (-created_at.timestamp(), user_id)
        else:
            key = (-(last_active.timestamp() if last_active else 0), user_id)
        if after is None or key > after:
            ranked.append((key, user_id, km))
    ranked.sort()
    truncated = len(ranked) > STACK_KEPT
    ranked = ranked[:STACK_KEPT]
    return Stack(
        items=[(user_id, km) for _, user_id, km in ranked],
        keys=[key for key, _, _ in ranked],
        truncated=truncated,
        scores=scores,
    )


def _nearby(
    me: User, me_profile: Profile, filters: Filters, now: dt.datetime, *, pool: bool = False
) -> tuple[Select, dict]:
    """Everyone who fits the filters within the radius (and a hair beyond, for rounding):
    user_id, latitude, longitude, created_at, last_active_at. The statement and its values:
    the statement is built once per shape (`_Shape`: which filters are on, the dialect) and
    reused, since building it cost more than running it (BENCHMARKS.md, the pages entry).

    `pool` (sort by match %): from the profiles alone, with the copies of the account's state
    and recency that the database keeps on them (`Profile.user_active`, `Profile.active_at`),
    so that ranking the people nearby by recency reads ix_profiles_discover and nothing else —
    not one users row per person in the circle. The online filter needs the exact minute: it
    reads users."""
    today = clock.today()
    box = geo.bounding_box(me_profile.latitude, me_profile.longitude, filters.radius_km)
    cells = geo.cells_covering(box)
    inside = geo.cells_inside(
        me_profile.latitude, me_profile.longitude, filters.radius_km, cells or []
    )
    bind = db.session.get_bind()
    dialect = bind.dialect.name
    from_profiles = pool and not filters.online_only
    weeks = _weeks() if from_profiles and dating_sql.reads_pool_by_week(bind) else None
    shape = _Shape(
        dialect=dialect,
        newest=filters.sort == "newest",
        pool=pool,
        from_profiles=from_profiles,
        weeks=weeks is not None,
        cells=None if cells is None else sql.in_form(dialect, len(cells)),
        inside=sql.in_form(dialect, len(inside)) if inside else None,
        lon_ranges=len(box.lon_ranges),
        online_only=filters.online_only,
        with_photos=filters.with_photos,
        verified_only=filters.verified_only,
        photo_verified_only=filters.photo_verified_only,
        kind=filters.kind,
        interests=bool(filters.interests),
    )
    values = {
        "me": me.id,
        "pool_size": MATCH_POOL,
        "genders": list(filters.genders),
        "min_lat": box.min_lat,
        "max_lat": box.max_lat,
        # Born after `oldest` (not yet age_max + 1) and on or before `youngest` (age_min).
        "oldest": _years_before(today, filters.age_max + 1),
        "youngest": _years_before(today, filters.age_min),
        **_within_values(me_profile.latitude, me_profile.longitude, filters.radius_km),
    }
    for i, (low, high) in enumerate(box.lon_ranges):
        values[f"lon_low_{i}"], values[f"lon_high_{i}"] = low, high
    if cells is not None:
        values["cells"] = sql.in_param_value(cells, shape.cells)
    if inside:
        values["inside"] = sql.in_param_value(inside, shape.inside)
    if weeks is not None:
        values["weeks"] = weeks
    if filters.online_only:
        values["online_since"] = now - ONLINE_WINDOW
    if filters.interests:
        values["interests"] = list(filters.interests)
    return _statement(shape), values


@dataclass(frozen=True)
class _Shape:
    dialect: str
    newest: bool
    pool: bool
    from_profiles: bool
    weeks: bool
    cells: str | None  # how the cell list travels (sql.in_form), or None: no cell filter
    inside: str | None
    lon_ranges: int
    online_only: bool
    with_photos: bool
    verified_only: bool
    photo_verified_only: bool
    kind: str
    interests: bool


_ME = bindparam("me")
# Blocked either way, or already liked or passed: one small set per searcher, read once; one
# probe of it per row (three sets cost three probes per row, and a dense city's search tests
# thousands of rows). In the search and again in each page's cards (`_CARDS`).
_NOT_BLOCKED_OR_SEEN = Profile.user_id.not_in(
    union_all(
        select(Block.blocked_id).where(Block.blocker_id == _ME),
        select(Block.blocker_id).where(Block.blocked_id == _ME),
        select(Like.liked_id).where(Like.liker_id == _ME),
    )
)


@functools.lru_cache(maxsize=256)
def _statement(shape: _Shape) -> Select:
    """The search statement of one shape, with named parameters for the values."""
    # created_at only when sorting by it: the others are answered from ix_profiles_discover
    # alone, without visiting the table.
    created_at = Profile.created_at if shape.newest else null()
    recency = Profile.active_at if shape.from_profiles else User.last_active_at
    within = _within_sql(Profile.latitude, Profile.longitude, *_WITHIN_PARAMS)
    if shape.inside is not None:
        within = or_(sql.in_param(Profile.geo_cell, "inside", shape.inside), within)
    query = select(
        Profile.user_id,
        Profile.latitude,
        Profile.longitude,
        created_at.label("created_at"),
        # The pool ranks by recency in SQL; its rows need not carry it (nor pay for turning
        # hundreds of SQLite datetime strings into datetimes).
        (null() if shape.pool else recency).label("last_active_at"),
    )
    if shape.weeks:
        query = query.where(Profile.active_week.in_(bindparam("weeks", expanding=True)))
    if shape.from_profiles:
        query = query.where(Profile.user_active.is_(True))
    else:
        query = query.join(User, User.id == Profile.user_id).where(User.status == UserStatus.ACTIVE)
    if shape.cells is not None:
        query = query.where(sql.in_param(Profile.geo_cell, "cells", shape.cells))
    longitudes = [
        Profile.longitude.between(bindparam(f"lon_low_{i}"), bindparam(f"lon_high_{i}"))
        for i in range(shape.lon_ranges)
    ]
    query = query.where(
        Profile.gender.in_(bindparam("genders", expanding=True)),
        Profile.latitude.between(bindparam("min_lat"), bindparam("max_lat")),
        or_(*longitudes),
        Profile.date_of_birth > bindparam("oldest"),
        Profile.date_of_birth <= bindparam("youngest"),
        Profile.discoverable.is_(True),
        within,
        Profile.user_id != _ME,
        _NOT_BLOCKED_OR_SEEN,
    )
    if shape.online_only:
        query = query.where(User.last_active_at >= bindparam("online_since"))
    if shape.with_photos:
        query = query.where(Profile.photo_count > 0)
    if shape.verified_only:
        query = query.where(Profile.is_verified.is_(True))
    if shape.photo_verified_only:
        query = query.where(Profile.is_photo_verified.is_(True))
    if shape.kind == "creators":
        query = query.where(Profile.is_creator.is_(True))
    elif shape.kind == "daters":
        query = query.where(Profile.is_creator.is_(False))
    if shape.interests:
        query = query.where(
            exists().where(
                and_(
                    ProfileInterest.user_id == Profile.user_id,
                    ProfileInterest.tag.in_(bindparam("interests", expanding=True)),
                )
            )
        )
    if shape.pool:  # the MATCH_POOL most recently active
        newest_first = [recency.desc().nulls_last(), Profile.user_id.desc()]
        if shape.weeks:
            newest_first.insert(0, Profile.active_week.desc())
        query = query.order_by(*newest_first).limit(bindparam("pool_size", type_=Integer))
    return query


def week_of(day: dt.date) -> int:
    """Profile.active_week of a moment on `day` (the triggers of migration 0018 compute it)."""
    return (day - EPOCH).days // 7


def _weeks() -> list[int] | None:
    """The values of Profile.active_week there are, newest first: from the newest week down to
    the oldest one not yet folded into week 0 (both one index seek), then 0. Listed so, they
    lead ix_profiles_recent in order: the pool statement reads a week at a time, sorts within
    it by active_at, and stops at MATCH_POOL. None when the list would be long (the job that
    folds old weeks has not run for months): the pool statement then sorts everyone."""
    newest, oldest = dating_sql.weeks_there_are(db.session.connection())
    if not newest or oldest is None:
        return [0]
    if newest - oldest >= MAX_WEEKS_LISTED:
        return None
    return [*range(newest, oldest - 1, -1), 0]


def settle_recent_weeks(today: dt.date | None = None) -> int:
    """Fold into week 0 the weeks of recency more than RECENT_WEEKS old (hourly job), so that
    the pool statement lists a few weeks; the order by (week, active_at) stays the order by
    active_at, since everyone in week 0 was active before everyone in a listed week."""
    cutoff = week_of(today or clock.today()) - RECENT_WEEKS + 1
    changed = db.session.execute(
        update(Profile)
        .where(Profile.active_week > 0, Profile.active_week < cutoff)
        .values(active_week=0, updated_at=Profile.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed


def _within(
    lat: float,
    lon: float,
    radius_km: float,
    latitude=Profile.latitude,
    longitude=Profile.longitude,
):
    """SQL: the haversine term of the profile's position is at most that of the radius, i.e.
    within radius_km (comparing sin²(d/2) spares asin and sqrt per row). A relative hair of
    slack absorbs the difference between SQL's and Python's floating point; the exact distance
    is checked in Python afterwards. (The search itself uses `_within_sql`, the same
    expression with the values as parameters; tests compare this one with Python's.)"""
    values = _within_values(lat, lon, radius_km)
    return _within_sql(latitude, longitude, *(values[p.key] for p in _WITHIN_PARAMS))


def _within_values(lat: float, lon: float, radius_km: float) -> dict:
    angle = min(radius_km / geo.EARTH_RADIUS_KM, math.pi)
    return {
        "within_lat": lat,
        "within_lon": lon,
        "within_cos_lat": math.cos(math.radians(lat)),
        "within_limit": math.sin(angle / 2) ** 2 * (1 + 1e-9) + 1e-15,
    }


_WITHIN_PARAMS = tuple(
    bindparam(name, type_=Float)
    for name in ("within_lat", "within_lon", "within_cos_lat", "within_limit")
)


def _within_sql(latitude, longitude, lat, lon, cos_lat, limit):
    """The test of `_within`, with the values given or as parameters (`_WITHIN_PARAMS`)."""
    half = math.radians(1) / 2
    term = func.power(func.sin((latitude - lat) * half), 2) + cos_lat * func.cos(
        latitude * math.radians(1)
    ) * func.power(func.sin((longitude - lon) * half), 2)
    return term <= limit


def _match_pool(
    me: User, near: tuple[Select, dict], answers: list | None = None
) -> tuple[list, dict[int, matching.Match]]:
    """Sort by match %: the MATCH_POOL most recently active of the people nearby, with their
    match %. Scoring everyone in a dense city would make each page cost as much as the whole
    city; the pool bounds it, as large dating sites do. (One statement joining the pool to the
    scores was tried: SQLite then scans the scores once per pool row.)"""
    # Plain rows through the connection: the ORM's result processing is per row, and a pool
    # has hundreds of them.
    statement, values = near
    rows = db.session.connection().execute(statement, values).all()
    return rows, matching.matches(me.id, [row[0] for row in rows], answers)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# A page's people, read again as their cards are made: whoever was liked, passed, blocked,
# banned or hidden since the stack was ranked drops out here (the conditions of `_statement`).
_CARDS = (
    select(
        Profile.user_id,
        User.display_name,
        User.date_of_birth,
        User.last_active_at,
        Profile.place_name,
        Profile.photo_count,
        Profile.is_creator,
        Profile.is_verified,
        Profile.is_photo_verified,
        Photo.thumb_key,
    )
    .join(User, User.id == Profile.user_id)
    .outerjoin(Photo, and_(Photo.user_id == Profile.user_id, Photo.position == 0))
    .where(
        Profile.user_id.in_(bindparam("ids", expanding=True)),
        User.status == UserStatus.ACTIVE,
        Profile.discoverable.is_(True),
        _NOT_BLOCKED_OR_SEEN,
    )
)

_READ_AHEAD = 5  # people read beyond a page: some may have dropped out


def _eligible_page(me: User, stack: Stack, start: int, limit: int) -> tuple[list, int]:
    """From `stack.items[start:]`, the first `limit` + 1 people who may still be shown, as
    (index in the stack, row of `_CARDS`); and the index of the last person read (-1: none).
    Plain rows straight through the driver (core.sql.read; a page has twenty people). The ids
    travel as a list rendered into the SQL: sent as one PostgreSQL array instead, the server's
    plan for the cards cost it 0.7 ms more a page (BENCHMARKS.md)."""
    page: list = []
    position = start
    while len(page) <= limit and position < len(stack.items):
        chunk = range(
            position, min(position + limit + 1 - len(page) + _READ_AHEAD, len(stack.items))
        )
        ids = [stack.items[i][0] for i in chunk]
        rows = {row.user_id: row for row in sql.read(_CARDS, {"ids": ids, "me": me.id})}
        page += [(i, rows[stack.items[i][0]]) for i in chunk if stack.items[i][0] in rows]
        position = chunk.stop
    return page[: limit + 1], (page[limit][0] if len(page) > limit else position - 1)


def _card(row, km: float, match: matching.Match, now: dt.datetime) -> Card:
    last_active = row.last_active_at  # to the minute (a pool's copy may lag a little)
    return Card(
        user_id=row.user_id,
        display_name=row.display_name,
        age=age_on(row.date_of_birth, now.date()),
        distance_km=km,
        distance_label=geo.rounded_distance(km),
        place=row.place_name,
        match=match.percent,
        answers_needed=match.answers_needed,
        online=bool(last_active and now - last_active <= ONLINE_WINDOW),
        photo_count=row.photo_count,
        is_creator=row.is_creator,
        is_verified=row.is_verified,
        is_photo_verified=row.is_photo_verified,
        photo_key=row.thumb_key,
    )
