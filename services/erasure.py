"""Your data: deleting an account (docs/security.md#account-deletion).

Asking to delete (password, plus a second factor with 2FA) schedules the erasure 7 days out and
mails the deadline; nothing changes meanwhile, so "Undo" loses nothing. Then the periodic job
`erase_due_accounts` erases the account: `erase_account` walks `services.personal_data.REGISTRY`,
where each area declares what it erases and what it keeps, and why.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select, update

from core import clock
from core.errors import DomainError, NotAllowed, ValidationFailed
from extensions import db
from models import Payout, PayoutMethod, User
from services import accounts, audit, ledger, mail, media, passwords, payouts, twofactor
from services.personal_data import REGISTRY, Erasure
from services.personal_data.creator import wipe_payout_methods

log = logging.getLogger("amora.accounts")

DELETION_GRACE = dt.timedelta(days=7)


@dataclass
class DeletionImpact:
    """What confirming now would do: the deadline, and for a creator what happens to their
    money (shown on the confirmation page and in the mail)."""

    deadline: dt.datetime
    open_payouts: list[tuple[Payout, str]]  # with the method, masked
    earnings_pending: int
    earnings_available: int

    @property
    def forfeited(self) -> int:
        return self.earnings_pending + self.earnings_available

    @property
    def any(self) -> bool:
        return bool(self.open_payouts) or self.forfeited > 0


def deletion_impact(user: User) -> DeletionImpact:
    balances = ledger.balances(user.id)
    rows = db.session.execute(
        select(Payout, PayoutMethod)
        .join(PayoutMethod, PayoutMethod.id == Payout.method_id)
        .where(Payout.creator_id == user.id, Payout.is_open)
        .order_by(Payout.id)
    ).all()
    return DeletionImpact(
        deadline=user.delete_after or clock.now() + DELETION_GRACE,
        open_payouts=[(payout, payouts.mask(method)) for payout, method in rows],
        earnings_pending=balances.get("earnings_pending", 0),
        earnings_available=balances.get("earnings_available", 0),
    )


def request_deletion(user: User, password: str, code: str = "") -> dt.datetime:
    """Schedule the account's erasure `DELETION_GRACE` from now; returns the deadline.

    Needs the password, and a second factor when 2FA is on. Sessions are kept (the user may
    come back and undo); the deadline is mailed.
    """
    if user.status == "deleted":
        raise NotAllowed("This account is deleted.")
    if user.is_staff:
        raise NotAllowed("A moderator's or admin's account cannot be deleted here.")
    if user.delete_after is not None:
        raise DomainError(f"Your account is already being deleted, on {user.delete_after:%d %b}.")
    if not passwords.verify_password(user.password_hash, password or ""):
        raise ValidationFailed({"password": "Your password is not correct."})
    if user.has_2fa:
        try:
            twofactor.check_step_up(user, code or "")
        except ValidationFailed:
            db.session.rollback()
            raise
    now = clock.now()
    user.delete_requested_at = now
    user.delete_after = now + DELETION_GRACE
    mail.send(
        user,
        user.email,
        "account_deletion",
        f"Your Amora account will be deleted on {user.delete_after:%d %b %Y}",
        "account_deletion",
        deadline=user.delete_after,
        link=accounts.external_url("settings.account"),
        impact=deletion_impact(user),
    )
    audit.record(
        "account.deletion_requested",
        actor_id=user.id,
        target=("user", user.id),
        delete_after=user.delete_after.isoformat(),
    )
    db.session.commit()
    return user.delete_after


def cancel_deletion(user: User) -> None:
    """Undo a scheduled deletion (until the job has erased the account)."""
    undone = db.session.execute(
        update(User)
        .where(User.id == user.id, User.status != "deleted", User.delete_after.is_not(None))
        .values(delete_requested_at=None, delete_after=None),
        execution_options={"synchronize_session": False},
    )
    if undone.rowcount != 1:
        db.session.rollback()
        raise DomainError("Your account is not being deleted.")
    audit.record("account.deletion_cancelled", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    db.session.refresh(user)


def erase_due_accounts(now: dt.datetime | None = None) -> int:
    """Periodic job: erase every account whose undo window has passed, each in its own
    transaction; then wipe payout details that a finished payout no longer needs. Returns how
    many accounts were erased."""
    now = now or clock.now()
    due = db.session.scalars(
        select(User.id)
        .where(User.delete_after <= now, User.status != "deleted")
        .order_by(User.delete_after)
    ).all()
    erased = 0
    for user_id in due:
        try:
            erased += erase_account(user_id, now)
        except Exception:
            db.session.rollback()
            log.exception("erasing account %s failed", user_id)
    _wipe_payout_methods_of_deleted()
    return erased


def erase_account(user_id: int, now: dt.datetime) -> bool:
    """Erase one account whose deadline passed, in one transaction: personal data erased, what
    others or the books depend on kept without personal content (docs/security.md#your-data).
    What each area erases and keeps, and why, is declared in `services.personal_data`."""
    # Claim it: an undo that committed first wins, and two workers cannot both erase.
    claimed = db.session.execute(
        update(User)
        .where(User.id == user_id, User.status != "deleted", User.delete_after <= now)
        .values(status="deleted"),
        execution_options={"synchronize_session": False},
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return False
    user = db.session.get(User, user_id)
    db.session.refresh(user)
    erasure = Erasure(user=user, email=user.email, now=now)

    # Files first: if the transaction then fails, the next run finds the rows and retries.
    keys = {key for area in REGISTRY if area.files for key in area.files(user_id)}
    store = media.storage()
    for key in sorted(keys):
        store.delete(key)

    for area in REGISTRY:
        if area.erase is not None:
            area.erase(erasure)
    audit.record("account.erased", actor_id=None, target=("user", user_id))
    db.session.commit()
    return True


def _wipe_payout_methods_of_deleted() -> None:
    user_ids = db.session.scalars(
        select(PayoutMethod.user_id)
        .join(User, User.id == PayoutMethod.user_id)
        .where(
            User.status == "deleted",
            or_(PayoutMethod.account_ref.is_not(None), PayoutMethod.kind == "manual"),
        )
        .distinct()
    ).all()
    for user_id in user_ids:
        wipe_payout_methods(user_id, clock.now())
    db.session.commit()
