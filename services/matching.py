"""Match questions and match % (SPEC §2, OkCupid style).

An answer holds my choice, the choices I accept (a bit mask: bit i = choice i is fine) and an
importance: irrelevant 0, a little 1, somewhat 10, very 50, mandatory 250.

    sat(A, B) = Σ importance of A's questions that B answered acceptably
                / Σ importance of A's questions both answered          (1 when that sum is 0)
    match %   = √(sat(A, B) · sat(B, A)) − 1/|S|    for the |S| questions both answered,
                floored at 0, shown only when |S| ≥ 3

Percentages for many people are computed in one grouped query (one row per person), not one
query per card.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, case, func, literal, literal_column, select

from extensions import db
from models import MatchAnswer, User
from services import clock, sql
from services.errors import NotFound, ValidationFailed

IMPORTANCE = {
    0: "Irrelevant",
    1: "A little important",
    10: "Somewhat important",
    50: "Very important",
    250: "Mandatory",
}
MIN_COMMON = 3
BANK = Path(__file__).resolve().parent / "data" / "questions.json"


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    text: str
    choices: tuple[str, ...]


@functools.cache
def bank() -> dict[str, Question]:
    with BANK.open(encoding="utf-8") as handle:
        return {
            q["id"]: Question(q["id"], q.get("category", ""), q["text"], tuple(q["choices"]))
            for q in json.load(handle)
        }


def percentage(sat_ab: float, sat_ba: float, common: int) -> int | None:
    """The SPEC formula; None when fewer than MIN_COMMON questions are shared."""
    if common < MIN_COMMON:
        return None
    value = math.sqrt(sat_ab * sat_ba) - 1 / common
    return max(0, math.floor(value * 100))


def _sat(numerator: int, denominator: int) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def _sums(mine, theirs) -> list:
    """The sums of the formula over the questions both answered, labelled for `percentage_of`:
    Σ importance of my questions they answered acceptably, Σ my importance, the same two the
    other way round, and the number of questions in common."""
    one = literal(1)
    i_accept = case(
        (mine.acceptable.op("&")(one.op("<<")(theirs.choice)) != 0, mine.importance), else_=0
    )
    they_accept = case(
        (theirs.acceptable.op("&")(one.op("<<")(mine.choice)) != 0, theirs.importance), else_=0
    )
    return [
        func.sum(i_accept).label("i_accept"),
        func.sum(mine.importance).label("i_weigh"),
        func.sum(they_accept).label("they_accept"),
        func.sum(theirs.importance).label("they_weigh"),
        func.count(mine.user_id).label("common"),
    ]


def _answers(name: str):
    return MatchAnswer.__table__.alias(name)


def _my_questions(me_id: int) -> list[str]:
    """My questions still in the bank (a question removed from it stops counting). Read first:
    a handful of values both sides are then looked up by, so the planner starts from them
    rather than from every answer of every other person."""
    return sorted(answered_ids(me_id) & bank().keys())


def scores(me_id: int, other_ids: list[int]) -> Select:
    """One row per person of `other_ids` who shares a question with me: user_id and the sums
    of `_sums()`. `percentage_of()` turns the sums into the match %."""
    mine_table, theirs_table = _answers("mine"), _answers("theirs")
    mine, theirs = mine_table.c, theirs_table.c
    questions = _my_questions(me_id)
    their_question, my_question = theirs.question_id, mine.question_id
    if db.session.get_bind().dialect.name == "sqlite":
        # Unary + keeps SQLite from seeking every (person, question) pair of the two IN lists
        # (5,000 seeks for a pool of 500): it reads each person's few answers in one range of
        # ix_match_answers_scoring and tests the question there — half the time at 1M people.
        # On my side the same makes it read my answers from that index too, not from the
        # unique index and then the table once per answer of theirs (another ~15 %).
        their_question = literal_column(f"+{theirs_table.name}.question_id")
        my_question = literal_column(f"+{mine_table.name}.question_id")
    return (
        select(theirs.user_id.label("user_id"), *_sums(mine, theirs))
        .select_from(mine_table.join(theirs_table, theirs.question_id == my_question))
        .where(
            mine.user_id == me_id,
            my_question.in_(questions),
            their_question.in_(questions),
            sql.in_values(theirs.user_id, other_ids),
        )
        .group_by(theirs.user_id)
    )


def percentage_of(i_accept, i_weigh, they_accept, they_weigh, common) -> int | None:
    """The match % from the sums of `_sums()`."""
    if not common:
        return None
    return percentage(
        _sat(int(i_accept), int(i_weigh)), _sat(int(they_accept), int(they_weigh)), int(common)
    )


def match_percentages(me_id: int, other_ids: list[int]) -> dict[int, int | None]:
    """Match % between me and each of `other_ids` (None where it is not shown)."""
    if not other_ids:
        return {}
    result: dict[int, int | None] = dict.fromkeys(other_ids)
    for user_id, *sums in db.session.connection().execute(scores(me_id, list(other_ids))):
        result[user_id] = percentage_of(*sums)
    return result


# --- answering --------------------------------------------------------------------------------


def answered_ids(user_id: int) -> set[str]:
    return set(
        db.session.scalars(select(MatchAnswer.question_id).where(MatchAnswer.user_id == user_id))
    )


def next_question(user: User) -> Question | None:
    done = answered_ids(user.id)
    return next((q for q in bank().values() if q.id not in done), None)


def answer(
    user: User, question_id: str, choice: object, acceptable: list, importance: object
) -> MatchAnswer:
    question = bank().get(question_id or "")
    if question is None:
        raise NotFound("That question does not exist.")
    try:
        choice_index = int(choice)  # type: ignore[arg-type]
        accepted = sorted({int(a) for a in acceptable})
        weight = int(importance)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"choice": "Pick your answer and the answers you accept."}) from exc
    errors = {}
    if not 0 <= choice_index < len(question.choices):
        errors["choice"] = "Pick one of the answers."
    if not accepted or any(not 0 <= a < len(question.choices) for a in accepted):
        errors["acceptable"] = "Pick at least one answer you would accept."
    if weight not in IMPORTANCE:
        errors["importance"] = "Pick how important this is."
    if errors:
        raise ValidationFailed(errors)
    mask = sum(1 << a for a in accepted)
    row = db.session.scalar(
        select(MatchAnswer).where(
            MatchAnswer.user_id == user.id, MatchAnswer.question_id == question.id
        )
    )
    if row is None:
        row = MatchAnswer(
            user_id=user.id,
            question_id=question.id,
            choice=choice_index,
            acceptable=mask,
            importance=weight,
        )
        db.session.add(row)
    else:
        row.choice, row.acceptable, row.importance = choice_index, mask, weight
        row.answered_at = clock.now()
    db.session.commit()
    return row


def progress(user_id: int) -> tuple[int, int]:
    return len(answered_ids(user_id)), len(bank())
