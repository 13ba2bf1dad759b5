"""Security analytics for admins: logins and failures over time, 2FA adoption, risk
score distribution, alerts by rule, the riskiest IPs and devices, and credits issued, spent and
paid out, over the last 24 hours (hourly buckets), 7 or 30 days (daily buckets).

Every function takes `(now, range_key)` and reads only: rows are counted in SQL, grouped by a
bucket label that SQLite (`strftime`) and PostgreSQL (`to_char`) format the same way. The charts
are plain geometry (`Plot`) that the template draws as SVG, so they need no JavaScript.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

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
from services.earnings import Bar
from services.ledger import SPEND_KINDS
from services.risk import decide

# range key → (label, hourly?, number of buckets)
RANGES = {
    "24h": ("Last 24 hours", True, 24),
    "7d": ("Last 7 days", False, 7),
    "30d": ("Last 30 days", False, 30),
}
TOP_SOURCES = 10


class UnknownRange(ValueError):
    pass


# --- time buckets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Buckets (hours or days) starting at `starts`, the last one holding `now`; rows count
    from `start` to `now` inclusive."""

    key: str
    label: str
    hourly: bool
    starts: tuple[dt.datetime, ...]
    now: dt.datetime

    @property
    def start(self) -> dt.datetime:
        return self.starts[0]

    def index(self) -> dict[str, int]:
        """Bucket label (as the database formats it) → bucket position."""
        fmt = "%Y-%m-%d %H" if self.hourly else "%Y-%m-%d"
        return {start.strftime(fmt): i for i, start in enumerate(self.starts)}

    def short_label(self, start: dt.datetime) -> str:
        return f"{start:%H}:00" if self.hourly else f"{start:%b} {start.day}"

    def long_label(self, start: dt.datetime) -> str:
        day = f"{start:%a} {start.day} {start:%b}"
        return f"{day} {start:%H}:00" if self.hourly else day


def window(now: dt.datetime, range_key: str) -> Window:
    if range_key not in RANGES:
        raise UnknownRange(f"Unknown range {range_key!r}: use one of {', '.join(RANGES)}.")
    label, hourly, count = RANGES[range_key]
    if hourly:
        last = now.replace(minute=0, second=0, microsecond=0)
        step = dt.timedelta(hours=1)
    else:
        last = dt.datetime.combine(now.date(), dt.time())
        step = dt.timedelta(days=1)
    starts = tuple(last - step * (count - 1 - i) for i in range(count))
    return Window(key=range_key, label=label, hourly=hourly, starts=starts, now=now)


def _bucket(column, hourly: bool):
    """A SQL expression naming the bucket of a timestamp, formatted like `Window.index()`."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24" if hourly else "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d", column)


def _within(column, w: Window):
    return and_(column >= w.start, column <= w.now)


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
    label = _bucket(LoginAttempt.created_at, w.hourly)
    rows = db.session.execute(
        select(label, LoginAttempt.succeeded, LoginAttempt.stage, func.count())
        .where(_within(LoginAttempt.created_at, w))
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
        select(func.count()).select_from(User).where(_within(User.totp_enabled_at, w))
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
        .where(_within(RiskEvent.created_at, w))
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
            .where(_within(RiskEvent.created_at, w))
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
        .where(_within(Alert.created_at, w))
        .group_by(Alert.kind)
    ).all()
    kinds = sorted(
        (AlertCount(kind, count, open_) for kind, count, open_ in rows),
        key=lambda row: (-row.count, row.kind),
    )
    # The rule behind a risk alert lives in its JSON detail: read those (a few per day) here.
    rules: dict[str, int] = {}
    for detail in db.session.scalars(
        select(Alert.detail).where(_within(Alert.created_at, w), Alert.kind.like("risk\\_%", "\\"))
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
        query.where(_within(RiskEvent.created_at, w))
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
    label = _bucket(Transfer.created_at, w.hourly)
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
        .where(_within(Transfer.created_at, w), flows)
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


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor


@dataclass
class Plot:
    """What the template draws: bars (from services.earnings), text labels and rule lines."""

    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)


WIDE, SMALL = 720, 400  # viewBox widths: a full-width card, a half-width card (text ≈ 13 px)
AXIS_ROOM = 22  # under the plot, for the bucket labels
TOP_ROOM = 16  # above it, for the scale


def columns(
    slots: list[tuple[str, str, dict[str, int]]],
    series: list[Series],
    *,
    stacked: bool = True,
    width: int = WIDE,
    height: int = 180,
    max_labels: int = 8,
    unit: str = "",
) -> Plot:
    """Vertical bars, one slot per `(axis label, long label, values)`, stacked or side by side.
    Side-by-side bars may go below zero (a day when more payouts came back than went out)."""
    if stacked:
        top = max((sum(max(v, 0) for v in values.values()) for *_, values in slots), default=0)
        bottom = 0
    else:
        every = [values.get(s.key, 0) for *_, values in slots for s in series]
        top, bottom = max([0, *every]), min([0, *every])
    span = (top - bottom) or 1
    scale = height / span
    zero = TOP_ROOM + top * scale
    plot = Plot(width=width, height=TOP_ROOM + height + AXIS_ROOM)
    slot = width / max(len(slots), 1)
    gap = min(4, slot / 6)
    step = max(1, math.ceil(len(slots) / max_labels))
    for i, (short, long, values) in enumerate(slots):
        x = i * slot + gap / 2
        inner = slot - gap
        stack_top = zero
        for j, s in enumerate(series):
            value = values.get(s.key, 0)
            if not value:
                continue
            size = max(1, round(abs(value) * scale))
            if stacked:
                stack_top -= size
                y, bx, bw = stack_top, x, inner
            else:
                bw = inner / len(series)
                bx = x + j * bw
                y = zero - size if value > 0 else zero
            plot.bars.append(
                Bar(
                    x=round(bx, 1),
                    y=round(y, 1),
                    width=max(round(bw - (0 if stacked else 1), 1), 1),
                    height=size,
                    color=s.color,
                    title=f"{long}: {s.label} {value:,}{unit}",
                )
            )
        if i % step == 0:
            center = min(max(i * slot + slot / 2, 20), width - 20)
            plot.labels.append(Label(center, TOP_ROOM + height + 16, short, "middle"))
    plot.lines.append((0, zero, width, zero))
    plot.lines.append((0, TOP_ROOM, width, TOP_ROOM))
    plot.labels.append(Label(width, TOP_ROOM - 4, f"{top:,}{unit}", "end"))
    if bottom < 0:
        plot.lines.append((0, TOP_ROOM + height, width, TOP_ROOM + height))
        plot.labels.append(Label(width, TOP_ROOM + height - 4, f"{bottom:,}{unit}", "end"))
    return plot


def rows(
    items: list[tuple[str, dict[str, int], str]],
    series: list[Series],
    *,
    width: int = SMALL,
    label_width: int = 110,
    value_width: int = 90,
    row_height: int = 24,
    full: int | None = None,
    per_row_full: bool = False,
) -> Plot:
    """Horizontal stacked bars, one row per `(label, values, note)`; the note is written after
    the bar. `full` is the value of a whole bar (the largest row by default); `per_row_full`
    makes each row a 100 % bar of its own total (shares)."""
    largest = max((sum(values.values()) for _, values, _ in items), default=0)
    room = width - label_width - value_width
    plot = Plot(width=width, height=max(len(items), 1) * row_height + 4)
    for i, (label, values, note) in enumerate(items):
        y = i * row_height + 4
        whole = sum(values.values()) if per_row_full else (full or largest)
        x = float(label_width)
        for s in series:
            value = values.get(s.key, 0)
            if not value:
                continue
            size = max(1.0, value * room / (whole or 1))
            plot.bars.append(
                Bar(
                    x=round(x, 1),
                    y=y,
                    width=round(size, 1),
                    height=row_height - 8,
                    color=s.color,
                    title=f"{label}: {s.label} {value:,}",
                )
            )
            x += size
        text_y = y + row_height / 2 + 1
        plot.labels.append(Label(0, text_y, _clip(label, int(label_width / 6.2))))
        plot.labels.append(Label(x + 6, text_y, note))
    return plot


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# --- the page ----------------------------------------------------------------------------------

LOGIN_SERIES = [
    Series("succeeded", "Logins", "#1b7f4b"),
    Series("failed_password", "Wrong password", "#b3261e"),
    Series("failed_second_factor", "Wrong 2FA code", "#ea580c"),
]
CREDIT_SERIES = [
    Series("issued", "Issued", "#2563eb"),
    Series("spent", "Spent", "#db2777"),
    Series("paid_out", "Paid out", "#7c3aed"),
]
TWO_FACTOR_SERIES = [
    Series("with_2fa", "With 2FA", "#1b7f4b"),
    Series("without_2fa", "Without 2FA", "#c9c1cf"),
]
ALERT_SERIES = [
    Series("unresolved", "Open or investigating", "#b3261e"),
    Series("resolved", "Resolved", "#9a93a0"),
]
DECISION_SERIES = [
    Series("allow", "Allow", "#1b7f4b"),
    Series("step_up", "Step up", "#a16207"),
    Series("review", "Review", "#ea580c"),
    Series("block", "Block", "#b3261e"),
]
KIND_COLORS = {
    "login": "#2563eb",
    "purchase": "#ea580c",
    "payout": "#7c3aed",
    "message_burst": "#db2777",
}
SPARE_COLORS = ("#059669", "#0891b2", "#a16207", "#4b5563")


def _kind_series(kinds: list[str]) -> list[Series]:
    spare = iter(SPARE_COLORS * 4)
    return [Series(k, humanize(k), KIND_COLORS.get(k) or next(spare, "#4b5563")) for k in kinds]


def _source_rows(sources: list[RiskySource]) -> list[tuple[str, dict[str, int], str]]:
    return [
        (s.label, {decide(s.max_score): s.max_score}, f"{s.max_score} · {s.events}×")
        for s in sources
    ]


def dashboard(now: dt.datetime, range_key: str) -> dict:
    """Everything the analytics page shows, numbers and charts. Raises UnknownRange."""
    w = window(now, range_key)
    login_buckets = logins(now, range_key)
    adoption = two_factor_adoption(now, range_key)
    distribution = risk_distribution(now, range_key)
    alerts = alerts_by_rule(now, range_key)
    ips, devices = top_risky_ips(now, range_key), top_risky_devices(now, range_key)
    credit_buckets = credits(now, range_key)
    kind_series = _kind_series(distribution.kinds)

    def slots(buckets, keys):
        return [
            (w.short_label(b.start), w.long_label(b.start), {k: getattr(b, k) for k in keys})
            for b in buckets
        ]

    login_keys = [s.key for s in LOGIN_SERIES]
    credit_keys = [s.key for s in CREDIT_SERIES]
    return {
        "window": w,
        "ranges": {key: label for key, (label, _, _) in RANGES.items()},
        "logins": login_buckets,
        "login_totals": {k: sum(getattr(b, k) for b in login_buckets) for k in login_keys},
        "login_chart": columns(slots(login_buckets, login_keys), LOGIN_SERIES),
        "adoption": adoption,
        "adoption_chart": rows(
            [
                (
                    a.label,
                    {"with_2fa": a.with_2fa, "without_2fa": a.without_2fa},
                    f"{a.percent} % ({a.with_2fa:,} of {a.total:,})",
                )
                for a in (adoption.members, adoption.admins)
            ],
            TWO_FACTOR_SERIES,
            label_width=70,
            value_width=120,
            row_height=32,
            per_row_full=True,
        ),
        "distribution": distribution,
        "risk_chart": columns(
            [(band.label, f"Score {band.label}", band.by_kind) for band in distribution.bands],
            kind_series,
            width=SMALL,
            max_labels=10,
        ),
        "kind_series": kind_series,
        "alerts": alerts,
        "alert_chart": rows(
            [
                (
                    a.label,
                    {"unresolved": a.unresolved, "resolved": a.count - a.unresolved},
                    f"{a.count:,}",
                )
                for a in alerts.kinds
            ],
            ALERT_SERIES,
            label_width=160,
            value_width=40,
        ),
        "ips": ips,
        "ip_chart": rows(_source_rows(ips), DECISION_SERIES, full=100, value_width=80),
        "devices": devices,
        "device_chart": rows(_source_rows(devices), DECISION_SERIES, full=100, value_width=80),
        "credits": credit_buckets,
        "credit_totals": {
            k: sum(getattr(b, k) for b in credit_buckets)
            for k in (*credit_keys, "payouts_requested", "payouts_returned", "taken_back")
        },
        "credit_chart": columns(slots(credit_buckets, credit_keys), CREDIT_SERIES, stacked=False),
        "series": {
            "logins": LOGIN_SERIES,
            "credits": CREDIT_SERIES,
            "two_factor": TWO_FACTOR_SERIES,
            "alerts": ALERT_SERIES,
            "decisions": DECISION_SERIES,
        },
        "humanize": humanize,
    }
