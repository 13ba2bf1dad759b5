"""Security analytics: every number on the page against fixtures counted by hand,
with the clock frozen, and the page itself for admins only."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from core import clock
from extensions import db
from models import Alert, Device, LoginAttempt, RiskEvent, User
from services import analytics, ledger, tips, twofactor
from testkit.ledger import paid_order
from testkit.people import person
from tests.creator_helpers import creator, fan, signed_in

NOW = dt.datetime(2026, 3, 10, 14, 30)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def at(moment: dt.datetime):
    return clock.frozen(moment)


def with_2fa(user: User) -> None:
    secret = twofactor.new_secret()
    twofactor.enable(user, secret, twofactor.code_for(secret, clock.now()))


def fingerprint(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def device(name: str) -> Device:
    row = Device(fingerprint=fingerprint(name))
    db.session.add(row)
    db.session.flush()
    return row


def risk_event(score: int, when: dt.datetime, kind: str = "login", **kw) -> None:
    decision = "allow" if score < 40 else "step_up" if score < 60 else "review"
    if score >= 85:
        decision = "block"
    db.session.add(RiskEvent(kind=kind, score=score, decision=decision, created_at=when, **kw))


# --- buckets -------------------------------------------------------------------------------------


def test_ranges_are_24_hours_or_7_or_30_days_ending_with_the_current_one():
    hourly = analytics.window(NOW, "24h")
    assert len(hourly.starts) == 24 and hourly.hourly
    assert hourly.starts[0] == dt.datetime(2026, 3, 9, 15, 0)
    assert hourly.starts[-1] == dt.datetime(2026, 3, 10, 14, 0)
    week = analytics.window(NOW, "7d")
    assert week.starts[0] == dt.datetime(2026, 3, 4) and week.starts[-1] == dt.datetime(2026, 3, 10)
    assert len(analytics.window(NOW, "30d").starts) == 30
    with pytest.raises(analytics.UnknownRange):
        analytics.window(NOW, "1y")


# --- logins --------------------------------------------------------------------------------------


def test_logins_and_failed_logins_per_hour_and_per_day(ctx):
    attempts = [
        (NOW - dt.timedelta(minutes=25), True, "password"),  # 14:05
        (NOW - dt.timedelta(minutes=10), True, "password"),  # 14:20
        (NOW - dt.timedelta(minutes=20), False, "password"),  # 14:10
        (dt.datetime(2026, 3, 10, 9, 10), True, "password"),
        (dt.datetime(2026, 3, 10, 9, 50), False, "password"),
        (dt.datetime(2026, 3, 10, 13, 0), False, "second_factor"),
        (dt.datetime(2026, 3, 9, 14, 59), False, "password"),  # before the 24 h, in the 7 days
        (dt.datetime(2026, 3, 3, 23, 59), True, "password"),  # before the 7 days
        (NOW + dt.timedelta(minutes=1), True, "password"),  # after now: never counted
    ]
    for when, succeeded, stage in attempts:
        db.session.add(
            LoginAttempt(email="a@example.com", succeeded=succeeded, stage=stage, created_at=when)
        )
    db.session.commit()

    hours = analytics.logins(NOW, "24h")
    assert len(hours) == 24
    now_hour, one_pm, nine_am = hours[-1], hours[-2], hours[-6]
    assert (now_hour.succeeded, now_hour.failed_password, now_hour.failed_second_factor) == (
        2,
        1,
        0,
    )
    assert (one_pm.succeeded, one_pm.failed_password, one_pm.failed_second_factor) == (0, 0, 1)
    assert nine_am.start == dt.datetime(2026, 3, 10, 9) and nine_am.succeeded == 1
    assert nine_am.failed == 1
    assert sum(b.succeeded for b in hours) == 3 and sum(b.failed for b in hours) == 3

    days = analytics.logins(NOW, "7d")
    assert [(b.succeeded, b.failed) for b in days] == [(0, 0)] * 5 + [(0, 1), (3, 3)]
    thirty = analytics.logins(NOW, "30d")
    assert sum(b.succeeded for b in thirty) == 4 and sum(b.failed for b in thirty) == 4


# --- 2FA -----------------------------------------------------------------------------------------


def test_two_factor_adoption_counts_active_members_and_admins_apart(ctx):
    with at(NOW - 10 * D):
        early = person("Early")
        with_2fa(early)
    with at(NOW - H):
        person("Plain")
        person("Other")
        recent = person("Recent")
        with_2fa(recent)
        banned = person("Banned")
        with_2fa(banned)
        banned.status = "banned"
        root, second = person("Root"), person("Second")
        root.role = second.role = "admin"
        db.session.commit()
        with_2fa(root)

    week = analytics.two_factor_adoption(NOW, "7d")
    assert (week.members.with_2fa, week.members.total, week.members.percent) == (2, 4, 50)
    assert (week.admins.with_2fa, week.admins.without_2fa, week.admins.percent) == (1, 1, 50)
    assert week.enabled_in_range == 3  # recent, banned and root; early was 10 days ago
    assert analytics.two_factor_adoption(NOW, "30d").enabled_in_range == 4


# --- risk ----------------------------------------------------------------------------------------


def test_risk_score_distribution_in_bands_of_ten_by_kind(ctx):
    for score in (0, 9, 10, 45, 99, 100):
        risk_event(score, NOW - 2 * H)
    risk_event(62, NOW - 3 * D, kind="purchase")
    risk_event(50, NOW - 8 * D)  # outside the 7 days
    db.session.commit()

    week = analytics.risk_distribution(NOW, "7d")
    assert week.kinds == ["login", "purchase"]
    assert [band.label for band in week.bands][:2] == ["0–9", "10–19"]
    assert week.bands[-1].label == "90–100"
    assert [band.by_kind["login"] for band in week.bands] == [2, 1, 0, 0, 1, 0, 0, 0, 0, 2]
    assert [band.by_kind["purchase"] for band in week.bands] == [0] * 6 + [1, 0, 0, 0]
    assert week.total == 7
    assert week.by_decision == {"allow": 3, "step_up": 1, "review": 1, "block": 2}

    day = analytics.risk_distribution(NOW, "24h")
    assert day.kinds == ["login"] and day.total == 6
    assert analytics.risk_distribution(NOW, "30d").bands[5].total == 1


def test_alerts_by_kind_and_risk_alerts_by_their_heaviest_rule(ctx):
    def reasons(*pairs):
        return {"reasons": [{"rule": r, "points": p, "reason": r} for r, p in pairs]}

    rows = [
        ("risk_login", "open", reasons(("new_device", 15), ("failed_login_velocity", 50))),
        ("risk_login", "investigating", reasons(("shared_ip", 70))),
        ("risk_purchase", "resolved", reasons(("purchase_velocity", 60), ("account_age", 5))),
        ("chargeback", "resolved", {}),
        ("chargeback", "open", {}),
        ("chargeback", "false_positive", {}),
    ]
    for kind, status, detail in rows:
        db.session.add(
            Alert(kind=kind, status=status, summary=kind, detail=detail, created_at=NOW - 5 * H)
        )
    db.session.add(
        Alert(kind="multi_account_device", summary="old", detail={}, created_at=NOW - 9 * D)
    )
    db.session.commit()

    week = analytics.alerts_by_rule(NOW, "7d")
    assert [(a.kind, a.count, a.unresolved) for a in week.kinds] == [
        ("chargeback", 3, 1),
        ("risk_login", 2, 2),
        ("risk_purchase", 1, 0),
    ]
    assert week.total == 6
    assert week.risk_rules == [
        ("failed_login_velocity", 1),
        ("purchase_velocity", 1),
        ("shared_ip", 1),
    ]
    assert analytics.alerts_by_rule(NOW, "30d").total == 7
    assert analytics.humanize("risk_login") == "Risk: login"


def test_riskiest_ips_and_devices(ctx):
    ana, ben = person("Ana"), person("Ben")
    kiosk, phone = device("kiosk"), device("phone")
    risk_event(30, NOW - H, ip="203.0.113.7", user_id=ana.id, device_id=kiosk.id)
    risk_event(90, NOW - 2 * H, ip="203.0.113.7", user_id=ben.id, device_id=kiosk.id)
    for hours in (1, 2, 3):
        risk_event(50, NOW - hours * H, ip="198.51.100.4", user_id=ana.id, device_id=phone.id)
    risk_event(70, NOW - H, user_id=ben.id)  # neither IP nor device
    risk_event(100, NOW - 8 * D, ip="192.0.2.1", device_id=phone.id)  # outside the 7 days
    db.session.commit()

    ips = analytics.top_risky_ips(NOW, "7d")
    assert [(s.label, s.max_score, s.avg_score, s.events, s.accounts) for s in ips] == [
        ("203.0.113.7", 90, 60.0, 2, 2),
        ("198.51.100.4", 50, 50.0, 3, 1),
    ]
    assert ips[0].last_seen == NOW - H
    devices = analytics.top_risky_devices(NOW, "7d")
    assert [(s.label, s.max_score, s.events) for s in devices] == [
        (fingerprint("kiosk")[:12], 90, 2),
        (fingerprint("phone")[:12], 50, 3),
    ]
    month = analytics.top_risky_devices(NOW, "30d")
    assert month[0].label == fingerprint("phone")[:12] and month[0].max_score == 100


# --- credits -------------------------------------------------------------------------------------


def test_credits_issued_spent_and_paid_out_per_day_from_the_ledger(ctx):
    second = 1000 - ledger.fee_for(1000) - 500  # the rest of Luna's available earnings
    with at(NOW - 20 * D):
        sam = fan("Sam", credits=2000)  # issued 2000, 20 days ago
        luna = creator("Luna")
        tips.tip(sam, luna.id, 1000)  # spent 1000
    with at(NOW - 5 * D):
        ledger.release_matured_earnings()  # not a flow on the page
    with at(NOW - 3 * D):
        ledger.request_payout(luna.id, 500, payout_id=1)
        db.session.commit()
    with at(dt.datetime(2026, 3, 9, 20, 0)):
        ledger.request_payout(luna.id, second, payout_id=2)
        db.session.commit()
    with at(NOW - 2 * D):
        order = paid_order(sam, 300)  # issued 300
    with at(NOW - dt.timedelta(minutes=80)):  # 13:10
        tips.tip(sam, luna.id, 100)  # spent 100
        ledger.adjust(sam.id, 50, "goodwill", None, "adjust:1")  # issued 50
        ledger.adjust(sam.id, -20, "mistake", None, "adjust:2")  # a debit: not issued
        db.session.commit()
    with at(NOW - dt.timedelta(minutes=10)):
        ledger.return_payout(luna.id, second, payout_id=2)
        ledger.take_back_purchase(sam.id, 100, "refund:1", order.id, chargeback=False)
        db.session.commit()

    week = analytics.credits(NOW, "7d")
    rows = [(b.issued, b.spent, b.paid_out, b.taken_back) for b in week]
    assert rows == [
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 500, 0),  # 7 March
        (300, 0, 0, 0),  # 8 March
        (0, 0, second, 0),  # 9 March
        (50, 100, -second, 100),  # today
    ]
    assert week[-1].payouts_requested == 0 and week[-1].payouts_returned == second

    hours = analytics.credits(NOW, "24h")
    assert (hours[-2].issued, hours[-2].spent) == (50, 100)  # 13:00
    assert hours[-1].paid_out == -second and hours[-1].taken_back == 100
    assert hours[5].start == dt.datetime(2026, 3, 9, 20) and hours[5].payouts_requested == second

    month = analytics.credits(NOW, "30d")
    assert sum(b.issued for b in month) == 2000 + 300 + 50
    assert sum(b.spent for b in month) == 1000 + 100
    assert sum(b.paid_out for b in month) == 500


# --- charts --------------------------------------------------------------------------------------


def test_stacked_columns_are_scaled_to_the_tallest_stack():
    series = [analytics.Series("a", "A", "#111111"), analytics.Series("b", "B", "#222222")]
    plot = analytics.columns(
        [("1", "one", {"a": 10, "b": 30}), ("2", "two", {"a": 20, "b": 0})],
        series,
        width=200,
        height=100,
    )
    assert [bar.height for bar in plot.bars] == [25, 75, 50]
    assert plot.bars[1].y == plot.bars[0].y - 75  # b sits on a
    assert plot.bars[1].title == "one: B 30"
    assert any(label.text == "40" for label in plot.labels)  # the scale


def test_side_by_side_columns_go_below_zero():
    series = [analytics.Series("up", "Up", "#111111"), analytics.Series("down", "Down", "#222")]
    plot = analytics.columns([("1", "one", {"up": 30, "down": -10})], series, stacked=False)
    up, down = plot.bars
    assert up.y + up.height == down.y  # both start at the zero line
    assert up.height == 3 * down.height


# --- the page ------------------------------------------------------------------------------------


def _admin(app, email="root@example.com"):
    auth, admin_id = signed_in(app, email, "Root")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        admin.role = "admin"
        db.session.commit()
        with_2fa(admin)
    return auth


def test_the_analytics_page_shows_each_chart_with_its_numbers(app):
    admin = _admin(app)
    with app.app_context():
        now = clock.now()
        sam = fan("Sam", credits=1234)
        luna = creator("Luna")
        tips.tip(sam, luna.id, 321)
        kiosk = device("kiosk")
        risk_event(91, now, ip="203.0.113.77", device_id=kiosk.id, user_id=sam.id)
        db.session.add(Alert(kind="risk_login", summary="s", detail={}, created_at=now))
        db.session.commit()

    page = admin.client.get("/admin/analytics?range=7d")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert len(re.findall(r'<svg class="chart"[^>]*role="img"', html)) == 7
    assert html.count("<summary>The numbers</summary>") == 7
    assert re.search(r'range=7d" aria-current="page">Last 7 days<', html)
    credits_table = html.split('id="credits-table"')[1].split("</table>")[0]
    assert '<td class="num">1,234</td>' in credits_table  # issued today
    assert '<td class="num">321</td>' in credits_table  # spent today
    assert "203.0.113.77" in html and fingerprint("kiosk")[:12] in html
    assert "Risk: login" in html
    assert 'style="' not in html.split("<main")[1]  # the CSP allows no inline styles

    hourly = admin.client.get("/admin/analytics?range=24h").get_data(as_text=True)
    assert hourly.count("<summary>The numbers</summary>") == 7 and "Last 24 hours" in hourly
    assert admin.client.get("/admin/analytics").status_code == 200  # 7 days by default


def test_an_unknown_range_is_a_bad_request(app):
    assert _admin(app).client.get("/admin/analytics?range=1y").status_code == 400


def test_members_and_admins_without_2fa_cannot_see_analytics(app):
    member, _ = signed_in(app, "sam@example.com", "Sam")
    assert member.client.get("/admin/analytics").status_code == 403
    no_2fa, admin_id = signed_in(app, "new-admin@example.com", "New")
    with app.app_context():
        db.session.get(User, admin_id).role = "admin"
        db.session.commit()
    response = no_2fa.client.get("/admin/analytics?range=24h")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/settings/security"
    )
