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

from sqlalchemy import select, text

from extensions import db
from models import MatchAnswer, User
from services import clock
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


def _my_questions(me_id: int) -> list[str]:
    """My questions still in the bank (a question removed from it stops counting). Read first:
    a handful of values both sides are then looked up by, so the planner starts from them
    rather than from every answer of every other person."""
    return sorted(answered_ids(me_id) & bank().keys())


# One row per person who shares a question with me: user_id; Σ importance of my questions they
# answered acceptably; Σ my importance; the same two the other way round; the number of
# questions in common (`percentage_of` turns them into the match %). SQL text, because a sort
# by match % scores a pool of hundreds of people per search, and building the statement with
# SQLAlchemy (the ids one bind parameter each) cost more than running it.
_SCORES = """
SELECT theirs.user_id,
       sum(CASE WHEN (mine.acceptable & (1 << theirs.choice)) != 0
                THEN mine.importance ELSE 0 END),
       sum(mine.importance),
       sum(CASE WHEN (theirs.acceptable & (1 << mine.choice)) != 0
                THEN theirs.importance ELSE 0 END),
       sum(theirs.importance),
       count(*)
FROM match_answers AS mine JOIN match_answers AS theirs ON theirs.question_id = {mine_q}
WHERE mine.user_id = :me AND {mine_q} {questions} AND {theirs_q} {questions} AND {others}
GROUP BY theirs.user_id
"""
_CHUNK = 10_000  # people per statement


def _scores_statement(dialect: str, questions: list[str], other_ids: list[int]):
    if dialect == "postgresql":
        sql = _SCORES.format(
            mine_q="mine.question_id",
            theirs_q="theirs.question_id",
            questions="= ANY(:questions)",
            others="theirs.user_id = ANY(:others)",
        )
        return text(sql), {"questions": questions, "others": other_ids}
    # SQLite: the ids written into the statement (integers, so nothing to escape) — it seeks
    # ix_match_answers_scoring once per listed id only for a literal list. Unary + keeps it
    # from seeking every (person, question) pair of the two lists: it reads each person's few
    # answers in one range of that index and tests the question there, and reads my answers
    # from the same index rather than from the unique index and then the table.
    names = [f":q{i}" for i in range(len(questions))]
    sql = _SCORES.format(
        mine_q="+mine.question_id",
        theirs_q="+theirs.question_id",
        questions=f"IN ({', '.join(names)})",
        others=f"theirs.user_id IN ({', '.join(str(int(i)) for i in other_ids)})",
    )
    return text(sql), {f"q{i}": q for i, q in enumerate(questions)}


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
    questions = _my_questions(me_id)
    if not questions:
        return result  # nothing answered: nothing in common with anyone
    connection = db.session.connection()
    ids = list(other_ids)
    for start in range(0, len(ids), _CHUNK):
        statement, params = _scores_statement(
            connection.dialect.name, questions, ids[start : start + _CHUNK]
        )
        for user_id, *sums in connection.execute(statement, {"me": me_id, **params}):
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
