"""Payouts (docs/payouts.md): a verified creator with 2FA asks for available earnings to be paid
out.

States, and the only moves between them (`TRANSITIONS`):

    requested → approved → processing → paid
        │           │            └────→ failed    (credits returned)
        └───────────┴──→ rejected                 (credits returned)

* Requesting moves the credits available → payouts_clearing in the same transaction as the row.
* An admin approves or rejects; small requests from low-risk creators are approved by the
  worker after scoring (`route`).
* The worker (`execute`) claims an approved payout — `processing` is committed BEFORE the
  provider is called — then calls the provider with the payout's idempotency key. A timeout or
  a crash leaves it `processing` with a `next_attempt_at`; `retry_due` runs it again, and the
  provider answers the same key with the same payout: paid exactly once. Transient errors back
  off exponentially; after PAYOUT_MAX_ATTEMPTS, or on a permanent error, the payout fails and
  the credits go back.
* Manual bank transfers wait, approved, for an admin to "mark paid" with the bank's reference.

Every move is a conditional UPDATE on the current status, so two admins (or an admin and the
worker) cannot both move the same payout: one wins, the other gets a clear message.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import or_, select, update

from core import clock
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    Notification,
    Payout,
    PayoutEvent,
    PayoutMethod,
    PayoutStatus,
    RiskEvent,
    User,
    UserStatus,
)
from services import audit, ledger, payout_providers, risk, twofactor
from services.input import parse_id
from workers.queue import enqueue

log = logging.getLogger("amora.payouts")

TRANSITIONS: dict[PayoutStatus, set[PayoutStatus]] = {
    PayoutStatus.REQUESTED: {PayoutStatus.APPROVED, PayoutStatus.REJECTED},
    PayoutStatus.APPROVED: {PayoutStatus.PROCESSING, PayoutStatus.REJECTED},
    PayoutStatus.PROCESSING: {PayoutStatus.PAID, PayoutStatus.FAILED},
    PayoutStatus.PAID: set(),
    PayoutStatus.FAILED: set(),
    PayoutStatus.REJECTED: set(),
}
LABELS = {
    PayoutStatus.REQUESTED: "Requested",
    PayoutStatus.APPROVED: "Approved",
    PayoutStatus.PROCESSING: "Being sent",
    PayoutStatus.PAID: "Paid",
    PayoutStatus.FAILED: "Failed, credits returned",
    PayoutStatus.REJECTED: "Rejected, credits returned",
}
STALE_AFTER = dt.timedelta(minutes=10)  # a `processing` claim older than this was a crash
POLL_EVERY = dt.timedelta(minutes=5)  # a provider payout still moving is checked again
METHOD_LABELS = {
    "stripe": "Stripe Connect",
    "razorpayx": "RazorpayX",
    "manual": "Bank transfer (manual)",
}

# Bounds on what an admin types (the forms' maximum lengths come from here).
NOTE_MAX = 300  # an approval's note
REASON_MAX = 500  # why a payout was rejected; the creator reads it
REFERENCE_MAX = 120  # a bank transfer's reference (the column's length)
QUEUE_LIMIT = 200  # payouts listed (and so approved at once) on the admin queue
CHOOSE_METHOD = "Choose one of your payout methods."
CHOOSE_KIND = "Choose how you want to be paid."
REJECT_REASON = "Say why, in a few words (the creator will see it)."
BANK_REFERENCE = "Enter the bank transfer's reference."

_STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{8,40}$")
_FUND_ACCOUNT = re.compile(r"^fa_[A-Za-z0-9]{8,40}$")
_ACCOUNT_NUMBER = re.compile(r"^[A-Z0-9]{6,34}$")
_BANK_CODE = re.compile(r"^[A-Z0-9]{4,15}$")


class InvalidTransition(Conflict):
    pass


# --- payout methods ---------------------------------------------------------------------------


def mask(method: PayoutMethod) -> str:
    """How a method is shown: enough to recognise it, not enough to use it."""
    if method.kind in ("stripe", "razorpayx"):
        ref = method.account_ref or ""
        prefix = ref.split("_", 1)[0]
        return f"{METHOD_LABELS[method.kind]} {prefix}_…{ref[-4:]}"
    details = method.details or {}
    return (
        f"Bank transfer to {details.get('holder', '?')}, account ••••"
        f"{str(details.get('account', ''))[-4:]} ({details.get('bank_code', '')})"
    )


def methods_of(user_id: int) -> list[PayoutMethod]:
    return list(
        db.session.scalars(
            select(PayoutMethod)
            .where(PayoutMethod.user_id == user_id, PayoutMethod.removed_at.is_(None))
            .order_by(PayoutMethod.id)
        )
    )


def add_method(
    user: User,
    kind: str,
    *,
    account_ref: str = "",
    holder: str = "",
    account: str = "",
    bank_code: str = "",
) -> PayoutMethod:
    """A new way for `user` to be paid: a Stripe Connect account or RazorpayX fund account
    (`account_ref`), or a bank account paid by hand (`holder`, `account`, `bank_code`); the
    fields another kind uses are ignored."""
    if not user.is_creator:
        raise NotAllowed("Switch on creator mode first.")
    errors: dict[str, str] = {}
    method = PayoutMethod(user_id=user.id, kind=kind, details={})
    if kind == "stripe":
        ref = account_ref.strip()
        if not _STRIPE_ACCOUNT.match(ref):
            errors["account_ref"] = "A Stripe Connect account id looks like acct_1A2b3C4d5E6f7G8h."
        method.account_ref = ref
    elif kind == "razorpayx":
        ref = account_ref.strip()
        if not _FUND_ACCOUNT.match(ref):
            errors["account_ref"] = "A RazorpayX fund account id looks like fa_00000000000001."
        method.account_ref = ref
    elif kind == "manual":
        holder = " ".join(holder.split())
        account = re.sub(r"[\s-]", "", account).upper()
        bank_code = re.sub(r"\s", "", bank_code).upper()
        if not 2 <= len(holder) <= 100:
            errors["holder"] = "The account holder's name, as the bank knows it."
        if not _ACCOUNT_NUMBER.match(account):
            errors["account"] = "An account number or IBAN: 6 to 34 letters and digits."
        if not _BANK_CODE.match(bank_code):
            errors["bank_code"] = "The bank's SWIFT/BIC, IFSC or sort code."
        method.details = {"holder": holder, "account": account, "bank_code": bank_code}
    else:
        errors["kind"] = CHOOSE_KIND
    if errors:
        raise ValidationFailed(errors)
    db.session.add(method)
    db.session.flush()
    audit.record("payout_method.added", actor_id=user.id, target=("payout_method", method.id))
    db.session.commit()
    return method


def remove_method(user: User, method_id: int) -> None:
    method = db.session.get(PayoutMethod, method_id)
    if method is None or method.user_id != user.id or method.removed_at is not None:
        raise NotFound("There is no such payout method.")
    method.removed_at = clock.now()
    audit.record("payout_method.removed", actor_id=user.id, target=("payout_method", method.id))
    db.session.commit()


# --- the state machine ------------------------------------------------------------------------


def _move(payout: Payout, to: PayoutStatus, actor_id: int | None, note: str | None = None) -> None:
    """One step, or InvalidTransition/Conflict. Joins the caller's transaction."""
    current = payout.status
    if to not in TRANSITIONS[current]:
        raise InvalidTransition(f"A {LABELS[current].lower()} payout cannot be {to}.")
    now = clock.now()
    moved = db.session.execute(
        update(Payout)
        .where(Payout.id == payout.id, Payout.status == current)
        .values(status=to, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    if moved.rowcount != 1:
        db.session.rollback()
        raise Conflict("This payout was changed by someone else just now. Reload the page.")
    db.session.add(
        PayoutEvent(
            payout_id=payout.id,
            from_status=current,
            to_status=to,
            actor_id=actor_id,
            note=note,
            created_at=now,
        )
    )
    db.session.flush()
    db.session.refresh(payout)


def _notify(payout: Payout, text: str) -> None:
    db.session.add(
        Notification(
            user_id=payout.creator_id,
            kind="payout",
            text=text,
            link=f"/creator/payouts/{payout.id}",
        )
    )


def _amount(credits: int, kind: str) -> tuple[int, str]:
    config = current_app.config
    if kind == "razorpayx":
        return credits * config["CREDIT_VALUE_MINOR_INR"], "INR"
    return credits * config["CREDIT_VALUE_MINOR"], "USD"


def request(creator: User, credits: int, method_id: int, code: str) -> Payout:
    """Ask for a payout of `credits` to the creator's method `method_id`, with a second-factor
    `code`: checks, the second factor, the row and the ledger move, together."""

    if not creator.is_creator:
        raise NotAllowed("Only creators are paid out.")
    if creator.creator_verified_at is None:
        raise NotAllowed("Payouts open once our team has verified your identity.")
    if creator.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot request payouts right now.")
    if not creator.has_2fa:
        raise NotAllowed("Turn on two-factor authentication to request payouts.")
    minimum = current_app.config["PAYOUT_MIN_CREDITS"]
    if credits < minimum:
        raise ValidationFailed({"credits": f"The minimum payout is {minimum:,} credits."})
    available = ledger.balances(creator.id).get("earnings_available", 0)
    if credits > available:
        raise ValidationFailed({"credits": f"You have {available:,} credits available to pay out."})
    method_row_id = parse_id(method_id)
    method = db.session.get(PayoutMethod, method_row_id) if method_row_id is not None else None
    if method is None or method.user_id != creator.id or method.removed_at is not None:
        raise ValidationFailed({"method_id": CHOOSE_METHOD})
    twofactor.check_step_up(creator, code)  # ValidationFailed on a wrong or reused code
    minor, currency = _amount(credits, method.kind)
    now = clock.now()
    payout = Payout(
        creator_id=creator.id,
        method_id=method.id,
        method_kind=method.kind,
        credits=credits,
        amount_minor=minor,
        currency=currency,
        status=PayoutStatus.REQUESTED,
        created_at=now,
        updated_at=now,
    )
    db.session.add(payout)
    db.session.flush()
    db.session.add(
        PayoutEvent(payout_id=payout.id, to_status=PayoutStatus.REQUESTED, actor_id=creator.id)
    )
    # Raises InsufficientCredits when a racing request took the credits: nothing is written.
    ledger.request_payout(creator.id, credits, payout.id)
    audit.record(
        "payout.requested", actor_id=creator.id, target=("payout", payout.id), credits=credits
    )
    enqueue(route, payout.id)
    db.session.commit()
    return payout


def get_for_creator(creator: User, payout_id: int) -> Payout:
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.creator_id != creator.id:
        raise NotFound("There is no such payout.")
    return payout


def get(payout_id: int) -> Payout:
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise NotFound("There is no such payout.")
    return payout


@dataclass(frozen=True)
class PayoutReview:
    """What an admin sees of one payout before deciding on it."""

    payout: Payout
    creator: User
    method: PayoutMethod
    events: list[PayoutEvent]
    assessment: RiskEvent | None  # the risk assessment behind payout.risk_score


def review(payout_id: int) -> PayoutReview:
    payout = get(payout_id)
    return PayoutReview(
        payout=payout,
        creator=db.session.get(User, payout.creator_id),
        method=db.session.get(PayoutMethod, payout.method_id),
        events=timeline(payout.id),
        assessment=risk.payout_assessment(payout),
    )


def timeline(payout_id: int) -> list[PayoutEvent]:
    return list(
        db.session.scalars(
            select(PayoutEvent).where(PayoutEvent.payout_id == payout_id).order_by(PayoutEvent.id)
        )
    )


def payouts_of(creator_id: int, limit: int = 50) -> list[Payout]:
    return list(
        db.session.scalars(
            select(Payout)
            .where(Payout.creator_id == creator_id)
            .order_by(Payout.id.desc())
            .limit(limit)
        )
    )


def queue(status: str | None = None, limit: int = QUEUE_LIMIT) -> list[tuple[Payout, User]]:
    query = select(Payout, User).join(User, User.id == Payout.creator_id)
    if status:
        query = query.where(Payout.status == status)
    rows = db.session.execute(query.order_by(Payout.id.desc()).limit(limit)).all()
    return [(payout, user) for payout, user in rows]


# --- admin actions ------------------------------------------------------------------------------


def _dispatch_if_provider(payout: Payout) -> None:
    if payout.method_kind != "manual":
        enqueue(execute, payout.id)


def approve(admin: User | None, payout_id: int, note: str | None = None) -> Payout:
    """Approve (an admin, or the worker's auto-approval with `admin=None`). One transaction."""
    payout = get(payout_id)
    _move(payout, PayoutStatus.APPROVED, admin.id if admin else None, note)
    audit.record(
        "payout.approved",
        actor_id=admin.id if admin else None,
        target=("payout", payout.id),
        note=note,
    )
    _dispatch_if_provider(payout)
    db.session.commit()
    return payout


def bulk_approve(admin: User, payout_ids: list[int]) -> tuple[int, list[str]]:
    """Approve many; each is its own transaction. Returns (approved, problems)."""
    approved, problems = 0, []
    for payout_id in payout_ids:
        try:
            approve(admin, payout_id, "bulk approval")
            approved += 1
        except DomainError as exc:
            db.session.rollback()
            problems.append(f"Payout {payout_id}: {exc.message}")
    return approved, problems


def _give_back(payout: Payout, to: PayoutStatus, actor_id: int | None, reason: str) -> None:
    _move(payout, to, actor_id, reason)
    payout.reason = reason
    ledger.return_payout(payout.creator_id, payout.credits, payout.id)


def reject(admin: User, payout_id: int, reason: str) -> Payout:
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= REASON_MAX:
        raise ValidationFailed({"reason": REJECT_REASON})
    payout = get(payout_id)
    _give_back(payout, PayoutStatus.REJECTED, admin.id, reason)
    _notify(payout, f"Your payout of {payout.credits:,} credits was rejected: {reason}")
    audit.record("payout.rejected", actor_id=admin.id, target=("payout", payout.id), note=reason)
    db.session.commit()
    return payout


def mark_paid(admin: User, payout_id: int, reference: str) -> Payout:
    """A manual bank transfer was made: approved → processing → paid, with the reference."""
    reference = " ".join(reference.split())
    if not 3 <= len(reference) <= REFERENCE_MAX:
        raise ValidationFailed({"reference": BANK_REFERENCE})
    payout = get(payout_id)
    if payout.method_kind != "manual":
        raise DomainError("Provider payouts are paid by the worker, not by hand.")
    _move(payout, PayoutStatus.PROCESSING, admin.id, "bank transfer sent")
    _move(payout, PayoutStatus.PAID, admin.id, f"reference {reference}")
    payout.reference = reference
    _notify(payout, f"Your payout of {payout.credits:,} credits was paid (ref. {reference}).")
    audit.record(
        "payout.marked_paid", actor_id=admin.id, target=("payout", payout.id), note=reference
    )
    db.session.commit()
    return payout


# --- the worker ---------------------------------------------------------------------------------


def route(payout_id: int) -> str:
    """Score a new request; approve it without an admin when small and low-risk."""

    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.status != PayoutStatus.REQUESTED:
        return "not requested"
    creator = db.session.get(User, payout.creator_id)
    assessment = risk.assess(risk.Signals("payout", creator, payout=payout))
    payout.risk_score = assessment.score
    db.session.flush()
    small = payout.credits < current_app.config["PAYOUT_AUTO_APPROVE_CREDITS"]
    if small and assessment.decision == "allow":
        note = f"approved automatically (risk {assessment.score})"
        _move(payout, PayoutStatus.APPROVED, None, note)
        audit.record("payout.approved", actor_id=None, target=("payout", payout.id), auto=True)
        _dispatch_if_provider(payout)
        db.session.commit()
        return "approved"
    db.session.commit()
    return "review"


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 240))


def _claim(payout_id: int, now: dt.datetime) -> Payout | None:
    """approved → processing, or take back a processing payout whose retry time came."""
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.method_kind == "manual":
        return None
    if payout.status == PayoutStatus.APPROVED:
        _move(payout, PayoutStatus.PROCESSING, None, "sending to the provider")
    elif not (
        payout.status == PayoutStatus.PROCESSING
        and payout.next_attempt_at is not None
        and payout.next_attempt_at <= now
    ):
        db.session.rollback()
        return None
    claimed = db.session.execute(
        update(Payout)
        .where(
            Payout.id == payout.id,
            Payout.status == PayoutStatus.PROCESSING,
            Payout.attempts == payout.attempts,  # another worker took this attempt
        )
        .values(attempts=Payout.attempts + 1, next_attempt_at=now + STALE_AFTER),
        execution_options={"synchronize_session": False},
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    db.session.commit()  # processing, before the money moves: a crash leaves a retry behind
    db.session.refresh(payout)
    return payout


def execute(payout_id: int, now: dt.datetime | None = None) -> str:
    """Send one payout (worker). Safe to run any number of times."""
    now = now or clock.now()
    payout = _claim(payout_id, now)
    if payout is None:
        return "nothing to do"
    method = db.session.get(PayoutMethod, payout.method_id)
    try:
        if payout.provider_ref:
            result = payout_providers.check(payout) or payout_providers.send(payout, method)
        else:
            result = payout_providers.send(payout, method)
    except payout_providers.Transient as exc:
        return _retry_later(payout_id, now, str(exc))
    except payout_providers.Permanent as exc:
        return _fail(payout_id, str(exc))
    payout = db.session.get(Payout, payout_id)
    payout.provider_ref = result.ref
    if result.state == "pending":
        payout.next_attempt_at = now + POLL_EVERY
        db.session.commit()
        return "pending"
    _move(payout, PayoutStatus.PAID, None, f"provider reference {result.ref}")
    payout.next_attempt_at = None
    _notify(payout, f"Your payout of {payout.credits:,} credits was paid.")
    audit.record("payout.paid", actor_id=None, target=("payout", payout.id), ref=result.ref)
    db.session.commit()
    return "paid"


def _retry_later(payout_id: int, now: dt.datetime, error: str) -> str:
    payout = db.session.get(Payout, payout_id)
    if payout.attempts >= current_app.config["PAYOUT_MAX_ATTEMPTS"]:
        return _fail(payout_id, f"gave up after {payout.attempts} attempts: {error}")
    payout.next_attempt_at = now + _backoff(payout.attempts)
    payout.reason = f"attempt {payout.attempts} failed: {error}"
    db.session.add(
        PayoutEvent(
            payout_id=payout.id,
            from_status=PayoutStatus.PROCESSING,
            to_status=PayoutStatus.PROCESSING,
            note=f"attempt {payout.attempts} failed ({error}); retrying at "
            f"{payout.next_attempt_at:%Y-%m-%d %H:%M} UTC",
        )
    )
    db.session.commit()
    log.warning("payout %s attempt %s failed: %s", payout_id, payout.attempts, error)
    return "retry"


def _fail(payout_id: int, error: str) -> str:
    payout = db.session.get(Payout, payout_id)
    _give_back(payout, PayoutStatus.FAILED, None, error)
    payout.next_attempt_at = None
    _notify(
        payout,
        f"Your payout of {payout.credits:,} credits failed and the credits are back in your "
        f"available earnings: {error}",
    )
    audit.record("payout.failed", actor_id=None, target=("payout", payout.id), note=error)
    db.session.commit()
    return "failed"


def due_ids(now: dt.datetime) -> list[int]:
    """Payouts to (re)send: approved ones whose job got lost, and processing ones due again."""
    return list(
        db.session.scalars(
            select(Payout.id).where(
                Payout.method_kind != "manual",
                or_(
                    Payout.status == PayoutStatus.APPROVED,
                    (Payout.status == PayoutStatus.PROCESSING) & (Payout.next_attempt_at <= now),
                ),
            )
        )
    )


def retry_due(now: dt.datetime | None = None) -> dict[str, int]:
    now = now or clock.now()
    outcomes: dict[str, int] = {}
    for payout_id in due_ids(now):
        try:
            outcome = execute(payout_id, now)
        except Exception:
            db.session.rollback()
            log.exception("payout %s could not be executed", payout_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
