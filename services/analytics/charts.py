"""The charts of the analytics page: plain geometry (`Plot`: bars, labels, rule lines) that the
template draws as SVG, so they need no JavaScript, and `dashboard`, everything the page shows."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from services.analytics.figures import (
    RiskySource,
    alerts_by_rule,
    credits,
    humanize,
    logins,
    risk_distribution,
    top_risky_devices,
    top_risky_ips,
    two_factor_adoption,
)
from services.analytics.windows import RANGES, window
from services.earnings import Bar
from services.risk import decide

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
