"""Latency of the discover search (docs/dating.md#geo-search) with 100k and 1M profiles, on SQLite
and PostgreSQL.

Usage: .venv/bin/python bench/discover.py [--profiles 100000,1000000] [--queries 1000]
           [--database sqlite|postgres|both] [--answers-per-profile 8] [--pg-admin-url URL]
           [--seed 7] [--sample 100] [--no-explain] [--markdown] [--keep DIR [--seed-only]]

For each database and size: a fresh database (a SQLite file in a temporary directory, or
`amora_bench_discover_<random>` on the server of --pg-admin-url, dropped at the end), migrated,
then filled with batched inserts (PostgreSQL: COPY) — people placed in the cities of
services/data/cities.csv weighted by population and moved up to 15 km, genders evenly split,
seeking mostly one or two genders, ages 18–70 (most between 22 and 40), 30 % with photos, 10 %
creators, last active within 30 days (5 % within 5 minutes), on average --answers-per-profile
answers to questions of the bank (earlier questions more often, as the app serves them in
order); the querying people have liked or passed a few dozen people of their city.

Then --queries searches through the service (`discover.filters_for` + `discover.search`, first
page) as random seeded people: radius 50 km, the age range and genders they seek, sorted by
match %, then the same queries sorted by distance. Each query is timed from loading the profile
to the returned cards, on a fresh session (as a request would be). Prints p50/p95/p99, the mean
number of candidates in the radius, a breakdown of where the time goes on a sample of queries,
and (PostgreSQL) EXPLAIN ANALYZE of the candidate query and of the match % query of a query
near the p95. Targets: p95 ≤ 25 ms at 100k, and at 1M at most twice the 100k figure.

Seeding 1M takes minutes; to measure without reseeding, --keep DIR keeps the databases (SQLite
files DIR/discover-<size>_s<seed>.db, PostgreSQL databases amora_bench_discover_<size>_s<seed>)
with a sidecar DIR/<database>-<size>_s<seed>.json of the searchers, and later runs with the same
--keep reuse them (migrating them first). --seed-only seeds (or migrates) and stops, so that
the seeding can run outside an exclusive lock and only the queries inside it:

    .venv/bin/python bench/discover.py --keep /tmp/discover-dbs --seed-only
    flock -x /tmp/amora-bench.lock .venv/bin/python bench/discover.py --keep /tmp/discover-dbs \
        --database sqlite --profiles 1000000

Remove a kept database with its sidecar (`rm DIR/*`, `dropdb amora_bench_discover_…`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import itertools
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="amora-bench-"))
os.environ.setdefault("APP_ENV", "test")

TARGET_P95_MS = 25.0  # at 100k profiles
TARGET_GROWTH = 2.0  # p95 at 1M ÷ p95 at 100k
RADIUS_KM = 50
JITTER_KM = 15.0
CHUNK = 10_000
WARMUP = 20
GENDERS = ("woman", "man", "nonbinary")
IMPORTANCES = (0, 1, 10, 50, 250)
IMPORTANCE_WEIGHTS = (5, 20, 40, 25, 10)

USER_COLUMNS = (
    "id",
    "email",
    "password_hash",
    "display_name",
    "date_of_birth",
    "role",
    "is_creator",
    "creator_verified_at",
    "email_verified_at",
    "status",
    "created_at",
    "last_active_at",
)
PROFILE_COLUMNS = (
    "user_id",
    "gender",
    "seeking",
    "age_min",
    "age_max",
    "bio",
    "date_of_birth",
    "city_id",
    "place_name",
    "country_code",
    "latitude",
    "longitude",
    "photo_count",
    "is_creator",
    "is_verified",
    "discoverable",
    "created_at",
    "updated_at",
)
ANSWER_COLUMNS = (
    "id",
    "user_id",
    "question_id",
    "choice",
    "acceptable",
    "importance",
    "answered_at",
)
LIKE_COLUMNS = ("id", "liker_id", "liked_id", "kind", "created_at")
BLOCK_COLUMNS = ("id", "blocker_id", "blocked_id", "created_at")
FILLER = (
    "Coffee first, then hiking or a long walk by the water. I read a lot, cook a little and "
    "laugh at my own jokes. Looking for someone curious, kind and up for small adventures. "
    "Weekends are for markets, museums and friends; weeknights for music and good food. "
)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# --- the population ---------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    id: int
    label: str
    country_code: str
    latitude: float
    longitude: float


def load_cities() -> tuple[list[City], list[int]]:
    """Cities and cumulative populations, to draw places weighted by population."""
    cities, cumulative, total = [], [], 0
    with (ROOT / "services" / "data" / "cities.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            population = int(row["population"] or 0)
            if population <= 0:
                continue
            region = row["admin1"] if row["admin1"] and row["admin1"] != row["name"] else ""
            label = ", ".join(p for p in (row["name"], region, row["country"]) if p)
            cities.append(
                City(
                    int(row["id"]),
                    label,
                    row["country_code"],
                    float(row["latitude"]),
                    float(row["longitude"]),
                )
            )
            total += population
            cumulative.append(total)
    return cities, cumulative


@dataclass
class Searcher:
    """A seeded person who will search, with what they seek."""

    user_id: int
    genders: list[str]
    age_min: int
    age_max: int


@dataclass
class Population:
    size: int
    searchers: dict[int, Searcher] = field(default_factory=dict)
    by_city: dict[int, list[int]] = field(default_factory=dict)
    answers: int = 0


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _place(rng: random.Random, city: City) -> tuple[float, float]:
    """Uniformly within JITTER_KM of the city centre, rounded as the app stores it (0.01°)."""
    km = JITTER_KM * math.sqrt(rng.random())
    bearing = rng.random() * 2 * math.pi
    lat = city.latitude + km * math.cos(bearing) / 111.2
    lat = max(-89.99, min(89.99, lat))
    lon = city.longitude + km * math.sin(bearing) / (111.2 * max(0.05, math.cos(math.radians(lat))))
    lon = (lon + 180) % 360 - 180
    return round(lat, 2), round(lon, 2)


def _seeking(rng: random.Random, gender: str) -> list[str]:
    roll = rng.random()
    if roll < 0.70:  # one gender: mostly the "other" one for women and men
        if gender == "nonbinary":
            return [rng.choice(GENDERS)]
        other = "man" if gender == "woman" else "woman"
        return [other if rng.random() < 0.85 else gender]
    if roll < 0.95:
        return sorted(rng.sample(GENDERS, 2), key=GENDERS.index)
    return list(GENDERS)


def generate(size: int, answers_per_profile: int, seed: int, searcher_ids: set[int], population):
    """Chunks of (users, profiles, answers) rows as tuples in the *_COLUMNS order. The same
    seed gives the same people, so both databases hold the same population."""
    from services import matching

    rng = random.Random(seed)
    cities, cumulative = load_cities()
    questions = list(matching.bank().values())
    q_weights = list(itertools.accumulate(1 / (1 + rank / 8) for rank in range(len(questions))))
    bios = [FILLER[: rng.randrange(0, len(FILLER))].strip() for _ in range(64)]
    now = _now()
    today = now.date()
    month = dt.timedelta(days=30).total_seconds()
    answer_id = 0
    for start in range(1, size + 1, CHUNK):
        ids = range(start, min(size, start + CHUNK - 1) + 1)
        picks = rng.choices(range(len(cities)), cum_weights=cumulative, k=len(ids))
        users, profiles, answers = [], [], []
        for user_id, city_index in zip(ids, picks, strict=True):
            city = cities[city_index]
            population.by_city.setdefault(city_index, []).append(user_id)
            lat, lon = _place(rng, city)
            gender = rng.choice(GENDERS)
            seeking = _seeking(rng, gender)
            age = min(70, 18 + int(rng.betavariate(2, 4.5) * 53))
            born = _years_before(today, age) - dt.timedelta(days=rng.randrange(365))
            age_min = max(18, age - rng.randint(3, 10))
            age_max = min(99, age + rng.randint(3, 12))
            if rng.random() < 0.05:
                last_active = now - dt.timedelta(seconds=rng.uniform(0, 300))
            else:
                last_active = now - dt.timedelta(seconds=rng.uniform(0, month))
            created = last_active - dt.timedelta(days=rng.uniform(0, 700))
            creator = rng.random() < 0.10
            verified_at = created if creator and rng.random() < 0.6 else None
            users.append(
                (
                    user_id,
                    f"u{user_id}@bench.example.com",
                    "x",
                    f"Person {user_id}",
                    born,
                    "fan",
                    creator,
                    verified_at,
                    created,
                    "active",
                    created,
                    last_active,
                )
            )
            profiles.append(
                (
                    user_id,
                    gender,
                    ",".join(seeking),
                    age_min,
                    age_max,
                    bios[user_id % len(bios)],
                    born,
                    city.id,
                    f"Near {city.label}",
                    city.country_code,
                    lat,
                    lon,
                    rng.randint(1, 6) if rng.random() < 0.30 else 0,
                    creator,
                    verified_at is not None,
                    rng.random() >= 0.02,
                    created,
                    created,
                )
            )
            if user_id in searcher_ids:
                population.searchers[user_id] = Searcher(user_id, seeking, age_min, age_max)
            count = rng.randint(0, 2 * answers_per_profile)
            drawn = rng.choices(questions, cum_weights=q_weights, k=count + 6) if count else []
            for question in list(dict.fromkeys(drawn))[:count]:
                choices = len(question.choices)
                choice = rng.randrange(choices)
                acceptable = (1 << choice) | rng.randrange(1 << choices)
                answer_id += 1
                answers.append(
                    (
                        answer_id,
                        user_id,
                        question.id,
                        choice,
                        acceptable,
                        rng.choices(IMPORTANCES, IMPORTANCE_WEIGHTS)[0],
                        created,
                    )
                )
        population.answers = answer_id
        yield users, profiles, answers


def likes_and_blocks(population: Population, seed: int) -> tuple[list[tuple], list[tuple]]:
    """Each searcher has liked or passed 20–60 people of their city; 1 % of everyone (and of
    the searchers) has blocked one to three people of their city."""
    rng = random.Random(seed + 1)
    now = _now()
    likes, blocks = [], []
    for members in population.by_city.values():
        for user_id in members:
            searcher = user_id in population.searchers
            if not searcher and rng.random() >= 0.01:
                continue
            others = [m for m in rng.sample(members, min(len(members), 64)) if m != user_id]
            liked = rng.randint(20, 60) if searcher else 0
            for other in others[:liked]:
                kind = "like" if rng.random() < 0.6 else "pass"
                likes.append((len(likes) + 1, user_id, other, kind, now))
            if searcher and rng.random() >= 0.01:
                continue
            for other in others[liked : liked + rng.randint(1, 3)]:
                blocks.append((len(blocks) + 1, user_id, other, now))
    return likes, blocks


def _now() -> dt.datetime:
    from core import clock

    return clock.now()


# --- databases --------------------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def seed_sqlite(batches, likes_blocks) -> None:
    """Core executemany in chunks, on a connection tuned for loading (its cache and
    synchronous settings are dropped with the engine afterwards)."""
    from sqlalchemy import insert

    from extensions import db
    from models import Block, Like, MatchAnswer, Profile, User

    connection = db.session.connection()
    connection.exec_driver_sql("PRAGMA synchronous=OFF")
    connection.exec_driver_sql("PRAGMA cache_size=-1000000")

    def load(table, columns, rows) -> None:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            db.session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in chunk])

    for users, profiles, answers in batches:
        load(User.__table__, USER_COLUMNS, users)
        load(Profile.__table__, PROFILE_COLUMNS, profiles)
        load(MatchAnswer.__table__, ANSWER_COLUMNS, answers)
        db.session.commit()
    likes, blocks = likes_blocks()
    load(Like.__table__, LIKE_COLUMNS, likes)
    load(Block.__table__, BLOCK_COLUMNS, blocks)
    db.session.commit()
    db.session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.session.commit()
    db.session.remove()
    db.engine.dispose()


def seed_postgres(batches, likes_blocks) -> None:
    """COPY through psycopg, then the sequences moved past the ids used, VACUUM ANALYZE."""
    from extensions import db

    raw = db.engine.raw_connection()
    try:
        connection = raw.driver_connection

        def copy(table: str, columns: tuple[str, ...], rows) -> None:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as target,
            ):
                for row in rows:
                    target.write_row(row)

        for users, profiles, answers in batches:
            copy("users", USER_COLUMNS, users)
            copy("profiles", PROFILE_COLUMNS, profiles)
            copy("match_answers", ANSWER_COLUMNS, answers)
            connection.commit()
        likes, blocks = likes_blocks()
        copy("likes", LIKE_COLUMNS, likes)
        copy("blocks", BLOCK_COLUMNS, blocks)
        for table in ("users", "match_answers", "likes", "blocks"):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
        connection.autocommit = False
    finally:
        raw.close()
    db.engine.dispose()


# --- other work on the machine ---------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, all) CPU ticks of the machine since boot, from /proc/stat (Linux only)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(fields) - fields[3] - fields[4], sum(fields)  # minus idle and iowait


def _backend_ticks() -> int:
    """CPU ticks of the PostgreSQL backends serving this database (0 on SQLite, or when the
    server's /proc entries are not readable)."""
    from sqlalchemy import text

    from extensions import db

    if db.engine.dialect.name != "postgresql":
        return 0
    pids = db.session.scalars(
        text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ).all()
    db.session.remove()
    used = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += int(fields[11]) + int(fields[12])
    return used


class OtherLoad:
    """Cores busy with something else than this script and its database backends while a pass
    runs (another benchmark or test suite on the same machine skews every figure)."""

    def __init__(self) -> None:
        self.wall, self.times = time.perf_counter(), os.times()
        self.machine, self.backends = _machine_ticks(), _backend_ticks()

    def stop(self) -> float | None:
        wall = time.perf_counter() - self.wall
        times = os.times()
        machine = _machine_ticks()
        if not machine or not self.machine or machine[1] == self.machine[1]:
            return None
        busy = (
            (machine[0] - self.machine[0]) / (machine[1] - self.machine[1]) * (os.cpu_count() or 1)
        )
        own = (times.user + times.system - self.times.user - self.times.system) / wall
        backends = (_backend_ticks() - self.backends) / TICKS / wall
        return max(0.0, busy - own - backends)


# --- the queries ------------------------------------------------------------------------------


@dataclass
class Pass:
    sort: str
    samples: list[float] = field(default_factory=list)  # ms per query, in searcher order
    candidates: list[int] = field(default_factory=list)  # in the radius (sort=match only)
    match_ms: list[float] = field(default_factory=list)
    cards_ms: list[float] = field(default_factory=list)
    other_load: float | None = None  # cores used by other work meanwhile


@contextlib.contextmanager
def instrumented(current: dict):
    """Time matches and the cards' statement inside search (a function call's worth of
    overhead)."""
    from services import discover, matching

    original_match, original_cards = matching.matches, discover._eligible_page

    def match(me_id, other_ids):
        began = time.perf_counter()
        result = original_match(me_id, other_ids)
        current["match_ms"] += (time.perf_counter() - began) * 1000
        current["match_ids"] = max(current["match_ids"], len(other_ids))
        return result

    def cards(*args):
        began = time.perf_counter()
        result = original_cards(*args)
        current["cards_ms"] += (time.perf_counter() - began) * 1000
        return result

    matching.matches, discover._eligible_page = match, cards
    try:
        yield
    finally:
        matching.matches, discover._eligible_page = original_match, original_cards


def query_args(searcher: Searcher, sort: str) -> dict:
    """The filters of the searcher's query, as the Discover form hands them to
    `discover.filters_for`."""
    return {
        "genders": list(searcher.genders),
        "age_min": searcher.age_min,
        "age_max": searcher.age_max,
        "radius_km": RADIUS_KM,
        "sort": sort,
    }


def one_query(searcher: Searcher, sort: str) -> tuple[float, int]:
    """One first page as the discover view computes it; (ms, cards)."""
    from extensions import db
    from models import User
    from services import discover, profiles

    db.session.remove()  # a new request: a new session and transaction
    me = db.session.get(User, searcher.user_id)  # flask-login's user loader, not timed
    args = query_args(searcher, sort)
    began = time.perf_counter()
    profile = profiles.get(me.id)
    filters = discover.filters_for(profile, **args)
    cards, _ = discover.search(me, filters)
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, len(cards)


def run_pass(searchers: list[Searcher], sort: str) -> Pass:
    result = Pass(sort)
    current = {"match_ms": 0.0, "cards_ms": 0.0, "match_ids": 0}
    with instrumented(current):
        for searcher in searchers[:WARMUP]:
            one_query(searcher, sort)
        meter = OtherLoad()
        for searcher in searchers:
            current.update(match_ms=0.0, cards_ms=0.0, match_ids=0)
            ms, _ = one_query(searcher, sort)
            result.samples.append(ms)
            result.match_ms.append(current["match_ms"])
            result.cards_ms.append(current["cards_ms"])
            result.candidates.append(current["match_ids"])
        result.other_load = meter.stop()
    return result


# --- where the time goes ----------------------------------------------------------------------


@dataclass
class Captured:
    candidate: tuple[str, object] | None = None
    match: tuple[str, object] | None = None


def capture(searcher: Searcher, sort: str = "match") -> Captured:
    """The SQL statements (with parameters) that one search sends."""
    from sqlalchemy import event

    from extensions import db

    captured = Captured()

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM profiles" in statement and "latitude BETWEEN" in statement:
            captured.candidate = (statement, parameters)
        elif "match_answers" in statement and "GROUP BY" in statement:
            captured.match = (statement, parameters)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        one_query(searcher, sort)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return captured


def raw_execute(statement: str, parameters) -> tuple[list, float]:
    from extensions import db

    cursor = db.session.connection().connection.cursor()
    began = time.perf_counter()
    cursor.execute(statement, parameters)
    rows = cursor.fetchall()
    elapsed = (time.perf_counter() - began) * 1000
    cursor.close()
    return rows, elapsed


PHASES = (
    "rows in latitude stripe",
    "rows in box",
    "rows returned",
    "in radius",
    "candidate SQL ms",
    "haversine ms",
    "match % SQL ms",
    "sort ms",
)


def breakdown(subset: list[Searcher], searchers: list[Searcher], passes: dict[str, Pass]):
    """Means over `subset` (sort=match): how many profiles the index range scans (the whole
    latitude stripe), lie in the box, come back from SQL and lie in the radius; the candidate
    and match % statements alone on a raw cursor; haversine and sorting in Python; and, from
    the timed pass, the whole query, match_percentages() and the cards (_eligible_page)."""
    from sqlalchemy import func, or_, select

    from core import geo
    from extensions import db
    from models import Profile
    from services import matching

    totals = dict.fromkeys(PHASES, 0.0)
    for searcher in subset:
        captured = capture(searcher)
        me = db.session.get(Profile, searcher.user_id)
        box = geo.bounding_box(me.latitude, me.longitude, RADIUS_KM)
        stripe = Profile.latitude.between(box.min_lat, box.max_lat)
        totals["rows in latitude stripe"] += db.session.scalar(
            select(func.count()).select_from(Profile).where(stripe)
        )
        totals["rows in box"] += db.session.scalar(
            select(func.count())
            .select_from(Profile)
            .where(stripe, or_(*[Profile.longitude.between(lo, hi) for lo, hi in box.lon_ranges]))
        )
        rows, sql_ms = raw_execute(*captured.candidate)
        totals["rows returned"] += len(rows)
        totals["candidate SQL ms"] += sql_ms
        began = time.perf_counter()
        kept = []
        for user_id, lat, lon, *_ in rows:
            km = geo.haversine_km(me.latitude, me.longitude, lat, lon)
            if km <= RADIUS_KM:
                kept.append((user_id, km))
        totals["haversine ms"] += (time.perf_counter() - began) * 1000
        totals["in radius"] += len(kept)
        if captured.match is not None:
            totals["match % SQL ms"] += raw_execute(*captured.match)[1]
        percentages = matching.match_percentages(me.user_id, [k[0] for k in kept])
        began = time.perf_counter()
        sorted(
            kept,
            key=lambda item: (
                -(percentages[item[0]] if percentages.get(item[0]) is not None else -1),
                item[0],
            ),
        )
        totals["sort ms"] += (time.perf_counter() - began) * 1000
        db.session.remove()
    count = max(1, len(subset))
    means = {name: value / count for name, value in totals.items()}
    wanted = {s.user_id for s in subset}
    index = [i for i, s in enumerate(searchers) if s.user_id in wanted]
    for label, series in (
        ("whole query ms (timed)", passes["match"].samples),
        ("match_percentages() ms (timed)", passes["match"].match_ms),
        ("cards ms (timed)", passes["match"].cards_ms),
    ):
        means[label] = statistics.mean(series[i] for i in index) if index else 0.0
    return means


def _short(line: str, width: int = 220) -> str:
    return line if len(line) <= width else f"{line[: width - 60]} … {line[-50:]}"


def explain(searcher: Searcher, dialect: str, summary: bool = False) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite, of the candidate
    and match % statements of one search; `summary` keeps the top node, JIT and timings."""
    from extensions import db

    captured = capture(searcher)
    out = []
    for label, pair in (("candidate query", captured.candidate), ("match % query", captured.match)):
        if pair is None:
            continue
        statement, parameters = pair
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        rows, _ = raw_execute(prefix + statement, parameters)
        lines = [str(r[0]) if dialect == "postgresql" else f"{r[0]} {r[1]} {r[3]}" for r in rows]
        if summary:
            keep = ("JIT", "Functions:", "Timing:", "Planning Time", "Execution Time")
            lines = lines[:1] + [line for line in lines if line.strip().startswith(keep)]
        out.append(f"-- {label}\n" + "\n".join(_short(line) for line in lines))
    db.session.remove()
    return "\n\n".join(out)


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    size: int
    seed_s: float
    answers: int
    blocks: int
    passes: dict[str, Pass]
    sample: dict[str, float]  # breakdown over a random sample
    tail: dict[str, float]  # breakdown over the queries at or above the p95
    plans: str = ""


def _load_sidecar(path: Path, args):
    """What a kept database was seeded with, or None when it has to be (re)seeded."""
    import json

    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if saved["queries"] != args.queries or saved["answers_per_profile"] != args.answers_per_profile:
        raise SystemExit(f"{path} was seeded with other options; remove it and its database")
    searchers = [Searcher(**s) for s in saved["searchers"]]
    return saved["seed_s"], saved["answers"], saved["counts"], searchers


def _save_sidecar(path: Path, args, seed_s, answers, counts, searchers) -> None:
    import dataclasses
    import json

    path.write_text(
        json.dumps(
            {
                "queries": args.queries,
                "answers_per_profile": args.answers_per_profile,
                "seed_s": seed_s,
                "answers": answers,
                "counts": counts,
                "searchers": [dataclasses.asdict(s) for s in searchers],
            }
        )
    )


def run(url: str, label: str, size: int, args, sidecar: Path | None = None) -> Result | None:
    from flask_migrate import upgrade

    from app import create_app
    from extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "EMBEDDED_SCHEDULER": False,
            # Every query is a search: none pages through a kept one (docs/dating.md).
            "DISCOVER_STACK_SECONDS": 0,
        }
    )
    rng = random.Random(args.seed * 1_000_003 + size)
    searcher_ids = set(rng.sample(range(1, size + 1), min(size, args.queries)))
    population = Population(size)
    counts = {}

    def extras():
        likes, blocks = likes_and_blocks(population, args.seed)
        counts.update(likes=len(likes), blocks=len(blocks))
        return likes, blocks

    saved = _load_sidecar(sidecar, args) if sidecar is not None else None
    with app.app_context():
        upgrade()
        dialect = db.engine.dialect.name
        if saved is None:
            began = time.perf_counter()
            batches = generate(size, args.answers_per_profile, args.seed, searcher_ids, population)
            (seed_postgres if dialect == "postgresql" else seed_sqlite)(batches, extras)
            seed_s = time.perf_counter() - began
            print(
                f"{label}, {size:,} profiles: seeded in {seed_s:.0f} s ({population.answers:,} "
                f"answers, {counts['likes']:,} likes and passes, {counts['blocks']:,} blocks)",
                flush=True,
            )
            searchers = [population.searchers[i] for i in sorted(searcher_ids)]
            if sidecar is not None:
                _save_sidecar(sidecar, args, seed_s, population.answers, counts, searchers)
        else:
            seed_s, population.answers, counts, searchers = saved
            print(f"{label}, {size:,} profiles: reusing the kept database", flush=True)
            if dialect == "postgresql":
                # A migration may have rewritten a table (a new stored column): what autovacuum
                # would do soon after, so that index-only scans need not visit the table.
                db.session.remove()
                with db.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM ANALYZE"
                    )
        if args.seed_only:
            db.session.remove()
            db.engine.dispose()
            return None
        random.Random(args.seed).shuffle(searchers)
        passes = {}
        for sort in ("match", "distance"):
            began = time.perf_counter()
            passes[sort] = run_pass(searchers, sort)
            load = passes[sort].other_load
            note = "" if load is None else f", other work on the machine {load:.2f} cores"
            if load is not None and load > 0.2:
                note += " — WARNING: the figures are skewed"
            print(f"  sort={sort}: {time.perf_counter() - began:.0f} s{note}", flush=True)
        samples = passes["match"].samples
        p95 = percentile(samples, 0.95)
        tail = [s for s, ms in zip(searchers, samples, strict=True) if ms >= p95]
        sample_means = breakdown(searchers[: args.sample], searchers, passes)
        tail_means = breakdown(tail, searchers, passes)
        plans = ""
        if not args.no_explain:
            near = min(range(len(samples)), key=lambda i: abs(samples[i] - p95))
            slowest = max(range(len(samples)), key=samples.__getitem__)
            plans = (
                f"a query near the p95 ({samples[near]:.1f} ms when timed):\n"
                + explain(searchers[near], dialect)
                + f"\n\nthe slowest query ({samples[slowest]:.1f} ms when timed):\n"
                + explain(searchers[slowest], dialect, summary=True)
            )
        db.session.remove()
        db.engine.dispose()
    return Result(
        label,
        size,
        seed_s,
        population.answers,
        counts["blocks"],
        passes,
        sample_means,
        tail_means,
        plans,
    )


# --- reporting --------------------------------------------------------------------------------


def print_result(result: Result, args) -> None:
    queries = len(result.passes["match"].samples)
    print(f"\n{result.database}, {result.size:,} profiles, {queries} queries per sort")
    header = ("p50 ms", "p95 ms", "p99 ms", "mean ms")
    print(f"{'sort':<10} " + " ".join(f"{h:>8}" for h in header))
    for sort, one in result.passes.items():
        print(
            f"{sort:<10} {statistics.median(one.samples):8.2f} "
            f"{percentile(one.samples, 0.95):8.2f} {percentile(one.samples, 0.99):8.2f} "
            f"{statistics.mean(one.samples):8.2f}"
        )
    candidates = result.passes["match"].candidates
    print(
        f"candidates in the radius: mean {statistics.mean(candidates):.0f}, "
        f"p50 {percentile(candidates, 0.5)}, p95 {percentile(candidates, 0.95)}, "
        f"max {max(candidates)}"
    )
    tail_count = sum(
        1
        for ms in result.passes["match"].samples
        if ms >= percentile(result.passes["match"].samples, 0.95)
    )
    print(
        f"where the time goes (sort=match, means): {min(args.sample, queries)} random queries | "
        f"the {tail_count} queries at or above the p95"
    )
    for name in result.sample:
        print(f"  {name:<32} {result.sample[name]:10.2f} {result.tail[name]:10.2f}")
    if result.plans:
        print(f"\nplans of {result.plans}")


def verdicts(results: list[Result]) -> list[str]:
    lines = []
    for database in dict.fromkeys(r.database for r in results):
        mine = {r.size: r for r in results if r.database == database}
        small = mine.get(100_000)
        if small is not None:
            p95 = percentile(small.passes["match"].samples, 0.95)
            verdict = "met" if p95 <= TARGET_P95_MS else "NOT met"
            lines.append(
                f"{database}: p95 ≤ {TARGET_P95_MS:.0f} ms at 100k (sort by match %): "
                f"{verdict} ({p95:.1f} ms)"
            )
        large = mine.get(1_000_000)
        if small is not None and large is not None:
            p95_small = percentile(small.passes["match"].samples, 0.95)
            p95_large = percentile(large.passes["match"].samples, 0.95)
            ratio = p95_large / p95_small
            verdict = "met" if ratio <= TARGET_GROWTH else "NOT met"
            lines.append(
                f"{database}: p95 at 1M ≤ {TARGET_GROWTH:.0f}× the 100k figure: {verdict} "
                f"({p95_large:.1f} ms, {ratio:.1f}×)"
            )
    return lines


def markdown(results: list[Result], args) -> str:
    lines = [
        f"## Discover search (`bench/discover.py --queries {args.queries}`)",
        "",
        f"{dt.date.today().isoformat()} · 2 vCPU AMD EPYC, 23 GiB, Debian 12, Python 3.11.7, "
        "SQLite 3.40, PostgreSQL 15 (default settings) · `discover.filters_for` + "
        "`discover.search`, first "
        f"page of 20, radius {RADIUS_KM} km, the age range and genders the searcher seeks, "
        f"{args.queries} random searchers; about {args.answers_per_profile} match answers per "
        "profile.",
        "",
        "| database | profiles | sort | p50 ms | p95 ms | p99 ms | in radius: mean | p95 | "
        "other load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for sort, one in r.passes.items():
            lines.append(
                f"| {r.database} | {r.size:,} | {sort} | {statistics.median(one.samples):.1f} | "
                f"{percentile(one.samples, 0.95):.1f} | {percentile(one.samples, 0.99):.1f} | "
                f"{statistics.mean(r.passes['match'].candidates):.0f} | "
                f"{percentile(r.passes['match'].candidates, 0.95)} | "
                + ("?" if one.other_load is None else f"{one.other_load:.2f} cores")
                + " |"
            )
    lines += ["", *[f"- {line}" for line in verdicts(results)]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--answers-per-profile", type=int, default=8)
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=100, help="queries in the breakdown")
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print a BENCHMARKS.md section")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the databases (SQLite files and a sidecar per database in DIR, PostgreSQL "
        "databases amora_bench_discover_<size>_s<seed>) and reuse them on the next run",
    )
    parser.add_argument(
        "--seed-only", action="store_true", help="seed (with --keep) and stop before the queries"
    )
    args = parser.parse_args()
    if args.seed_only and not args.keep:
        parser.error("--seed-only needs --keep")
    sizes = [int(s.replace("_", "")) for s in args.profiles.split(",") if s.strip()]
    databases = ("sqlite", "postgres") if args.database == "both" else (args.database,)

    keep = Path(args.keep).resolve() if args.keep else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for database in databases:
        for size in sizes:
            if keep is not None:
                tag = f"{size}_s{args.seed}"
                sidecar = keep / f"{database}-{tag}.json"
                if database == "sqlite":
                    url = f"sqlite:///{keep}/discover-{tag}.db"
                    if not sidecar.exists():
                        Path(f"{keep}/discover-{tag}.db").unlink(missing_ok=True)
                else:
                    name = f"amora_bench_discover_{tag}"
                    if not sidecar.exists():
                        drop_database(args.pg_admin_url, name)
                        create_database(args.pg_admin_url, name)
                    url = database_url(args.pg_admin_url, name)
                label = "SQLite" if database == "sqlite" else "PostgreSQL"
                result = run(url, label, size, args, sidecar)
            elif database == "sqlite":
                with tempfile.TemporaryDirectory(prefix="amora-bench-discover-") as directory:
                    result = run(f"sqlite:///{directory}/discover.db", "SQLite", size, args)
            else:
                name = f"amora_bench_discover_{uuid.uuid4().hex[:10]}"
                create_database(args.pg_admin_url, name)
                try:
                    url = database_url(args.pg_admin_url, name)
                    result = run(url, "PostgreSQL", size, args)
                finally:
                    drop_database(args.pg_admin_url, name)
            if result is None:  # --seed-only
                continue
            print_result(result, args)
            results.append(result)

    print()
    for line in verdicts(results):
        print(line)
    if args.markdown:
        print("\n" + markdown(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
