"""Identical requests at the same moment get the same answer.

Two clicks (or a retry racing its original) carry the same idempotency key; the ledger makes
sure only one moves money. The other used to answer whatever its race ended in: "not enough
credits" (the winner had spent them), "already being processed", or a unique-key conflict. The
money was right but the answer was not. `same_answer` makes the loser answer what the winner
got, by looking up the winner's committed result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from core.errors import Conflict
from extensions import db
from services.ledger import InsufficientCredits

T = TypeVar("T")

# What a request that lost the race to an identical one may raise.
RACE_OUTCOMES = (InsufficientCredits, Conflict, IntegrityError)


def same_answer(attempt: Callable[[], T], committed: Callable[[], T | None]) -> T:
    """Run `attempt` (one transaction); if it fails the way a lost race fails and `committed()`
    then finds the winner's result, return that instead of the error."""
    try:
        return attempt()
    except RACE_OUTCOMES:
        db.session.rollback()
        found = committed()
        if found is None:
            raise
        return found
