"""Match questions and match %, OkCupid style (docs/dating.md#match-questions,
docs/dating.md#match-percentage).

An answer holds my choice, the choices I accept (a bit mask: bit i = choice i is fine) and an
importance: irrelevant 0, a little 1, somewhat 10, very 50, mandatory 250.

    sat(A, B) = Σ importance of A's questions that B answered acceptably
                / Σ importance of A's questions both answered          (1 when that sum is 0)
    match %   = √(sat(A, B) · sat(B, A)) − 1/|S|    for the |S| questions both answered,
                floored at 0, shown only when |S| ≥ MIN_COMMON

Percentages for many people are computed in one grouped query (one row per person), not one
query per card, and kept for a while per member (`ScoreCache`): a sort by match % ranks a pool of
hundreds on every page of Discover.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import bindparam, func, select

from core import clock, kept, sql
from core.errors import NotFound, ValidationFailed
from extensions import db
from models import MatchAnswer, User
from services import dating_sql

IMPORTANCE = {
    0: "Irrelevant",
    1: "A little important",
    10: "Somewhat important",
    50: "Very important",
    250: "Mandatory",
}
# Questions two people must both have answered before their match % is shown. With a few, the
# small-sample penalty and chance decide it: at 3 in common almost every card read "0% match".
# Below it, a card says how many more answers in common it takes (`Match.answers_needed`).
MIN_COMMON = 8
BANK = Path(__file__).resolve().parent / "data" / "questions.json"


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    text: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    """Me and one other person: the match % (None below MIN_COMMON questions in common), how
    many questions we both answered, and, when the % is hidden but their answers are enough
    to reach it, how many more answers in common it takes."""

    percent: int | None
    common: int = 0
    answers_needed: int | None = None


@functools.cache
def bank() -> dict[str, Question]:
    with BANK.open(encoding="utf-8") as handle:
        return {
            q["id"]: Question(q["id"], q.get("category", ""), q["text"], tuple(q["choices"]))
            for q in json.load(handle)
        }


def percentage(sat_ab: float, sat_ba: float, common: int) -> int | None:
    """The formula of docs/dating.md#match-percentage; None when fewer than MIN_COMMON questions are
    shared."""
    if common < MIN_COMMON:
        return None
    value = math.sqrt(sat_ab * sat_ba) - 1 / common
    return max(0, math.floor(value * 100))


def _sat(numerator: int, denominator: int) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


_MY_ANSWERS = select(
    MatchAnswer.question_id, MatchAnswer.choice, MatchAnswer.acceptable, MatchAnswer.importance
).where(MatchAnswer.user_id == bindparam("me_id"))  # read on every Discover page: built once


def my_answers(me_id: int, known: list | None = None) -> list[tuple[str, int, int, int]]:
    """My answers (question, choice, acceptable mask, importance) to questions still in the
    bank (a question removed from it stops counting), sorted. Read first: a handful of values
    the scores statement then starts from, rather than from every answer of every other
    person. `known`: them as read with my account (`ANSWERS_JSON`), when the caller has them."""
    rows = (
        sql.json_rows_of(known)
        if known is not None
        else db.session.connection().execute(_MY_ANSWERS, {"me_id": me_id})
    )
    questions = bank()
    return sorted((q, c, a, i) for q, c, a, i in rows if q in questions)


# My answers as one JSON value, for the statement that loads my account (`my_answers(known=)`):
# the same columns, `user_id` its parameter.
ANSWERS_JSON = (
    select(
        sql.json_rows(
            MatchAnswer.question_id,
            MatchAnswer.choice,
            MatchAnswer.acceptable,
            MatchAnswer.importance,
        )
    )
    .where(MatchAnswer.user_id == bindparam("user_id"))
    .scalar_subquery()
    .label("my_answers")
)


_CHUNK = 10_000  # people per statement


def percentage_of(i_accept, i_weigh, they_accept, they_weigh, common) -> int | None:
    """The match % from the sums of `dating_sql.match_scores`."""
    if not common:
        return None
    return percentage(
        _sat(int(i_accept), int(i_weigh)), _sat(int(they_accept), int(they_weigh)), int(common)
    )


@dataclass
class _Scored:
    mine: tuple  # my answers the scores were computed from
    since: float  # time.monotonic() when the first of them was
    scores: dict[int, Match]


class ScoreCache:
    """Match % already computed, per member, in this process. Discover sorted by match % ranks a
    pool of hundreds on every page, every reload and every change of a filter; here each person
    of it is scored once for `seconds`, while my answers stay what they were (a changed answer of
    mine starts afresh). Someone else's new answer shows after `seconds` at most, and at once in
    the process that took it (`forget`). Bounded: the `members` seen most recently (a pool is
    at most discover.MATCH_POOL people: some 20 MB at the most, in a busy process)."""

    def __init__(self, seconds: float, members: int = 256) -> None:
        self.seconds = seconds
        self.members = members
        self._entries: OrderedDict[int, _Scored] = OrderedDict()
        self._lock = threading.Lock()

    def scores_of(self, me_id: int, mine: tuple) -> dict[int, Match]:
        """The scores kept for me, computed from `mine` (a dict to add new ones to)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(me_id)
            if entry is None or entry.mine != mine or now - entry.since >= self.seconds:
                entry = self._entries[me_id] = _Scored(mine, now, {})
            self._entries.move_to_end(me_id)
            while len(self._entries) > self.members:
                self._entries.popitem(last=False)
            return entry.scores

    def forget(self, user_id: int) -> None:
        """`user_id`'s answers changed: their scores with anyone are computed again."""
        with self._lock:
            self._entries.pop(user_id, None)
            for entry in self._entries.values():
                entry.scores.pop(user_id, None)


def _score_cache() -> ScoreCache | None:
    """This app's ScoreCache; None when MATCH_SCORES_SECONDS is 0."""
    return kept.per_app("amora_match_scores", "MATCH_SCORES_SECONDS", ScoreCache)


def matches(me_id: int, other_ids: list[int], known: list | None = None) -> dict[int, Match]:
    """Match % and questions in common between me and each of `other_ids` (`known`: as for
    `my_answers`)."""
    mine = my_answers(me_id, known) if other_ids else []
    if not mine:  # nothing answered: nothing in common with anyone
        return {user_id: Match(None) for user_id in other_ids}
    cache = _score_cache()
    known = cache.scores_of(me_id, tuple(mine)) if cache is not None else {}
    missing = [user_id for user_id in dict.fromkeys(other_ids) if user_id not in known]
    if missing:
        scored = dict.fromkeys(missing, Match(None))  # no question in common: no row
        connection = db.session.connection()
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for user_id, *sums in dating_sql.match_scores(connection, me_id, mine, chunk):
                scored[user_id] = Match(percentage_of(*sums), int(sums[-1]))
        known.update(scored)
    return {user_id: known[user_id] for user_id in other_ids}


def match_percentages(me_id: int, other_ids: list[int]) -> dict[int, int | None]:
    """Match % between me and each of `other_ids` (None where it is not shown)."""
    return {user_id: found.percent for user_id, found in matches(me_id, other_ids).items()}


def with_answers_needed(found: dict[int, Match]) -> dict[int, Match]:
    """`found` with `answers_needed` where the % is hidden and the other person answered
    enough questions for more answers of mine to reveal it (a few people: one cards page)."""
    hidden = [user_id for user_id, match in found.items() if match.percent is None]
    if not hidden:
        return found
    questions = list(bank())
    answered = dict(
        db.session.execute(
            select(MatchAnswer.user_id, func.count())
            .where(MatchAnswer.user_id.in_(hidden), MatchAnswer.question_id.in_(questions))
            .group_by(MatchAnswer.user_id)
        ).all()
    )
    return {
        user_id: replace(match, answers_needed=MIN_COMMON - match.common)
        if user_id in answered and answered[user_id] >= MIN_COMMON and match.percent is None
        else match
        for user_id, match in found.items()
    }


def match_with(me_id: int, other_id: int) -> Match:
    """Me and one other person, with `answers_needed` (a profile page)."""
    return with_answers_needed(matches(me_id, [other_id]))[other_id]


# --- answering --------------------------------------------------------------------------------


def answered_ids(user_id: int) -> set[str]:
    return set(
        db.session.scalars(select(MatchAnswer.question_id).where(MatchAnswer.user_id == user_id))
    )


def next_question(user: User) -> Question | None:
    done = answered_ids(user.id)
    return next((q for q in bank().values() if q.id not in done), None)


def question(question_id: str) -> Question:
    """A question of the bank."""
    found = bank().get(question_id)
    if found is None:
        raise NotFound("That question does not exist.")
    return found


def answer(
    user: User, question_id: str, choice: int, acceptable: Sequence[int], importance: int
) -> MatchAnswer:
    """My answer to a question: my choice, the choices I accept from others (indexes into the
    question's choices) and how much it matters (a key of IMPORTANCE)."""
    asked = question(question_id)
    accepted = sorted(set(acceptable))
    errors = {}
    if not 0 <= choice < len(asked.choices):
        errors["choice"] = "Pick one of the answers."
    if not accepted or any(not 0 <= a < len(asked.choices) for a in accepted):
        errors["acceptable"] = "Pick at least one answer you would accept."
    if importance not in IMPORTANCE:
        errors["importance"] = "Pick how important this is."
    if errors:
        raise ValidationFailed(errors)
    mask = sum(1 << a for a in accepted)
    row = db.session.scalar(
        select(MatchAnswer).where(
            MatchAnswer.user_id == user.id, MatchAnswer.question_id == asked.id
        )
    )
    if row is None:
        row = MatchAnswer(
            user_id=user.id,
            question_id=asked.id,
            choice=choice,
            acceptable=mask,
            importance=importance,
        )
        db.session.add(row)
    else:
        row.choice, row.acceptable, row.importance = choice, mask, importance
        row.answered_at = clock.now()
    db.session.commit()
    cache = _score_cache()
    if cache is not None:
        cache.forget(user.id)
    return row


def progress(user_id: int) -> tuple[int, int]:
    return len(answered_ids(user_id)), len(bank())
