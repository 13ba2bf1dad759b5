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

from sqlalchemy import Select, String, case, func, literal, select
from sqlalchemy.orm import aliased

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


def scores(me_id: int, others) -> Select:
    """One row per person of `others` (a list of user ids, or a SELECT of them) who shares a
    question with me: user_id, Σ importance of my questions they answered acceptably, Σ my
    importance, the same two the other way round, and the number of questions in common.
    `percentage_of()` turns a row into the match %."""
    mine, theirs = aliased(MatchAnswer), aliased(MatchAnswer)
    one = literal(1)
    i_accept = case(
        (mine.acceptable.op("&")(one.op("<<")(theirs.choice)) != 0, mine.importance), else_=0
    )
    they_accept = case(
        (theirs.acceptable.op("&")(one.op("<<")(mine.choice)) != 0, theirs.importance), else_=0
    )
    among = (
        sql.in_values(theirs.user_id, others)
        if isinstance(others, list)
        else theirs.user_id.in_(others)
    )
    return (
        select(
            theirs.user_id.label("user_id"),
            func.sum(i_accept).label("i_accept"),
            func.sum(mine.importance).label("i_weigh"),
            func.sum(they_accept).label("they_accept"),
            func.sum(theirs.importance).label("they_weigh"),
            func.count().label("common"),
        )
        .join(theirs, theirs.question_id == mine.question_id)
        .where(
            mine.user_id == me_id,
            among,
            # A question removed from the bank stops counting.
            sql.in_values(mine.question_id, list(bank()), String),
        )
        .group_by(theirs.user_id)
    )


def percentage_of(i_accept, i_weigh, they_accept, they_weigh, common) -> int | None:
    """The match % from one row of `scores()` (all None: no question in common)."""
    if common is None:
        return None
    return percentage(
        _sat(int(i_accept), int(i_weigh)), _sat(int(they_accept), int(they_weigh)), int(common)
    )


def match_percentages(me_id: int, other_ids: list[int]) -> dict[int, int | None]:
    """Match % between me and each of `other_ids` (None where it is not shown)."""
    if not other_ids:
        return {}
    result: dict[int, int | None] = dict.fromkeys(other_ids)
    for user_id, *sums in db.session.execute(scores(me_id, list(other_ids))):
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
