"""The figures of the analytics page, counted in SQL over a window: logins and failures, 2FA
adoption, the risk score distribution, alerts by rule, the riskiest IPs and devices, and credits
issued, spent and paid out. Every function takes `(now, range_key)` and only reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, distinct, func, or_, select

from extensions import db
from models import (
    Alert,
    Device,
    Entry,
    LedgerAccount,
    LoginAttempt,
    RiskEvent,
    Transfer,
    User,
    UserStatus,
)
from services.analytics.windows import Window, bucket_label, in_window, window
from services.ledger import SPEND_KINDS

TOP_SOURCES = 10


# --- logins ----------------------------------------------------------------------------------


@dataclass
class LoginBucket:
    start: dt.datetime
    succeeded: int = 0
    failed_password: int = 0
    failed_second_factor: int = 0

    @property
    def failed(self) -> int:
        return self.failed_password + self.failed_second_factor


def logins(now: dt.datetime, range_key: str) -> list[LoginBucket]:
    """Completed logins and failed attempts (wrong password, wrong second factor) per bucket."""
    w = window(now, range_key)
    buckets = [LoginBucket(start) for start in w.starts]
    index = w.index()
    label = bucket_label(LoginAttempt.created_at, w.hourly)
    rows = db.session.execute(
        select(label, LoginAttempt.succeeded, LoginAttempt.stage, func.count())
        .where(in_window(LoginAttempt.created_at, w))
        .group_by(label, LoginAttempt.succeeded, LoginAttempt.stage)
    ).all()
    for key, succeeded, stage, count in rows:
        bucket = buckets[index[key]]
        if succeeded:
            bucket.succeeded += count
        elif stage == "second_factor":
            bucket.failed_second_factor += count
        else:
            bucket.failed_password += count
    return buckets


# --- 2FA adoption ------------------------------------------------------------------------------


@dataclass
class Adoption:
    label: str
    with_2fa: int
    total: int

    @property
    def without_2fa(self) -> int:
        return self.total - self.with_2fa

    @property
    def percent(self) -> int:
        return round(100 * self.with_2fa / self.total) if self.total else 0


@dataclass
class TwoFactorAdoption:
    members: Adoption
    admins: Adoption
    enabled_in_range: int  # accounts that turned 2FA on in the range and still have it


def two_factor_adoption(now: dt.datetime, range_key: str) -> TwoFactorAdoption:
    """Active accounts with TOTP on, members and admins apart (admins must all have it)."""
    w = window(now, range_key)
    is_admin = User.role == "admin"
    rows = db.session.execute(
        select(is_admin, func.count(), func.count(User.totp_enabled_at))
        .where(User.status == UserStatus.ACTIVE, User.created_at <= now)
        .group_by(is_admin)
    ).all()
    counts = {bool(admin): (int(total), int(enabled)) for admin, total, enabled in rows}
    members_total, members_2fa = counts.get(False, (0, 0))
    admins_total, admins_2fa = counts.get(True, (0, 0))
    enabled = db.session.scalar(
        select(func.count()).select_from(User).where(in_window(User.totp_enabled_at, w))
    )
    return TwoFactorAdoption(
        members=Adoption("Members", members_2fa, members_total),
        admins=Adoption("Admins", admins_2fa, admins_total),
        enabled_in_range=enabled or 0,
    )


# --- risk scores -------------------------------------------------------------------------------


@dataclass
class ScoreBand:
    low: int
    high: int
    by_kind: dict[str, int]

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high}"

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass
class RiskDistribution:
    bands: list[ScoreBand]  # 0–9, 10–19, …, 90–100
    kinds: list[str]  # what was scored (login, purchase, …), most frequent first
    by_decision: dict[str, int]

    @property
    def total(self) -> int:
        return sum(band.total for band in self.bands)


DECISIONS = ("allow", "step_up", "review", "block")


def risk_distribution(now: dt.datetime, range_key: str) -> RiskDistribution:
    w = window(now, range_key)
    band = RiskEvent.score // 10
    rows = db.session.execute(
        select(RiskEvent.kind, band, func.count())
        .where(in_window(RiskEvent.created_at, w))
        .group_by(RiskEvent.kind, band)
    ).all()
    per_kind: dict[str, int] = {}
    for kind, _, count in rows:
        per_kind[kind] = per_kind.get(kind, 0) + count
    kinds = sorted(per_kind, key=lambda k: (-per_kind[k], k))
    bands = [
        ScoreBand(low, low + (10 if low == 90 else 9), dict.fromkeys(kinds, 0))
        for low in range(0, 100, 10)
    ]
    for kind, tens, count in rows:
        bands[min(int(tens), 9)].by_kind[kind] += count  # 100 belongs to the 90–100 band
    decisions = dict(
        db.session.execute(
            select(RiskEvent.decision, func.count())
            .where(in_window(RiskEvent.created_at, w))
            .group_by(RiskEvent.decision)
        ).all()
    )
    return RiskDistribution(
        bands=bands, kinds=kinds, by_decision={d: decisions.get(d, 0) for d in DECISIONS}
    )


# --- alerts ------------------------------------------------------------------------------------


@dataclass
class AlertCount:
    kind: str
    count: int
    unresolved: int  # still open or being investigated

    @property
    def label(self) -> str:
        return humanize(self.kind)


@dataclass
class AlertsByRule:
    kinds: list[AlertCount]  # most frequent first
    risk_rules: list[tuple[str, int]]  # risk alerts by the rule that weighed most

    @property
    def total(self) -> int:
        return sum(row.count for row in self.kinds)


def humanize(name: str) -> str:
    """`risk_login` → "Risk: login", `failed_login_velocity` → "Failed login velocity"."""
    if name.startswith("risk_"):
        return f"Risk: {name[5:].replace('_', ' ')}"
    return name.replace("_", " ").capitalize()


def alerts_by_rule(now: dt.datetime, range_key: str) -> AlertsByRule:
    w = window(now, range_key)
    unresolved = func.count(Alert.id).filter(Alert.is_unresolved)
    rows = db.session.execute(
        select(Alert.kind, func.count(Alert.id), unresolved)
        .where(in_window(Alert.created_at, w))
        .group_by(Alert.kind)
    ).all()
    kinds = sorted(
        (AlertCount(kind, count, open_) for kind, count, open_ in rows),
        key=lambda row: (-row.count, row.kind),
    )
    # The rule behind a risk alert lives in its JSON detail: read those (a few per day) here.
    rules: dict[str, int] = {}
    for detail in db.session.scalars(
        select(Alert.detail).where(
            in_window(Alert.created_at, w), Alert.kind.like("risk\\_%", "\\")
        )
    ):
        reasons = (detail or {}).get("reasons") or []
        if reasons:
            top = max(reasons, key=lambda r: r.get("points", 0)).get("rule") or "unknown"
            rules[top] = rules.get(top, 0) + 1
    return AlertsByRule(
        kinds=kinds, risk_rules=sorted(rules.items(), key=lambda item: (-item[1], item[0]))
    )


# --- risky IPs and devices -----------------------------------------------------------------------


@dataclass
class RiskySource:
    label: str  # the IP, or the first 12 characters of the device fingerprint
    events: int
    max_score: int
    avg_score: float
    accounts: int
    last_seen: dt.datetime


def _risky(key, w: Window, *joins) -> list[tuple]:
    query = select(
        *key,
        func.count(RiskEvent.id),
        func.max(RiskEvent.score),
        func.avg(RiskEvent.score),
        func.count(distinct(RiskEvent.user_id)),
        func.max(RiskEvent.created_at),
    )
    for target, on in joins:
        query = query.join(target, on)
    return db.session.execute(
        query.where(in_window(RiskEvent.created_at, w))
        .group_by(*key)
        .order_by(func.max(RiskEvent.score).desc(), func.count(RiskEvent.id).desc(), *key)
        .limit(TOP_SOURCES)
    ).all()


def top_risky_ips(now: dt.datetime, range_key: str) -> list[RiskySource]:
    w = window(now, range_key)
    rows = _risky((RiskEvent.ip,), w)
    return [
        RiskySource(ip, events, top, round(float(avg), 1), accounts, last)
        for ip, events, top, avg, accounts, last in rows
        if ip is not None
    ]


def top_risky_devices(now: dt.datetime, range_key: str) -> list[RiskySource]:
    w = window(now, range_key)
    rows = _risky((Device.id, Device.fingerprint), w, (Device, Device.id == RiskEvent.device_id))
    return [
        RiskySource(fingerprint[:12], events, top, round(float(avg), 1), accounts, last)
        for _, fingerprint, events, top, avg, accounts, last in rows
    ]


# --- credits -----------------------------------------------------------------------------------


@dataclass
class CreditBucket:
    start: dt.datetime
    issued: int = 0  # into wallets: purchases and support credits
    spent: int = 0  # fans → creators and the platform (messages, tips, unlocks, calls, …)
    payouts_requested: int = 0  # available earnings → payouts_clearing
    payouts_returned: int = 0  # rejected or failed payouts given back
    taken_back: int = 0  # refunds and chargebacks, wallets → payments_clearing

    @property
    def paid_out(self) -> int:
        return self.payouts_requested - self.payouts_returned


ISSUING = ("purchase", "adjustment")
SPENDING = (*SPEND_KINDS, "call_settle")  # a call's charge is settled from its hold


def credits(now: dt.datetime, range_key: str) -> list[CreditBucket]:
    """Credits per bucket, read from the ledger entries that define each flow:

    * issued: positive wallet entries of purchases and adjustments (not of reversals);
    * spent: what reached creators' pending earnings and platform revenue from spending (for a
      call, the settled charge rather than the hold);
    * paid out: payout requests into payouts_clearing minus payouts returned from it;
    * taken back: refunds and chargebacks into payments_clearing.
    """
    w = window(now, range_key)
    buckets = [CreditBucket(start) for start in w.starts]
    index = w.index()
    label = bucket_label(Transfer.created_at, w.hourly)
    flows = or_(
        and_(
            Transfer.kind.in_(ISSUING),
            Transfer.reverses_id.is_(None),
            LedgerAccount.kind == "wallet",
            Entry.amount > 0,
        ),
        and_(
            Transfer.kind.in_(SPENDING),
            LedgerAccount.kind.in_(("earnings_pending", "platform_revenue")),
            Entry.amount > 0,
        ),
        and_(
            Transfer.kind.in_(("payout", "payout_reversal")),
            LedgerAccount.kind == "payouts_clearing",
        ),
        and_(
            Transfer.kind.in_(("refund", "chargeback")),
            LedgerAccount.kind == "payments_clearing",
            Entry.amount > 0,
        ),
    )
    rows = db.session.execute(
        select(label, Transfer.kind, func.sum(Entry.amount))
        .select_from(Entry)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
        .where(in_window(Transfer.created_at, w), flows)
        .group_by(label, Transfer.kind)
    ).all()
    for key, kind, amount in rows:
        bucket, amount = buckets[index[key]], int(amount)
        if kind in ISSUING:
            bucket.issued += amount
        elif kind in SPENDING:
            bucket.spent += amount
        elif kind == "payout":
            bucket.payouts_requested += amount
        elif kind == "payout_reversal":
            bucket.payouts_returned -= amount  # leaves payouts_clearing: a negative entry
        else:
            bucket.taken_back += amount
    return buckets
