"""The risk engine (docs/security.md#risk-engine): explicit rules → a score from 0 to 100 with
reasons → a decision.

Each rule is a small function of a `Signals` object returning `(points, reason)` or None. The
score is the sum of the points, capped at 100; thresholds from the configuration decide:

    score < RISK_STEP_UP  → allow
    score < RISK_REVIEW   → step_up (a second factor: TOTP, or an emailed code)
    score < RISK_BLOCK    → review  (allowed, and an alert for admins)
    otherwise             → block   (refused, and an alert)

Every assessment is stored as a `RiskEvent` with its reasons. Login scoring runs inline, so the
facts its rules need are indexed lookups read in one statement (`Signals.counts`) and its event
is stored in the login's own transaction (bench/risk.py measures it); purchases and payouts are
scored by a worker job; `sweep()` runs periodically for patterns across accounts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core import clock
from extensions import db
from models import (
    Alert,
    Device,
    Entry,
    LedgerAccount,
    LoginAttempt,
    Order,
    OrderStatus,
    Payout,
    PayoutMethod,
    PayoutStatus,
    RiskEvent,
    Transfer,
    User,
    UserDevice,
    UserSession,
)

Rule = Callable[["Signals"], tuple[int, str] | None]


@dataclass
class Signals:
    """What the rules may look at. The account and device facts (`counts`) are read in one
    statement the first time a rule needs them; other rules query what they need."""

    kind: str
    user: User | None
    ip: str | None = None
    fingerprint: str | None = None
    now: dt.datetime = field(default_factory=clock.now)
    order: Order | None = None
    payout: Payout | None = None

    @cached_property
    def counts(self) -> Counts:
        return _read_counts(self)


@dataclass
class Counts:
    """Facts about the account, its device and its IP address, as of the first read."""

    device_id: int | None = None  # the device with this fingerprint, if it was ever seen
    on_this_device: bool = False  # the account has used this device before (logins only)
    has_devices: bool = False  # the account has used any device before (logins only)
    device_others: int = 0  # other accounts that used this device
    ip_others: int = 0  # other accounts with a session from this IP in the last 30 days
    failed_logins: int = 0  # failed logins for the account's address in 30 minutes (logins)
    disputed_orders: int = 0
    refunded_orders: int = 0


def _read_counts(s: Signals) -> Counts:
    """One SELECT of scalar subqueries, one per fact the signals allow: a login is scored
    inline, and on PostgreSQL each statement is a round trip (bench/risk.py)."""
    me = s.user.id if s.user else -1
    facts = {}
    if s.fingerprint:
        facts["device_id"] = (
            select(Device.id).where(Device.fingerprint == s.fingerprint).scalar_subquery()
        )
        facts["device_others"] = (
            select(func.count(UserDevice.id))
            .join(Device, Device.id == UserDevice.device_id)
            .where(Device.fingerprint == s.fingerprint, UserDevice.user_id != me)
            .scalar_subquery()
        )
    if s.ip:
        facts["ip_others"] = (
            select(func.count(func.distinct(UserSession.user_id)))
            .where(
                UserSession.ip == s.ip,
                UserSession.created_at >= s.now - dt.timedelta(days=30),
                UserSession.user_id != me,
            )
            .scalar_subquery()
        )
    if s.user is not None and s.kind == "login":
        if s.fingerprint:
            facts["on_this_device"] = (
                select(UserDevice.id)
                .join(Device, Device.id == UserDevice.device_id)
                .where(UserDevice.user_id == s.user.id, Device.fingerprint == s.fingerprint)
                .exists()
            )
        facts["has_devices"] = select(UserDevice.id).where(UserDevice.user_id == s.user.id).exists()
        facts["failed_logins"] = (
            select(func.count(LoginAttempt.id))
            .where(
                LoginAttempt.email == s.user.email,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at >= s.now - dt.timedelta(minutes=30),
            )
            .scalar_subquery()
        )
    if s.user is not None:
        for name, status in (("disputed_orders", "disputed"), ("refunded_orders", "refunded")):
            facts[name] = (
                select(func.count(Order.id))
                .where(Order.user_id == s.user.id, Order.status == status)
                .scalar_subquery()
            )
    if not facts:
        return Counts()
    row = db.session.execute(select(*(fact.label(name) for name, fact in facts.items()))).one()
    values = row._asdict()
    for flag in ("on_this_device", "has_devices"):  # SQLite answers EXISTS with 0 or 1
        if flag in values:
            values[flag] = bool(values[flag])
    return Counts(**{name: value for name, value in values.items() if value is not None})


# --- rules -----------------------------------------------------------------------------------


def new_device(s: Signals) -> tuple[int, str] | None:
    if s.user is None or s.kind != "login":
        return None
    if s.fingerprint is None:
        return 10, "No device check from this browser (scripts blocked or tampered)"
    if not s.counts.on_this_device and s.counts.has_devices:
        return 15, "Sign-in from a device this account never used"
    return None


def shared_device(s: Signals) -> tuple[int, str] | None:
    if s.fingerprint is None:
        return None
    others = s.counts.device_others
    if others >= 5:
        return 35, f"Device shared by {others} other accounts"
    if others >= 2:
        return 20, f"Device shared by {others} other accounts"
    return None


def shared_ip(s: Signals) -> tuple[int, str] | None:
    if not s.ip:
        return None
    accounts = s.counts.ip_others
    if accounts >= 10:
        return 25, f"IP address used by {accounts} other accounts this month"
    if accounts >= 4:
        return 10, f"IP address used by {accounts} other accounts this month"
    return None


def failed_login_velocity(s: Signals) -> tuple[int, str] | None:
    if s.user is None or s.kind != "login":
        return None
    failures = s.counts.failed_logins
    if failures >= 8:
        return 30, f"{failures} failed logins in 30 minutes"
    if failures >= 3:
        return 15, f"{failures} failed logins in 30 minutes"
    return None


def account_age(s: Signals) -> tuple[int, str] | None:
    if s.user is None or s.kind not in ("purchase", "payout"):
        return None
    age = s.now - s.user.created_at
    if age < dt.timedelta(hours=1):
        return 15, "Account less than an hour old"
    if age < dt.timedelta(days=1):
        return 5, "Account less than a day old"
    return None


def purchase_velocity(s: Signals) -> tuple[int, str] | None:
    if s.user is None or s.kind != "purchase":
        return None
    since = s.now - dt.timedelta(hours=1)
    orders = db.session.scalar(
        select(func.count(Order.id)).where(Order.user_id == s.user.id, Order.created_at >= since)
    )
    if orders >= 6:
        return 30, f"{orders} purchases started in an hour"
    if orders >= 3:
        return 10, f"{orders} purchases started in an hour"
    return None


def refunds_and_chargebacks(s: Signals) -> tuple[int, str] | None:
    if s.user is None:
        return None
    disputed, refunded = s.counts.disputed_orders, s.counts.refunded_orders
    if disputed:
        return 60, f"{disputed} chargeback(s) on this account"
    if refunded >= 2:
        return 15, f"{refunded} refunded purchases"
    return None


def new_payout_method(s: Signals) -> tuple[int, str] | None:
    if s.payout is None:
        return None
    method = db.session.get(PayoutMethod, s.payout.method_id)
    if method is not None and s.now - method.created_at < dt.timedelta(hours=72):
        return 30, "Payout to a method added less than 3 days ago"
    return None


def first_large_payout(s: Signals) -> tuple[int, str] | None:
    if s.payout is None:
        return None
    paid_before = db.session.scalar(
        select(func.count(Payout.id)).where(
            Payout.creator_id == s.payout.creator_id, Payout.status == PayoutStatus.PAID
        )
    )
    if not paid_before and s.payout.credits >= 5 * current_app.config["PAYOUT_MIN_CREDITS"]:
        return 15, f"First payout, and a large one ({s.payout.credits:,} credits)"
    return None


def _payers(creator_id: int, since: dt.datetime) -> list[tuple[int, int]]:
    """(fan id, credits paid) of the fans who paid this creator since `since`."""

    creator_entry, fan_entry = aliased(Entry), aliased(Entry)
    earnings, wallet = aliased(LedgerAccount), aliased(LedgerAccount)
    return [
        (fan_id, int(paid))
        for fan_id, paid in db.session.execute(
            select(wallet.user_id, func.sum(-fan_entry.amount))
            .select_from(creator_entry)
            .join(earnings, earnings.id == creator_entry.account_id)
            .join(Transfer, Transfer.id == creator_entry.transfer_id)
            .join(fan_entry, fan_entry.transfer_id == creator_entry.transfer_id)
            .join(wallet, wallet.id == fan_entry.account_id)
            .where(
                earnings.user_id == creator_id,
                earnings.kind == "earnings_pending",
                creator_entry.amount > 0,
                wallet.kind == "wallet",
                fan_entry.amount < 0,
                Transfer.created_at >= since,
            )
            .group_by(wallet.user_id)
        ).all()
    ]


def paid_by_linked_accounts(s: Signals) -> tuple[int, str] | None:
    """Self-dealing: the creator's earnings come from accounts on the creator's own devices."""
    if s.payout is None:
        return None
    payers = [fan_id for fan_id, _ in _payers(s.payout.creator_id, s.now - dt.timedelta(days=90))]
    if not payers:
        return None
    own_devices = select(UserDevice.device_id).where(UserDevice.user_id == s.payout.creator_id)
    linked = db.session.scalar(
        select(func.count(func.distinct(UserDevice.user_id))).where(
            UserDevice.user_id.in_(payers), UserDevice.device_id.in_(own_devices)
        )
    )
    if linked:
        return 50, f"{linked} paying fan(s) use the creator's own device"
    return None


def earnings_concentration(s: Signals) -> tuple[int, str] | None:
    if s.payout is None:
        return None
    payers = _payers(s.payout.creator_id, s.now - dt.timedelta(days=30))
    total = sum(paid for _, paid in payers)
    if total < current_app.config["PAYOUT_MIN_CREDITS"] or len(payers) == 0:
        return None
    top = max(paid for _, paid in payers)
    if top * 100 >= total * 80:
        return 20, f"{top * 100 // total}% of the last 30 days' earnings come from one fan"
    return None


DECLINED_REASON = "This purchase was declined by our security checks. Contact support."

RULES: list[Rule] = [
    new_device,
    shared_device,
    shared_ip,
    failed_login_velocity,
    account_age,
    purchase_velocity,
    refunds_and_chargebacks,
    new_payout_method,
    first_large_payout,
    paid_by_linked_accounts,
    earnings_concentration,
]


# --- scoring -------------------------------------------------------------------------------


@dataclass
class Assessment:
    score: int
    decision: str
    reasons: list[dict]


def decide(score: int) -> str:
    config = current_app.config
    if score >= config["RISK_BLOCK"]:
        return "block"
    if score >= config["RISK_REVIEW"]:
        return "review"
    if score >= config["RISK_STEP_UP"]:
        return "step_up"
    return "allow"


def evaluate(signals: Signals, rules: list[Rule] | None = None) -> Assessment:
    reasons = []
    for rule in rules if rules is not None else RULES:
        result = rule(signals)
        if result is not None:
            points, reason = result
            reasons.append({"rule": rule.__name__, "points": points, "reason": reason})
    score = min(100, sum(r["points"] for r in reasons))
    return Assessment(score=score, decision=decide(score), reasons=reasons)


def assess(signals: Signals) -> Assessment:
    """Evaluate, store the RiskEvent, and raise an alert for review/block. Caller commits."""
    return _store(signals, evaluate(signals))


def record(signals: Signals, reasons: list[dict]) -> Assessment:
    """Store an assessment whose reasons were computed elsewhere (anti-spam). Caller commits."""
    score = min(100, sum(r["points"] for r in reasons))
    return _store(signals, Assessment(score=score, decision=decide(score), reasons=reasons))


REPEATS = "later messages scored"  # on a message_burst alert: how many scored since it opened


def _update_open_alert(
    user_id: int, kind: str, assessment: Assessment, severity: str, summary: str
) -> bool:
    """Fold this assessment into the user's unresolved alert of `kind`, if there is one."""
    pending = db.session.scalar(
        select(Alert)
        .where(
            Alert.user_id == user_id,
            Alert.kind == kind,
            Alert.is_unresolved,
        )
        .order_by(Alert.id.desc())
        .limit(1)
    )
    if pending is None:
        return False
    if severity == "high" or assessment.score >= (pending.score or 0):
        pending.summary = summary
    pending.score = max(pending.score or 0, assessment.score)
    if severity == "high":
        pending.severity = "high"
    detail = pending.detail or {}
    pending.detail = {
        **detail,
        "reasons": assessment.reasons,
        REPEATS: int(detail.get(REPEATS, 0)) + 1,
    }
    return True


def _store(signals: Signals, assessment: Assessment) -> Assessment:
    device = signals.counts.device_id if signals.fingerprint else None
    db.session.add(
        RiskEvent(
            user_id=signals.user.id if signals.user else None,
            kind=signals.kind,
            score=assessment.score,
            decision=assessment.decision,
            reasons=assessment.reasons,
            ip=signals.ip,
            device_id=device,
            created_at=signals.now,
        )
    )
    queue_it = assessment.decision in ("review", "block") or (
        signals.kind == "message_burst" and assessment.decision != "allow"
    )
    if queue_it:
        top = max(assessment.reasons, key=lambda r: r["points"])
        kind = f"risk_{signals.kind}"
        severity = "high" if assessment.decision == "block" else "medium"
        summary = (
            f"{signals.kind.capitalize()} scored {assessment.score} "
            f"({assessment.decision}): {top['reason']}"
        )
        # A burst sender scores on every message: one open alert per sender for the queue,
        # brought up to date (each message's RiskEvent stays as evidence).
        burst = signals.kind == "message_burst" and signals.user is not None
        if burst and _update_open_alert(signals.user.id, kind, assessment, severity, summary):
            return assessment
        db.session.add(
            Alert(
                kind=kind,
                severity=severity,
                user_id=signals.user.id if signals.user else None,
                score=assessment.score,
                summary=summary,
                detail={
                    "reasons": assessment.reasons,
                    "ip": signals.ip,
                    "order_id": signals.order.id if signals.order else None,
                    "payout_id": signals.payout.id if signals.payout else None,
                },
            )
        )
    return assessment


def assess_login(user: User, ip: str | None, fingerprint: str | None) -> Assessment:
    """Score a sign-in inline. Caller commits: the RiskEvent and any alert are stored in the
    login's own transaction (`accounts.log_in`), with no commit (a disk flush) of their own."""
    return assess(Signals("login", user, ip=ip, fingerprint=fingerprint))


def assess_purchase(order_id: int) -> Assessment | None:
    """On the worker: a high-risk purchase still waiting for payment is declined."""
    order = db.session.get(Order, order_id)
    if order is None:
        return None
    assessment = assess(Signals("purchase", order.user, order=order))
    if assessment.decision == "block" and order.status == OrderStatus.PENDING:
        order.status = OrderStatus.FAILED
        order.failure_reason = DECLINED_REASON
    db.session.commit()
    return assessment


def sweep(now: dt.datetime | None = None) -> int:
    """Periodic: devices shared by many accounts; one open alert per device. Returns how many
    new alerts were raised."""
    now = now or clock.now()
    raised = 0
    crowded = db.session.execute(
        select(UserDevice.device_id, func.count(UserDevice.user_id))
        .group_by(UserDevice.device_id)
        .having(func.count(UserDevice.user_id) >= 3)
    ).all()
    for device_id, count in crowded:
        existing = db.session.scalar(
            select(Alert.id).where(
                Alert.kind == "multi_account_device",
                Alert.is_unresolved,
                Alert.detail["device_id"].as_integer() == device_id,
            )
        )
        if existing is not None:
            continue
        users = db.session.scalars(
            select(UserDevice.user_id).where(UserDevice.device_id == device_id)
        ).all()
        db.session.add(
            Alert(
                kind="multi_account_device",
                severity="medium",
                score=min(100, 20 * count),
                summary=f"{count} accounts use the same device",
                detail={"device_id": device_id, "user_ids": list(users)},
                created_at=now,
            )
        )
        raised += 1
    db.session.commit()
    return raised


# --- reading -----------------------------------------------------------------------------------


def payout_assessment(payout: Payout) -> RiskEvent | None:
    """The stored assessment behind `payout.risk_score`: the creator's first payout assessment
    since the request with that score. `payouts.route` scores each payout once, right after it
    is requested; the event carries no payout id, so this is the event routing stored then."""
    if payout.risk_score is None:
        return None
    return db.session.scalar(
        select(RiskEvent)
        .where(
            RiskEvent.user_id == payout.creator_id,
            RiskEvent.kind == "payout",
            RiskEvent.score == payout.risk_score,
            RiskEvent.created_at >= payout.created_at,
        )
        .order_by(RiskEvent.created_at, RiskEvent.id)
        .limit(1)
    )
