"""Dating (docs/dating.md): profiles, discover filters, match %, likes and matches, block and
report."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, literal, select

from core import clock, geo, sql
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from extensions import db
from models import Like, Match, Notification, Profile, Report, User
from services import discover, ledger, likes, matching, profiles, safety
from testkit.ledger import paid_order
from tests.conftest import AuthActions, make_app
from tests.dating_helpers import answer, dater

PARIS = (48.8566, 2.3522)
VERSAILLES = (48.8049, 2.1204)  # ~18 km
LYON = (45.764, 4.8357)  # ~392 km
ENOUGH = [f"q{n:03d}" for n in range(1, matching.MIN_COMMON + 1)]  # enough in common for a %


def found(me, **filters) -> list[str]:
    cards, _ = discover.search(me, discover.filters_for(profiles.get(me.id), **filters))
    return [c.display_name for c in cards]


def test_discover_filters_by_distance_gender_and_age(ctx):
    me = dater("Me", gender="man", seeking=("woman",))
    dater("Near", lat=VERSAILLES[0], lon=VERSAILLES[1])
    dater("Far", lat=LYON[0], lon=LYON[1])
    dater("Man", gender="man", lat=PARIS[0], lon=PARIS[1])
    dater("Older", age=60)
    assert found(me, radius_km=25) == ["Older", "Near"] or set(found(me, radius_km=25)) == {
        "Older",
        "Near",
    }
    assert "Far" in found(me, radius_km=500)
    assert found(me, radius_km=25, age_max=40) == ["Near"]
    assert "Man" in found(me, radius_km=25, genders=["man"])
    assert "Man" not in found(me, radius_km=25)  # defaults to whom I seek


def test_cards_show_a_rounded_distance_never_the_exact_place(ctx):
    me = dater("Me", gender="man")
    dater("Near", lat=VERSAILLES[0], lon=VERSAILLES[1])
    filters = discover.filters_for(profiles.get(me.id), radius_km=25)
    card = discover.search(me, filters)[0][0]
    assert card.distance_label == "20 km away"
    assert profiles.get(card.user_id).latitude == 48.80  # stored to 0.01°


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"radius_km": 0}, "radius"),
        ({"radius_km": -5}, "radius"),
        ({"radius_km": 99999}, "radius"),
        ({"radius_km": math.nan}, "radius"),
        ({"radius_km": math.inf}, "radius"),
        ({"age_min": 12}, "age_min"),
        ({"age_max": 10**20}, "age_min"),
        ({"age_min": 50, "age_max": 30}, "age_min"),
        ({"genders": ["robot"]}, "gender"),
        ({"sort": "random"}, "sort"),
        ({"kind": "robots"}, "kind"),
    ],
)
def test_bad_filters_are_field_errors(ctx, args, field):
    me = dater("Me")
    with pytest.raises(ValidationFailed) as failure:
        discover.filters_for(profiles.get(me.id), **args)
    assert field in failure.value.errors


def test_filters_default_to_what_my_profile_seeks(ctx):
    me = dater("Me", seeking=("man",))
    mine = profiles.get(me.id)
    mine.age_min, mine.age_max = 25, 40
    filters = discover.filters_for(mine, interests=[" Board  Games", "jazz", "JAZZ", " "])
    assert (filters.genders, filters.age_min, filters.age_max) == (["man"], 25, 40)
    assert (filters.radius_km, filters.sort, filters.kind) == (50, "distance", "all")
    assert filters.interests == ["board games", "jazz"]
    assert len(discover.filters_for(mine, interests=[f"t{n}" for n in range(20)]).interests) == 12


def test_keyset_pages_cover_everyone_once(ctx):
    me = dater("Me", gender="man")
    for i in range(25):
        dater(f"P{i:02d}", lat=PARIS[0] + i * 0.01, lon=PARIS[1])
    filters = discover.filters_for(profiles.get(me.id), radius_km=50)
    first, cursor = discover.search(me, filters, limit=10)
    second, cursor2 = discover.search(me, filters, cursor, limit=10)
    third, cursor3 = discover.search(me, filters, cursor2, limit=10)
    names = [c.display_name for c in first + second + third]
    assert len(names) == 25 == len(set(names)) and cursor3 is None
    distances = [c.distance_km for c in first + second + third]
    assert distances == sorted(distances)
    with pytest.raises(ValidationFailed):
        discover.search(me, filters, "not-a-cursor")


def test_discover_across_the_antimeridian(ctx):
    me = dater("Me", lat=-18.14, lon=178.43)  # Suva
    dater("East", lat=-18.2, lon=-179.9)  # ~180 km, across ±180°
    assert found(me, radius_km=300) == ["East"]


def test_blocked_and_banned_people_never_appear_in_either_direction(ctx):
    me, them = dater("Me"), dater("Them")
    assert "Them" in found(me) and "Me" in found(them)
    safety.block(them, me.id)
    assert "Them" not in found(me) and "Me" not in found(them)
    with pytest.raises(NotFound):
        likes.react(me, them.id, "like")
    from services import accounts

    other = dater("Banned")
    accounts.set_status(other, "banned", "spam")
    assert "Banned" not in found(me)


def test_a_mutual_like_is_a_match_and_both_are_notified(ctx):
    ana, bob = dater("Ana"), dater("Bob", gender="man")
    assert likes.react(ana, bob.id, "like") is False
    assert "Bob" not in found(ana)  # acted on: no longer in discover
    assert likes.react(bob, ana.id, "like") is True
    assert likes.is_match(ana.id, bob.id)
    texts = db.session.scalars(select(Notification.text).order_by(Notification.id)).all()
    assert texts == [
        "Someone liked you. Like them back to match!",
        "You and Ana like each other!",
        "You and Bob like each other!",
    ]
    assert likes.unread_count(ana.id) == 1 and likes.unread_count(bob.id) == 2
    assert [u.display_name for u, _ in likes.matches_of(ana)] == ["Bob"]


def test_liking_yourself_or_twice(ctx):
    ana, bob = dater("Ana"), dater("Bob")
    with pytest.raises(DomainError):
        likes.react(ana, ana.id, "like")
    likes.react(ana, bob.id, "like")
    likes.react(ana, bob.id, "like")
    assert db.session.scalar(select(func.count()).select_from(Like)) == 1


def test_blocking_ends_a_match(ctx):
    ana, bob = dater("Ana"), dater("Bob")
    likes.react(ana, bob.id, "like")
    likes.react(bob, ana.id, "like")
    safety.block(ana, bob.id)
    assert db.session.scalar(select(func.count()).select_from(Match)) == 0
    assert not likes.can_message(bob, ana)


def test_reporting_twice_is_refused(ctx):
    ana, bob = dater("Ana"), dater("Bob")
    safety.report(ana, bob.id, "profile", str(bob.id), "fake", "stock photos")
    with pytest.raises(Conflict):
        safety.report(ana, bob.id, "profile", str(bob.id), "spam", None)
    with pytest.raises(ValidationFailed):
        safety.report(bob, ana.id, "profile", str(ana.id), "because", None)
    with pytest.raises(DomainError):
        safety.report(ana, ana.id, "profile", str(ana.id), "spam", None)
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1


@pytest.mark.parametrize(
    ("lat", "lon"), [(91, 0), (-90.5, 0), (0, 180.1), (math.nan, 0), (0, math.inf), (1e308, 1)]
)
def test_coordinates_out_of_range_are_refused(ctx, lat, lon):
    me = dater("Me")
    with pytest.raises(ValidationFailed):
        profiles.set_location_coordinates(me, lat, lon)
    assert profiles.get(me.id).latitude == 48.86


def test_unknown_city_is_refused_and_a_known_one_sets_the_place(ctx):
    me = dater("Me")
    with pytest.raises(ValidationFailed):
        profiles.set_location_city(me, 999999999)
    from services import cities

    tromso = cities.search("tromso")[0]
    profiles.set_location_city(me, tromso.id)
    profile = profiles.get(me.id)
    assert profile.place_name.startswith("Tromsø") and profile.latitude == round(tromso.latitude, 2)


def test_intro_before_a_match_costs_credits_once(ctx):
    ana, bob = dater("Ana"), dater("Bob")
    with pytest.raises(ledger.InsufficientCredits):
        likes.pay_intro(ana, bob.id)
    assert not likes.can_message(ana, bob)
    paid_order(ana, 100)
    assert likes.pay_intro(ana, bob.id) is True
    assert likes.pay_intro(ana, bob.id) is False
    assert ledger.wallet_balance(ana.id) == 80 and likes.can_message(ana, bob)
    assert not likes.can_message(bob, ana)  # the intro is Ana's, not Bob's
    assert ledger.verify() == []


# --- match % ---------------------------------------------------------------------------------


def test_match_percentage_formula_by_hand():
    # sat(A,B) = 250/260, sat(B,A) = 1/101 with 8 common questions:
    # √(0.9615 · 0.0099) − 1/8 < 0 → floored at 0.
    assert matching.percentage(250 / 260, 1 / 101, 8) == 0
    # Both fully satisfied on 8 questions: 100% − 12.5% = 87.5% → 87%.
    assert matching.percentage(1.0, 1.0, 8) == 87
    # sat 0.9 and 0.8 on 10 questions: √0.72 = 0.8485 − 0.1 = 0.7485 → 74%.
    assert matching.percentage(0.9, 0.8, 10) == 74
    assert matching.MIN_COMMON == 8
    assert matching.percentage(1.0, 1.0, 7) is None  # fewer than 8 in common: not shown


def test_match_percentages_from_answers(ctx):
    a, b, c = dater("A"), dater("B"), dater("C")
    # A and B agree on q001–q007 (accept each other's answers), importance "very".
    for qid in ENOUGH[:7]:
        answer(a, qid, 0, [0], 50)
        answer(b, qid, 0, [0], 50)
    # On q008 B's answer is unacceptable to A (importance "a little").
    answer(a, "q008", 0, [0], 1)
    answer(b, "q008", 1, [0, 1], 10)
    # C answered only seven in common.
    for qid in ENOUGH[:7]:
        answer(c, qid, 0, [0], 50)
    result = matching.match_percentages(a.id, [b.id, c.id])
    sat_ab = 350 / 351  # seven "very" satisfied, the "a little" one not
    sat_ba = 1.0  # B accepts everything A answered
    expected = math.floor((math.sqrt(sat_ab * sat_ba) - 1 / 8) * 100)
    assert result == {b.id: expected, c.id: None}
    assert expected == 87


def test_below_enough_questions_in_common_a_card_says_how_many_more_answers_it_takes(ctx):
    me, leo, noah = dater("Me"), dater("Leo"), dater("Noah")
    for qid in ENOUGH:
        answer(leo, qid, 0, [0], 10)
    for qid in ENOUGH[:3]:  # Noah answered only three: my answers cannot reveal a %
        answer(noah, qid, 0, [0], 10)
    for qid in ENOUGH[:3]:
        answer(me, qid, 0, [0], 10)

    def cards() -> dict[str, tuple]:
        filters = discover.filters_for(profiles.get(me.id), sort="match")
        return {
            c.display_name: (c.match, c.answers_needed) for c in discover.search(me, filters)[0]
        }

    assert cards() == {"Leo": (None, matching.MIN_COMMON - 3), "Noah": (None, None)}
    assert matching.match_with(me.id, leo.id).answers_needed == matching.MIN_COMMON - 3
    for qid in ENOUGH[3:-1]:
        answer(me, qid, 0, [0], 10)
    assert cards()["Leo"] == (None, 1)
    answer(me, ENOUGH[-1], 0, [0], 10)
    assert cards() == {"Leo": (87, None), "Noah": (None, None)}


def test_match_percentages_agree_with_the_formula_on_random_answers(ctx):
    """Both directions of the formula, against a reference computed here from the answers:
    what I accept of their choices and what they accept of mine, each weighted by its owner."""
    rng = random.Random(11)
    questions = list(matching.bank().values())[:12]
    people = [dater(f"P{i}") for i in range(8)]
    answers: dict[int, dict[str, tuple[int, set[int], int]]] = {}
    for person in people:
        answers[person.id] = {}
        for question in rng.sample(questions, rng.randint(2, 12)):
            n = len(question.choices)
            choice = rng.randrange(n)
            accepted = set(rng.sample(range(n), rng.randint(1, n)))
            importance = rng.choice(list(matching.IMPORTANCE))
            answer(person, question.id, choice, sorted(accepted), importance)
            answers[person.id][question.id] = (choice, accepted, importance)

    def sat(a: int, b: int) -> tuple[float, int]:
        common = answers[a].keys() & answers[b].keys()
        weigh = sum(answers[a][q][2] for q in common)
        accept = sum(answers[a][q][2] for q in common if answers[b][q][0] in answers[a][q][1])
        return (1.0 if weigh == 0 else accept / weigh), len(common)

    me, others = people[0], people[1:]
    expected = {}
    for other in others:
        (mine, common), (theirs, _) = sat(me.id, other.id), sat(other.id, me.id)
        expected[other.id] = matching.percentage(mine, theirs, common)
    assert matching.match_percentages(me.id, [o.id for o in others]) == expected
    assert any(v is not None and 0 < v < 100 for v in expected.values())


def _agreeing_pair():
    me, leo = dater("Me"), dater("Leo")
    for qid in ENOUGH:
        answer(me, qid, 0, [0], 50)
        answer(leo, qid, 0, [0], 50)
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 87}
    return me, leo


def test_a_changed_answer_changes_the_match_at_once(ctx):
    """Match % is kept per member (matching.ScoreCache); a new answer of either person shows on
    the next page all the same."""
    me, leo = _agreeing_pair()
    answer(leo, ENOUGH[0], 1, [0, 1], 50)  # a choice I do not accept
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 81}
    answer(me, ENOUGH[0], 0, [0, 1], 50)  # now I accept it
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 87}
    assert found(me, sort="match") == ["Leo"]


def test_the_discover_page_shows_the_match_from_my_answers_as_they_are_now(app):
    """Discover reads my answers with my account (navigation.with_profile): the page shows the
    match % from them, and an answer changed since shows on the next page, in every sort."""
    auth = _ana_in_paris(app)
    with app.app_context():
        from services import accounts

        me = accounts.find_by_email("ana@example.com")
        leo = db.session.scalar(select(User).where(User.display_name == "Leo"))
        for qid in ENOUGH:
            answer(me, qid, 0, [0], 50)
            answer(leo, qid, 0, [0], 50)
    for sort in ("match", "distance"):
        assert "87% match" in auth.client.get(f"/discover?sort={sort}").get_data(as_text=True)
    with app.app_context():
        leo = db.session.scalar(select(User).where(User.display_name == "Leo"))
        answer(leo, ENOUGH[0], 1, [0, 1], 50)  # a choice I do not accept
    for sort in ("match", "distance"):
        assert "81% match" in auth.client.get(f"/discover?sort={sort}").get_data(as_text=True)
    with app.app_context():
        answer(accounts.find_by_email("ana@example.com"), ENOUGH[0], 0, [0, 1], 50)  # I accept it
    for sort in ("match", "distance"):
        assert "87% match" in auth.client.get(f"/discover?sort={sort}").get_data(as_text=True)


def _leo_answers_elsewhere(database_url: str, leo) -> None:
    """Leo changes an answer (to one I do not accept) through another web process on the same
    database; then this test's session starts a fresh snapshot, so the answer is there to read."""
    elsewhere = make_app(database_url)
    try:
        with elsewhere.app_context():
            matching.answer(db.session.get(User, leo.id), ENOUGH[0], 1, [0, 1], 50)
            db.session.remove()
    finally:
        with elsewhere.app_context():
            db.engine.dispose()
    db.session.rollback()


def test_an_answer_taken_by_another_process_shows_within_the_kept_time(
    ctx, database_url, monkeypatch
):
    me, leo = _agreeing_pair()
    _leo_answers_elsewhere(database_url, leo)
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 87}  # as this process kept it
    later = time.monotonic() + ctx.config["MATCH_SCORES_SECONDS"]
    monkeypatch.setattr(matching.time, "monotonic", lambda: later)
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 81}


def test_with_no_kept_time_every_match_is_computed_afresh(ctx, database_url):
    ctx.config["MATCH_SCORES_SECONDS"] = 0
    me, leo = _agreeing_pair()
    _leo_answers_elsewhere(database_url, leo)
    assert matching.match_percentages(me.id, [leo.id]) == {leo.id: 81}


def test_kept_scores_are_bounded_to_the_members_seen_last():
    cache = matching.ScoreCache(seconds=60, members=2)
    kept, other = matching.Match(50, 8), matching.Match(10, 9)
    for member in (1, 2, 3):
        cache.scores_of(member, ("answers",))[99] = kept
    assert cache.scores_of(3, ("answers",)) == {99: kept}
    assert cache.scores_of(2, ("answers",)) == {99: kept}
    assert cache.scores_of(1, ("answers",)) == {}  # let go, as the least recently seen
    cache.scores_of(2, ("answers",))[7] = other
    cache.forget(7)  # person 7 answered again
    assert cache.scores_of(2, ("answers",)) == {99: kept}
    assert cache.scores_of(2, ("changed",)) == {}  # my answers changed


def test_answering_rules(ctx):
    me = dater("Me")
    with pytest.raises(NotFound):
        matching.answer(me, "q999", 0, [0], 10)
    with pytest.raises(ValidationFailed):
        matching.answer(me, "q001", 7, [0], 10)
    with pytest.raises(ValidationFailed):
        matching.answer(me, "q001", 0, [], 10)
    with pytest.raises(ValidationFailed):
        matching.answer(me, "q001", 0, [0], 3)
    matching.answer(me, "q001", 0, [0, 1], 250)
    assert matching.progress(me.id)[0] == 1
    assert matching.next_question(me).id == "q002"


def test_sort_by_match(ctx):
    me = dater("Me")
    good, bad = dater("Good"), dater("Bad")
    dater("Unknown")  # no answers: no % at all, after a 0% match
    for qid in ENOUGH:
        answer(me, qid, 0, [0], 50)
        answer(good, qid, 0, [0], 50)
        answer(bad, qid, 1, [1], 50)
    assert found(me, sort="match") == ["Good", "Bad", "Unknown"]


def _agreeing_on(me, other, agreed: int) -> None:
    """`other` answers the ENOUGH questions as `me` accepts on a quarter of them per point of
    `agreed` (and the reverse): match % 87, 62, 37 or 12 for 4, 3, 2, 1."""
    for number, qid in enumerate(ENOUGH):
        choice = 0 if number < agreed * len(ENOUGH) // 4 else 1
        answer(other, qid, choice, [choice], 50)


def _active_minutes_ago(user, minutes: int) -> None:
    user.last_active_at = clock.now() - dt.timedelta(minutes=minutes)
    db.session.commit()


def test_sort_by_match_ranks_only_the_most_recently_active_nearby(ctx, monkeypatch):
    monkeypatch.setattr(discover, "MATCH_POOL", 3)
    me = dater("Me")
    for qid in ENOUGH:
        answer(me, qid, 0, [0], 50)
    people = {}
    for name, agreed, minutes in [
        ("Recent50", 3, 1),
        ("Recent25", 2, 2),
        ("Recent75", 4, 3),
        ("Idle75", 4, 60),  # the best matches, but less recently active than the pool
        ("Idler75", 4, 600),
    ]:
        people[name] = dater(name)
        _agreeing_on(me, people[name], agreed)
        _active_minutes_ago(people[name], minutes)
    assert found(me, sort="match") == ["Recent75", "Recent50", "Recent25"]
    assert len(found(me, sort="distance")) == 5  # the pool bounds only the match sort
    _active_minutes_ago(people["Idle75"], 0)  # back: in the pool, and Recent75 drops out
    assert found(me, sort="match") == ["Idle75", "Recent50", "Recent25"]


def test_a_search_is_kept_a_minute_yet_whoever_was_liked_blocked_or_banned_since_drops_out(
    ctx, monkeypatch
):
    """The next pages and a reload read the kept stack (docs/dating.md#kept-searches): a person
    who joins nearby shows once it is DISCOVER_STACK_SECONDS old, while someone I liked,
    passed or blocked, someone banned or hidden, is gone from the very next page."""
    from services import accounts

    me = dater("Me")
    liked, passed, blocked, banned, hidden, kept = (
        dater(name) for name in ("Liked", "Passed", "Blocked", "Banned", "Hidden", "Kept")
    )
    everyone = {"Liked", "Passed", "Blocked", "Banned", "Hidden", "Kept"}
    assert set(found(me)) == everyone
    dater("Newcomer")
    assert set(found(me)) == everyone  # the kept stack: no search since
    likes.react(me, liked.id, "like")
    likes.react(me, passed.id, "pass")
    safety.block(blocked, me.id)  # blocked me
    accounts.set_status(banned, "banned", "spam")
    profiles.get(hidden.id).discoverable = False
    db.session.commit()
    assert found(me) == ["Kept"]
    later = time.monotonic() + ctx.config["DISCOVER_STACK_SECONDS"]
    monkeypatch.setattr(discover.time, "monotonic", lambda: later)
    assert set(found(me)) == {"Kept", "Newcomer"}  # searched again


def test_pages_run_on_past_the_part_of_a_search_that_is_kept(ctx, monkeypatch):
    """A stack keeps STACK_KEPT people; the pages after them search beyond, in the same order,
    without skipping or repeating anyone, whoever dropped out on the way."""
    monkeypatch.setattr(discover, "STACK_KEPT", 7)
    me = dater("Me", gender="man")
    people = [dater(f"P{i:02d}", lat=PARIS[0] + i * 0.01, lon=PARIS[1]) for i in range(20)]
    filters = discover.filters_for(profiles.get(me.id), radius_km=50)
    likes.react(me, people[5].id, "like")  # in the kept part, after the stack was ranked...
    names, cursor = [], None
    for _ in range(10):
        page, cursor = discover.search(me, filters, cursor, limit=3)
        names += [c.display_name for c in page]
        if names == ["P00", "P01", "P02"]:
            likes.react(me, people[9].id, "pass")  # ...and beyond it
        if cursor is None:
            break
    expected = [f"P{i:02d}" for i in range(20) if i not in (5, 9)]
    assert names == expected and cursor is None


def test_banned_people_leave_the_match_pool_and_come_back_when_reinstated(ctx):
    from services import accounts

    me, other = dater("Me"), dater("Other")
    assert found(me, sort="match") == ["Other"]
    accounts.set_status(other, "banned", "spam")
    db.session.commit()
    assert found(me, sort="match") == [] and found(me, sort="distance") == []
    accounts.set_status(other, "active")
    db.session.commit()
    assert found(me, sort="match") == ["Other"]


def test_the_pool_follows_activity_in_steps_and_the_online_dot_to_the_minute(ctx):
    me, other = dater("Me"), dater("Other")

    def copied() -> dt.datetime | None:
        return db.session.scalar(select(Profile.active_at).where(Profile.user_id == other.id))

    _active_minutes_ago(other, 30)
    assert copied() == other.last_active_at
    first = copied()
    _active_minutes_ago(other, 25)  # five minutes on: within a step, the copy stays
    assert copied() == first
    _active_minutes_ago(other, 9)  # a step on: copied
    assert copied() == other.last_active_at
    _active_minutes_ago(other, 4)
    assert copied() < other.last_active_at - dt.timedelta(minutes=4)  # still the 9
    filters = discover.filters_for(profiles.get(me.id), sort="match")
    cards, _ = discover.search(me, filters)
    assert [c.online for c in cards] == [True]  # active 4 minutes ago: online, to the minute
    other.last_active_at = None  # erased
    db.session.commit()
    assert copied() is None


def _pool(me) -> set[str]:
    """The people of my match pool, ranked anew (not the stack of an earlier search)."""
    discover.forget_stack(me.id)
    filters = discover.filters_for(profiles.get(me.id), sort="match")
    cards, _ = discover.search(me, filters, limit=100)
    return {c.display_name for c in cards}


def test_the_match_pool_is_the_most_recent_whatever_the_weeks(ctx, monkeypatch):
    """The pool is read a week of recency at a time, newest first (ix_profiles_recent): it is
    still exactly the MATCH_POOL most recently active, across weeks, once old weeks are folded
    into week 0, for accounts never active, and when the job that folds them is late."""
    me = dater("Me")
    rng = random.Random(11)
    last_active = {}
    for i in range(30):
        person = dater(f"P{i:02d}")
        days = rng.choice([0, 0.5, 2, 6, 9, 15, 30, 50, 60, 90, 200, 380, None])
        moment = None if days is None else clock.now() - dt.timedelta(days=days, minutes=i)
        person.last_active_at = moment
        last_active[person.display_name] = moment
    db.session.commit()
    # Newest first, the never active last, ties by the later account (user id) first.
    ranked = sorted(
        last_active,
        key=lambda name: (last_active[name] is not None, last_active[name] or 0, name),
        reverse=True,
    )
    assert None in last_active.values()

    def check(*sizes):
        for size in sizes:
            monkeypatch.setattr(discover, "MATCH_POOL", size)
            assert _pool(me) == set(ranked[:size]), size

    weeks = discover._weeks()
    assert weeks is not None and weeks[0] == discover.week_of(clock.today()) and weeks[-1] == 0
    check(1, 4, 9, 17, 26, 30)
    assert discover.settle_recent_weeks() > 0  # 60 days and more ago: week 0
    folded = discover._weeks()
    assert len(folded) <= discover.RECENT_WEEKS + 1 < len(weeks)
    check(1, 4, 9, 17, 26, 30)
    assert discover.settle_recent_weeks() == 0
    monkeypatch.setattr(discover, "MAX_WEEKS_LISTED", 2)  # the job months late: no list
    assert discover._weeks() is None
    check(4, 17)


def test_the_week_of_recency_follows_activity_and_folds_into_zero(ctx):
    person = dater("Person")

    def stored() -> tuple[int | None, dt.datetime]:
        db.session.expire_all()
        profile = db.session.get(Profile, person.id)
        return profile.active_week, profile.updated_at

    for days in (0, 3, 13, 100):
        person.last_active_at = clock.now() - dt.timedelta(days=days)
        db.session.commit()
        assert stored()[0] == discover.week_of(person.last_active_at.date()), days
    person.last_active_at = None
    db.session.commit()
    assert stored()[0] == 0
    person.last_active_at = clock.now() - dt.timedelta(days=70)
    db.session.commit()
    week, updated_at = stored()
    assert week > 0
    assert discover.settle_recent_weeks() == 1
    assert stored() == (0, updated_at)  # folded; the profile's own edit time untouched
    person.last_active_at = clock.now()  # back: this week again
    db.session.commit()
    assert stored()[0] == discover.week_of(clock.today())


def test_match_pages_walk_the_whole_pool_once_in_order(ctx, monkeypatch):
    monkeypatch.setattr(discover, "MATCH_POOL", 12)
    me = dater("Me")
    for qid in ENOUGH:
        answer(me, qid, 0, [0], 50)
    for i in range(15):
        person = dater(f"P{i:02d}")
        _agreeing_on(me, person, 1 + i % 4)
        _active_minutes_ago(person, i)  # P00 the most recent; P12–P14 fall outside the pool
    filters = discover.filters_for(profiles.get(me.id), sort="match")
    cards, cursor, pages = [], None, 0
    while True:
        page, cursor = discover.search(me, filters, cursor, limit=5)
        cards += page
        pages += 1
        if cursor is None:
            break
    names = [c.display_name for c in cards]
    assert pages == 3 and len(names) == len(set(names)) == 12
    assert set(names) == {f"P{i:02d}" for i in range(12)}
    assert [c.match for c in cards] == sorted((c.match for c in cards), reverse=True)


@pytest.mark.parametrize(
    ("centre", "radius"),
    [
        ((-18.14, 178.43), 300),
        ((89.3, 10.0), 400),
        ((89.95, 10.0), 20),
        ((-89.95, -170.0), 20),
        ((48.8566, 2.3522), 50),
    ],
    ids=[
        "across the antimeridian",
        "round the north pole",
        "round the north pole by cell",
        "round the south pole by cell",
        "in a city",
    ],
)
def test_discover_finds_exactly_the_people_within_the_radius(ctx, centre, radius):
    """The SQL distance filter against brute force over the stored (rounded) positions."""
    rng = random.Random(radius)
    me = dater("Me", lat=centre[0], lon=centre[1])
    for i in range(30):
        lat, lon = _destination(*centre, rng.uniform(0, 1.6 * radius), rng.uniform(0, 360))
        dater(f"P{i:02d}", lat=lat, lon=lon)
    mine = profiles.get(me.id)
    expected = {
        p.user.display_name
        for p in db.session.scalars(select(Profile).where(Profile.user_id != me.id))
        if geo.haversine_km(mine.latitude, mine.longitude, p.latitude, p.longitude) <= radius
    }
    assert 0 < len(expected) < 30
    for sort in ("distance", "match", "newest"):
        filters = discover.filters_for(mine, radius_km=radius, sort=sort)
        cards, _ = discover.search(me, filters, limit=100)
        assert {c.display_name for c in cards} == expected, sort


def _destination(lat, lon, km, bearing_deg):
    d = km / geo.EARTH_RADIUS_KM
    phi1, lam1, theta = map(math.radians, (lat, lon, bearing_deg))
    phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi1),
        math.cos(d) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), (math.degrees(lam2) + 540) % 360 - 180


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (-90, -180),
        (90, 180),
        (0, 0),
        (-0.01, -0.01),
        (-33.87, 151.21),
        (45.25, -0.25),
        (89.99, 179.99),
    ],
)
def test_the_database_files_a_profile_under_the_cell_search_looks_in(ctx, lat, lon):
    person = dater("Edge", lat=lat, lon=lon)
    stored = db.session.get(Profile, person.id)
    db.session.refresh(stored)
    assert stored.geo_cell == geo.cell_of(stored.latitude, stored.longitude)


def test_long_id_lists_go_as_one_parameter(ctx):
    people = [dater(f"P{i}") for i in range(3)]
    ids = [p.id for p in people] + list(range(10**6, 10**6 + 40_000))  # past SQLite's 32,766
    found_ids = db.session.scalars(select(User.id).where(sql.in_values(User.id, ids))).all()
    assert sorted(found_ids) == sorted(p.id for p in people)


# --- over HTTP -------------------------------------------------------------------------------


def test_discover_asks_for_a_profile_first(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    response = auth.client.get("/discover")
    assert response.status_code == 303 and response.headers["Location"] == "/profile"


def test_profile_pages_and_blocked_profiles_are_404(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        from services import accounts

        me = accounts.find_by_email("ana@example.com")
        them = dater("Them")
        them_id = them.id
        profiles.update_basics(me, gender="woman", seeking=["man"], age_min=20, age_max=50, bio="")
        profiles.set_location_coordinates(me, *PARIS)
    page = auth.client.get(f"/people/{them_id}")
    assert page.status_code == 200 and b"Them" in page.data
    assert auth.post(f"/people/{them_id}/block").status_code == 303
    assert auth.client.get(f"/people/{them_id}").status_code == 404
    assert auth.post(f"/people/{them_id}/like", headers={"HX-Request": "true"}).status_code == 404
    assert auth.client.get("/people/99999").status_code == 404


def test_a_refused_answer_keeps_what_was_picked(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    form = {"question_id": "q001", "choice": "2", "importance": "50"}
    refused = auth.post("/questions", form, headers={"HX-Request": "true"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Pick at least one answer you would accept." in html
    assert 'name="choice" value="2" required checked' in html
    assert '<option selected value="50">' in html and 'selected value="10"' not in html
    answered = auth.post("/questions", {**form, "acceptable": "2"}, headers={"HX-Request": "true"})
    assert answered.status_code == 200
    assert " checked" not in answered.get_data(as_text=True), "the next question starts empty"


def _ana_in_paris(app) -> AuthActions:
    """Ana signs up and sets a profile in Paris, seeking men; Leo lives nearby."""
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        from services import accounts

        me = accounts.find_by_email("ana@example.com")
        dater("Leo", gender="man")
        profiles.update_basics(me, gender="woman", seeking=["man"], age_min=20, age_max=50, bio="")
        profiles.set_location_coordinates(me, *PARIS)
    return auth


def test_a_discover_card_escapes_the_name_and_place_and_its_like_button_works(app):
    """The cards are built by the view (blueprints/dating.py: _cards_html), not by Jinja: a
    name and a place with markup in them show as text, the photo, the badges and the online dot
    are there, and each card's like form carries the page's token and likes that person."""
    auth = _ana_in_paris(app)
    with app.app_context():
        leo = db.session.scalar(select(User).where(User.display_name == "Leo"))
        leo.display_name = '<b>Leo</b> "&" <script>'
        leo.is_creator = True
        place = profiles.get(leo.id)
        place.place_name = "Paris <i>11e</i>"
        place.is_creator = True  # the copy cards read
        db.session.commit()
        leo_id = leo.id
    page = auth.client.get("/discover")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;b&gt;Leo&lt;/b&gt; &#34;&amp;&#34; &lt;script&gt;, 30" in html
    assert "Paris &lt;i&gt;11e&lt;/i&gt;" in html and "<script>" not in html.split("</head>")[1]
    assert f'<a href="/people/{leo_id}" class="person-link">' in html
    assert 'class="online-dot"' in html and '<span class="badge">creator</span>' in html
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
    card = html[html.index(f'id="person-{leo_id}"') :]
    assert f'action="/people/{leo_id}/like" hx-post="/people/{leo_id}/like"' in card
    assert f'name="csrf_token" value="{token}"' in card
    liked = auth.client.post(
        f"/people/{leo_id}/like", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert liked.status_code == 200
    with app.app_context():
        assert (
            likes.my_reaction(
                db.session.scalar(select(User.id).where(User.email == "ana@example.com")), leo_id
            )
            == "like"
        )


def test_new_filters_put_the_discover_page_address_in_the_address_bar(app):
    auth = _ana_in_paris(app)
    htmx = {"HX-Request": "true"}
    swap = auth.client.get("/discover/results?radius=25&sort=newest", headers=htmx)
    assert swap.status_code == 200 and b"Leo" in swap.data and b"<html" not in swap.data
    assert swap.headers["HX-Push-Url"] == "/discover?radius=25&sort=newest"
    # The next page of the infinite scroll is swapped in without touching the address.
    more = auth.client.get("/discover/results?radius=25&cursor=WzEsMV0", headers=htmx)
    assert more.status_code == 200 and "HX-Push-Url" not in more.headers


@pytest.mark.parametrize(
    "headers",
    [{}, {"HX-Request": "true", "HX-History-Restore-Request": "true"}],
    ids=["reload or shared link", "htmx history restore"],
)
def test_a_results_address_opened_as_a_page_is_the_whole_discover_page(app, headers):
    auth = _ana_in_paris(app)
    page = auth.client.get("/discover/results?radius=25&sort=newest", headers=headers)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "app.css" in html
    assert "<h1>Discover</h1>" in html and "Leo" in html
    assert '<option selected value="newest">' in html  # the filters of the address


def test_the_match_sort_says_whom_it_ranks(app):
    auth = _ana_in_paris(app)
    by_match = auth.client.get("/discover/results?sort=match")
    assert by_match.status_code == 200 and b"Leo" in by_match.data
    assert b"ranks the 500 people who fit these filters and were active most recently" in (
        by_match.data
    )
    assert b"were active most recently" not in auth.client.get("/discover?sort=distance").data


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.floats(min_value=-89.9, max_value=89.9, allow_subnormal=False),
    st.floats(min_value=-180, max_value=180, allow_subnormal=False),
    st.sampled_from([0.5, 1, 5, 25, 50, 200, 1000, 5000]),
    # From the centre to the very edge. (Not a hair from the centre: PostgreSQL raises on a
    # float underflow, and stored positions, to 0.01°, are never that close without being equal.)
    st.one_of(
        st.just(0.0),
        st.floats(min_value=1e-6, max_value=1),
        st.floats(min_value=0.999999, max_value=1),
    ),
    st.floats(min_value=0, max_value=360),
)
def test_the_sql_distance_test_keeps_every_point_the_exact_distance_keeps(
    ctx, lat, lon, radius, share, bearing
):
    """At the very edge of the radius too, at every size of radius: SQL's floating point
    must never drop someone the exact distance keeps."""
    # To 1e-6° (0.1 m). Stored positions are coarser (0.01°): two are equal or differ by far
    # more than a float can square without underflow, which PostgreSQL raises as an error.
    lat, lon = round(lat, 6), round(lon, 6)
    plat, plon = (round(v, 6) for v in _destination(lat, lon, radius * share, bearing))
    if geo.haversine_km(lat, lon, plat, plon) <= radius:
        kept = db.session.scalar(
            select(discover._within(lat, lon, radius, literal(plat), literal(plon)))
        )
        assert kept, (lat, lon, radius, plat, plon)


# --- junk at the edge: every form answers a clear 4xx with the message on the page ------------

HTMX = {"HX-Request": "true"}
BASICS = {"gender": "woman", "seeking": ["man"], "age_min": "20", "age_max": "50", "bio": "Hi"}
TOO_BIG = "9" * 30


def _with(form: dict, changes: dict) -> dict:
    """`form` with `changes` (a value of None leaves the field out)."""
    merged = {**form, **changes}
    return {key: value for key, value in merged.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"age_min": "abc"}, "Enter the ages as whole numbers."),
        ({"age_max": "4.5"}, "Enter the ages as whole numbers."),
        ({"age_min": TOO_BIG}, "Ages go from 18 to 120, the lower one first."),
        ({"age_min": "60"}, "Ages go from 18 to 120, the lower one first."),
        ({"age_min": None}, "Enter the youngest age you are looking for."),
        ({"age_max": ""}, "Enter the oldest age you are looking for."),
        ({"gender": "robot"}, "Choose woman, man or non-binary."),
        ({"seeking": ["man", "robot"]}, "Choose at least one of: woman, man, non-binary."),
        ({"seeking": None}, "Choose at least one of: woman, man, non-binary."),
        ({"bio": "x" * 2001}, "Keep it under 2000 characters."),
    ],
)
def test_junk_basics_are_field_errors(app, changes, message):
    auth = _ana_in_paris(app)
    for headers in ({}, HTMX):
        response = auth.post("/profile/basics", _with(BASICS, changes), headers=headers)
        assert response.status_code == 422, changes
        assert message in response.get_data(as_text=True)
    with app.app_context():
        profile = profiles.get(accounts_id(app))
        assert (profile.age_min, profile.age_max, profile.bio) == (20, 50, "")  # unchanged


def accounts_id(app) -> int:
    from services import accounts

    return accounts.find_by_email("ana@example.com").id


def test_basics_are_saved_and_shown(app):
    auth = _ana_in_paris(app)
    form = {**BASICS, "gender": "", "seeking": ["woman", "nonbinary"], "bio": "  Hello  "}
    saved = auth.post("/profile/basics", form, headers=HTMX)
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "Saved." in html and "<html" not in html
    assert 'value="nonbinary" checked' in html and 'value="man" checked' not in html
    with app.app_context():
        profile = profiles.get(accounts_id(app))
        assert (profile.gender, profile.seeking, profile.bio) == (None, "woman,nonbinary", "Hello")
    assert auth.post("/profile/basics", form).status_code == 200  # the whole page, no htmx


@pytest.mark.parametrize(
    ("interests", "message"),
    [
        ("hiking, b@d", "“b@d” is not a valid interest"),
        ("x" * 40, "is not a valid interest"),
        (", ".join(f"tag{n}" for n in range(13)), "Up to 12 interests."),
    ],
)
def test_junk_interests_are_field_errors(app, interests, message):
    auth = _ana_in_paris(app)
    response = auth.post("/profile/interests", {"interests": interests}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    assert 'id="interests-input-error"' in html and 'aria-invalid="true"' in html


def test_interests_are_saved(app):
    auth = _ana_in_paris(app)
    response = auth.post("/profile/interests", {"interests": " Jazz,, board  games "})
    assert response.status_code == 200
    with app.app_context():
        assert profiles.interests_of(accounts_id(app)) == ["board games", "jazz"]
    assert auth.post("/profile/interests", {}).status_code == 200  # none: cleared
    with app.app_context():
        assert profiles.interests_of(accounts_id(app)) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"city_id": "abc"}, "Pick a city from the list."),
        ({"city_id": TOO_BIG}, "Pick a city from the list."),
        ({"city_id": "-1"}, "Pick a city from the list."),
        ({"latitude": "x", "longitude": "2"}, "Those coordinates are not numbers."),
        ({"latitude": "nan", "longitude": "2"}, "Latitude goes from -90 to 90"),
        ({"latitude": "1e999", "longitude": "2"}, "Latitude goes from -90 to 90"),
        ({"latitude": "48.8"}, "Share your location or pick a city."),
        ({}, "Share your location or pick a city."),
    ],
)
def test_junk_places_are_refused(app, form, message):
    auth = _ana_in_paris(app)
    for headers in ({}, HTMX):
        response = auth.post("/profile/location", form, headers=headers)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert profiles.get(accounts_id(app)).latitude == 48.86  # still Paris


def test_a_place_by_city_or_position(app):
    from services import cities

    auth = _ana_in_paris(app)
    tromso = auth.client.get("/profile/cities?q=troms", headers=HTMX)
    assert tromso.status_code == 200 and "Tromsø" in tromso.get_data(as_text=True)
    city_id = cities.search("tromso")[0].id
    response = auth.post("/profile/location", {"city_id": str(city_id)}, headers=HTMX)
    assert response.status_code == 200 and "Tromsø" in response.get_data(as_text=True)
    response = auth.post("/profile/location", {"latitude": "45.76", "longitude": "4.84"})
    assert response.status_code == 200 and "Near Lyon" in response.get_data(as_text=True)
    long_query = auth.client.get("/profile/cities", query_string={"q": "x" * 101}, headers=HTMX)
    assert long_query.status_code == 422 and "Type a shorter name." in long_query.data.decode()


ANSWER = {"question_id": "q001", "choice": "0", "acceptable": ["0", "1"], "importance": "10"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"choice": None}, "Pick your answer."),
        ({"choice": "abc"}, "Pick one of the answers."),
        ({"choice": "9"}, "Pick one of the answers."),
        ({"choice": TOO_BIG}, "Pick one of the answers."),
        ({"acceptable": None}, "Pick at least one answer you would accept."),
        ({"acceptable": ["0", "x"]}, "Pick the answers you would accept among those offered."),
        ({"acceptable": ["-1"]}, "Pick the answers you would accept among those offered."),
        ({"importance": "3"}, "Pick how important this is."),
        ({"importance": "abc"}, "Pick how important this is."),
        ({"importance": None}, "Pick how important this is."),
    ],
)
def test_junk_answers_are_field_errors(app, changes, message):
    auth = _ana_in_paris(app)
    for headers in ({}, HTMX):
        response = auth.post("/questions", _with(ANSWER, changes), headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and message in html, changes
        assert "What are you looking for right now?" in html  # the same question again
    with app.app_context():
        assert matching.progress(accounts_id(app))[0] == 0


def test_an_unknown_question_is_a_404_with_the_next_one(app):
    auth = _ana_in_paris(app)
    response = auth.post("/questions", {**ANSWER, "question_id": "q999"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "That question does not exist." in html
    assert "What are you looking for right now?" in html
    assert auth.post("/questions", ANSWER).status_code == 200


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("age_min=abc", "age_min", "Enter the ages as whole numbers."),
        ("age_max=1.5", "age_min", "Enter the ages as whole numbers."),
        ("age_min=12", "age_min", "Ages go from 18 to 120, the lower one first."),
        (f"age_min={TOO_BIG}", "age_min", "Ages go from 18 to 120, the lower one first."),
        ("age_min=30&age_min=abc&age_max=25", "age_min", "Ages go from 18 to 120, the lower"),
        ("radius=far", "radius", "Enter the distance as a number of km."),
        ("radius=0", "radius", "The distance must be more than 0 and at most 20,038 km."),
        ("radius=nan", "radius", "The distance must be more than 0"),
        ("radius=1e999", "radius", "The distance must be more than 0"),
        ("gender=robot", "gender", "Choose among women, men and non-binary people."),
        ("gender=man&gender=", "gender", "Choose among women, men and non-binary people."),
        ("sort=random", "sort", "Sort by distance, match %, newest or last active."),
        ("kind=robots", "kind", "Show everyone, daters only or creators only."),
        ("cursor=not-a-cursor", "cursor", "That page marker is not valid; start from the top."),
    ],
)
def test_junk_filters_are_field_errors_never_a_500(app, query, field, message):
    auth = _ana_in_paris(app)
    page = auth.client.get(f"/discover?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and message in html and "Leo" not in html, query
    if "cursor" not in query:  # under its field, and a word where the people would be
        assert f'<p class="error" id="{field}-error">{message}' in html
        assert "Correct the filters above to see people." in html
    swap = auth.client.get(f"/discover/results?{query}", headers=HTMX)
    html = swap.get_data(as_text=True)
    assert swap.status_code == 422 and message in html and 'role="alert"' in html, query
    assert "<html" not in html


def test_empty_filters_are_the_member_s_defaults(app):
    auth = _ana_in_paris(app)
    page = auth.client.get("/discover?age_min=&age_max=&radius=&sort=&kind=&interests=")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Leo" in html
    assert 'name="age_min" type="number" value="20"' in html  # her own ages
    assert 'value="man" checked' in html and 'value="woman" checked' not in html
    assert '<option selected value="50">50 km</option>' in html
    odd = auth.client.get("/discover?radius=30&online=1&interests=Board%20Games,jazz")
    html = odd.get_data(as_text=True)
    assert odd.status_code == 200 and '<option selected value="30">30 km</option>' in html
    assert 'id="online" name="online" type="checkbox" value="1"' in html
    assert 'value="Board Games,jazz"' in html


def test_the_filters_show_each_search_s_own_values_and_errors_however_often_asked(app):
    """The filters' markup is kept per state (blueprints/dating.py: _filters_html): a state
    seen before, a new one, one with errors, and the first again each show their own."""
    auth = _ana_in_paris(app)

    def filters(query: str) -> str:
        html = auth.client.get(f"/discover?{query}").get_data(as_text=True)
        start = html.index('<form class="card filters"')
        return html[start : html.index("</form>", start)]

    newest = filters("sort=newest&radius=25")
    assert '<option selected value="newest">' in newest
    assert '<option selected value="25">25 km</option>' in newest
    nearest = filters("sort=distance&radius=100")
    assert (
        '<option selected value="distance">' in nearest and 'selected value="newest"' not in nearest
    )
    wrong = filters("sort=newest&radius=far")
    assert '<p class="error" id="radius-error">Enter the distance as a number of km.' in wrong
    assert filters("sort=newest&radius=25") == newest
    assert "Enter the distance" not in filters("sort=newest&radius=25")


def test_one_search_asked_by_two_members_shows_each_their_own_defaults_and_errors(app):
    """Query parameters are validated once per process (blueprints/dating.py: _valid_filters);
    the filters shown still carry each member's own defaults, and a bad page marker on a query
    seen before is still an error."""
    ana = _ana_in_paris(app)
    ben = AuthActions(app.test_client())
    ben.signup(email="ben@example.com", name="Ben")
    with app.app_context():
        from services import accounts

        me = accounts.find_by_email("ben@example.com")
        profiles.update_basics(me, gender="man", seeking=["woman"], age_min=30, age_max=40, bio="")
        profiles.set_location_coordinates(me, *PARIS)
    for auth, youngest, oldest in ((ana, 20, 50), (ben, 30, 40), (ana, 20, 50)):
        page = auth.client.get("/discover?sort=newest").get_data(as_text=True)
        assert f'name="age_min" type="number" value="{youngest}"' in page
        assert f'name="age_max" type="number" value="{oldest}"' in page
    bad = ana.client.get("/discover?sort=newest&cursor=nonsense")
    assert bad.status_code == 422 and "That page marker is not valid" in bad.get_data(as_text=True)


def _report(auth, user_id: int, form: dict, **kwargs):
    return auth.post(f"/people/{user_id}/report", form, **kwargs)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Choose a reason."),
        ({"reason": ""}, "Choose a reason."),
        ({"reason": "because"}, "Choose a reason."),
        ({"reason": "spam", "details": "x" * 2001}, "Keep it under 2000 characters."),
    ],
)
def test_junk_reports_are_field_errors(app, form, message):
    auth = _ana_in_paris(app)
    with app.app_context():
        leo_id = db.session.scalar(select(User.id).where(User.display_name == "Leo"))
    swap = _report(auth, leo_id, form, headers=HTMX)
    html = swap.get_data(as_text=True)
    assert swap.status_code == 422 and message in html and 'id="report-form"' in html
    page = _report(auth, leo_id, form)
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and message in html
    assert "<h1>Leo, " in html and '<details class="safety" open>' in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_a_report_is_sent_once(app):
    auth = _ana_in_paris(app)
    with app.app_context():
        leo_id = db.session.scalar(select(User.id).where(User.display_name == "Leo"))
    form = {"reason": "fake", "details": "stock photos"}
    sent = _report(auth, leo_id, form, headers=HTMX)
    assert sent.status_code == 200 and b"Our moderators will review your report." in sent.data
    again = _report(auth, leo_id, form, headers=HTMX)
    assert again.status_code == 409 and b"You already reported this." in again.data
    with app.app_context():
        report = db.session.scalar(select(Report))
        assert (report.reason, report.details) == ("fake", "stock photos")
