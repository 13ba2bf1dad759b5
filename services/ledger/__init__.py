"""The ledger (docs/ledger.md): the only package that writes ledger tables. Callers write
`ledger.spend(...)`, `ledger.InsufficientCredits`…: the names below are its whole interface.

- `books.py`: accounts, balances and `post`, the one primitive that writes a balanced transfer
  with conditional balance updates (docs/ledger.md#conditional-updates);
- `movements.py`: what the rest of Amora calls — purchases, spends, holds, payouts, refunds and
  chargebacks, reversals, adjustments, freezes, the release of matured earnings;
- `reading.py`: a member's history of an account;
- `invariants.py`: the invariants check (`flask ledger verify`, the admin's ledger check);
- `sql.py`: the hand-written statements, for both databases (the one-statement spend of
  PostgreSQL, the wallet balance).

These functions do NOT commit (except `release_matured_earnings`, a periodic job): they join the
caller's transaction, so that the business row (message, order, unlock…) and its money are
written together or not at all. A failed call rolls the session back and raises; the caller's
service call is then over.
"""

from models.ledger import SYSTEM_KINDS, USER_KINDS
from services.ledger.books import (
    HOT_KINDS,
    MAX_AMOUNT,
    SPEND_KINDS,
    AccountFrozen,
    DuplicateTransfer,
    InsufficientCredits,
    accounts_of,
    balances,
    balances_and_frozen,
    is_frozen,
    post,
    system_account,
    system_balance,
    user_account,
    wallet_balance,
    wallet_balance_query,
)
from services.ledger.invariants import Violation, verify
from services.ledger.movements import (
    adjust,
    claw_back_spending,
    fee_for,
    freeze,
    grant_purchase,
    hold,
    open_hold_amount,
    pay_platform,
    pay_referral,
    release_matured_earnings,
    request_payout,
    return_payout,
    reverse,
    settle_holds,
    spend,
    take_back_purchase,
    unfreeze,
)
from services.ledger.reading import HistoryRow, history

__all__ = [
    "HOT_KINDS",
    "MAX_AMOUNT",
    "SPEND_KINDS",
    "SYSTEM_KINDS",
    "USER_KINDS",
    "AccountFrozen",
    "DuplicateTransfer",
    "HistoryRow",
    "InsufficientCredits",
    "Violation",
    "adjust",
    "accounts_of",
    "balances",
    "balances_and_frozen",
    "claw_back_spending",
    "fee_for",
    "freeze",
    "grant_purchase",
    "history",
    "hold",
    "is_frozen",
    "open_hold_amount",
    "pay_platform",
    "pay_referral",
    "post",
    "release_matured_earnings",
    "request_payout",
    "return_payout",
    "reverse",
    "settle_holds",
    "spend",
    "system_account",
    "system_balance",
    "take_back_purchase",
    "unfreeze",
    "user_account",
    "verify",
    "wallet_balance",
    "wallet_balance_query",
]
