"""The hand-written SQL of dating (docs/dating.md#discover, docs/dating.md#match-percentage), both
dialects in one place: the match % scores statement of `matching`, written per dialect, and what
discover asks of each database — PostgreSQL plans each search for its own values; SQLite reads
the match pool a week of recency at a time. `matching` and `discover` call the functions below
and never ask which database they are on."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Result, text

# psycopg prepares a statement run often; PostgreSQL's generic plan for `= ANY($1)` does not know
# the list is short and may read every answer to my questions (seconds at 1M people). Plan each
# search for its values, and without JIT for these short ones.
_PLAN_EACH_SEARCH = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('jit', 'off', true)"
)


def plan_each_search(connection: Connection) -> None:
    """For the rest of this transaction, plan discover's statements for their own values
    (PostgreSQL; SQLite plans every statement anew anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_PLAN_EACH_SEARCH)


def reads_pool_by_week(bind: Connection | Engine) -> bool:
    """Whether the match pool statement lists the weeks of recency (`discover._weeks`): SQLite
    only. PostgreSQL's planner keeps to ix_profiles_discover and a top-N sort, which serves it
    well (BENCHMARKS.md), and would take the week list as one more filter."""
    return bind.dialect.name == "sqlite"


_WEEKS_THERE_ARE = (
    "SELECT (SELECT max(active_week) FROM profiles),"
    " (SELECT min(active_week) FROM profiles WHERE active_week > 0)"
)


def weeks_there_are(connection: Connection) -> tuple[int | None, int | None]:
    """The newest Profile.active_week, and the oldest one not yet folded into week 0 (None on
    an empty table, or when every profile is in week 0)."""
    newest, oldest = connection.exec_driver_sql(_WEEKS_THERE_ARE).one()  # no ORM: ~5x faster
    return newest, oldest


# One row per person who shares a question with me: user_id; Σ importance of my questions they
# answered acceptably; Σ my importance; the same two the other way round; the number of
# questions in common (`percentage_of` turns them into the match %). SQL text, because a sort
# by match % scores a pool of hundreds of people per search, and building the statement with
# SQLAlchemy (the ids one bind parameter each) cost more than running it.
_SCORES_POSTGRESQL = """
SELECT theirs.user_id,
       sum(CASE WHEN (mine.acceptable & (1 << theirs.choice)) != 0
                THEN mine.importance ELSE 0 END),
       sum(mine.importance),
       sum(CASE WHEN (theirs.acceptable & (1 << mine.choice)) != 0
                THEN theirs.importance ELSE 0 END),
       sum(theirs.importance),
       count(*)
FROM match_answers AS mine JOIN match_answers AS theirs ON theirs.question_id = mine.question_id
WHERE mine.user_id = :me AND mine.question_id = ANY(:questions)
  AND theirs.question_id = ANY(:questions) AND theirs.user_id = ANY(:others)
GROUP BY theirs.user_id
"""
# SQLite: my answers are written into the statement as parameters, so it reads only the
# others' answers: joining my rows back in cost a seek of my answers for every answer of theirs
# to a question of mine, most of the statement's time with a pool of hundreds. Each answer of
# theirs looks up mine once, in a CASE that halves my sorted question ids at each step (a few
# comparisons, not a walk through all of them, three times): it gives my choice, acceptable
# mask and importance packed in one integer (`_pack`), which the sums take apart. The inner
# SELECT's LIMIT -1 keeps SQLite from merging it into the outer one, which would repeat the
# lookup in every sum. The ids are written in as a literal list (integers, nothing to escape):
# it seeks ix_match_answers_scoring once per listed id only for a literal list. Unary + keeps
# it from seeking every (person, question) pair: it reads each person's few answers in one
# range of that index and tests the question there.
_SCORES_SQLITE = """
SELECT user_id,
       sum(((mine >> {accept_shift} >> choice) & 1) * ((mine >> {weight_shift}) & {weight_mask})),
       sum((mine >> {weight_shift}) & {weight_mask}),
       sum(CASE WHEN (acceptable & (1 << (mine & {choice_mask}))) != 0
                THEN importance ELSE 0 END),
       sum(importance),
       count(*)
FROM (SELECT user_id, choice, acceptable, importance, {mine} AS mine
      FROM match_answers
      WHERE +question_id IN ({questions}) AND user_id IN ({others})
      LIMIT -1)
GROUP BY user_id
"""
_CHOICE_BITS, _WEIGHT_BITS = 2, 8  # up to 4 choices; importance up to 250 (matching.IMPORTANCE)


def _pack(choice: int, acceptable: int, importance: int) -> int:
    """My answer as one integer: choice in the low bits, then importance, then the mask."""
    if not (0 <= choice < 1 << _CHOICE_BITS and 0 <= importance < 1 << _WEIGHT_BITS):
        raise ValueError(f"answer out of the packed range: choice {choice}, {importance}")
    return (acceptable << (_CHOICE_BITS + _WEIGHT_BITS)) | (importance << _CHOICE_BITS) | choice


def _lookup(numbers: list[int]) -> str:
    """SQL: the packed answer (:p<n>) to the row's question among my questions :q<n>, sorted
    by id, halving the list at each step."""
    if len(numbers) <= 2:
        arms = " ".join(f"WHEN :q{n} THEN :p{n}" for n in numbers)
        return f"CASE question_id {arms} END"
    middle = len(numbers) // 2
    return (
        f"CASE WHEN question_id < :q{numbers[middle]} THEN {_lookup(numbers[:middle])}"
        f" ELSE {_lookup(numbers[middle:])} END"
    )


def match_scores(
    connection: Connection,
    me_id: int,
    mine: list[tuple[str, int, int, int]],
    other_ids: list[int],
) -> Result:
    """The scores statement for `other_ids`, given my answers `mine` as (question, choice,
    acceptable mask, importance) sorted by question: one row per person who shares a question
    with me, (user_id, Σ importance of my questions they answered acceptably, Σ my importance,
    the same two the other way round, the number of questions in common)."""
    if connection.dialect.name == "postgresql":
        questions = [q for q, *_ in mine]
        return connection.execute(
            text(_SCORES_POSTGRESQL), {"me": me_id, "questions": questions, "others": other_ids}
        )
    params: dict[str, object] = {}
    for n, (question, choice, acceptable, importance) in enumerate(mine):
        params.update({f"q{n}": question, f"p{n}": _pack(choice, acceptable, importance)})
    sql = _SCORES_SQLITE.format(
        accept_shift=_CHOICE_BITS + _WEIGHT_BITS,
        weight_shift=_CHOICE_BITS,
        weight_mask=(1 << _WEIGHT_BITS) - 1,
        choice_mask=(1 << _CHOICE_BITS) - 1,
        mine=_lookup(list(range(len(mine)))),
        questions=", ".join(f":q{n}" for n in range(len(mine))),
        others=", ".join(str(int(i)) for i in other_ids),
    )
    # Straight to the driver: a statement that differs per search gains nothing from
    # SQLAlchemy's compilation, which for text() parses every parameter out of it again.
    return connection.exec_driver_sql(sql, params)
