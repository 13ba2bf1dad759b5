"""Junk in the admin console's forms and filters (blueprints/forms/admin.py): each bad value is a
4xx whose message is on the page, on its field where the page has one (the page rendered again,
422), never a 500; nothing changes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core import clock
from extensions import db
from models import Alert, AuditLog, Payout, Post, Report, Takedown, User
from services import ledger, payouts, posts, safety
from tests.creator_helpers import creator, fan, signed_in
from tests.test_admin import make_admin
from tests.test_forms_money import NOT_WHOLE, error_on, post
from tests.test_payouts import earning_creator, method


def audits(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == action))


@pytest.fixture
def admin(app):
    return make_admin(app)[0].client


# --- users --------------------------------------------------------------------------------------


def test_a_bad_credit_adjustment_is_shown_on_its_field(app, admin):
    _, sam_id = signed_in(app, "sam@example.com", "Sam")
    url = f"/admin/users/{sam_id}/adjust"
    for amount in NOT_WHOLE:
        answer = post(admin, url, {"amount": amount, "reason": "goodwill"})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, amount
        assert error_on(page, "adjust-amount") == "A whole number of credits, + or −.", amount
        assert "<details open><summary>Adjust credits" in page  # shown, not folded away
    for amount, message in (
        ("", "A whole number of credits, + or −."),
        ("0", "Between 1 and 1,000,000 credits, + or −."),
        ("-1000001", "Between 1 and 1,000,000 credits, + or −."),
        ("999999999999999", "Between 1 and 1,000,000 credits, + or −."),
        ("9" * 500, "Between 1 and 1,000,000 credits, + or −."),
    ):
        answer = post(admin, url, {"amount": amount, "reason": "goodwill"})
        assert answer.status_code == 422, amount
        assert error_on(answer.get_data(as_text=True), "adjust-amount") == message, amount
    for reason, message in (
        ("", "Say why (it is kept with the transfer)."),
        ("  x ", "Say why (it is kept with the transfer)."),
        ("r" * 301, "Keep the reason under 300 characters."),
    ):
        answer = post(admin, url, {"amount": "10", "reason": reason})
        assert answer.status_code == 422, reason
        assert error_on(answer.get_data(as_text=True), "adjust-reason") == message, reason
    with app.app_context():
        assert ledger.wallet_balance(sam_id) == 0
    assert audits(app, "ledger.adjust") == 0
    # A debit below zero is the ledger's refusal, flashed on the page.
    refused = post(admin, url, {"amount": "-5", "reason": "clawback"}, follow_redirects=True)
    assert refused.status_code == 200 and 'class="flash error"' in refused.get_data(as_text=True)
    done = post(admin, url, [("amount", "+25"), ("amount", "999"), ("reason", "goodwill")])
    assert done.status_code == 303
    with app.app_context():
        assert ledger.wallet_balance(sam_id) == 25


def test_status_and_unfreeze_refuse_junk_on_their_fields(app, admin):
    _, sam_id = signed_in(app, "sam@example.com", "Sam")
    for status in (None, "", "deleted", "SUSPENDED", "x" * 5000):
        fields = {"reason": "spam"}
        if status is not None:
            fields["status"] = status
        answer = post(admin, f"/admin/users/{sam_id}/status", fields)
        assert answer.status_code == 422, status
        page = answer.get_data(as_text=True)
        assert error_on(page, "status") == "Choose Suspend, Ban or Reactivate.", status
    long = post(admin, f"/admin/users/{sam_id}/status", {"status": "banned", "reason": "r" * 301})
    assert long.status_code == 422
    assert error_on(long.get_data(as_text=True), "status-reason") == (
        "Keep the reason under 300 characters."
    )
    with app.app_context():
        assert db.session.get(User, sam_id).status == "active"
    empty = post(admin, f"/admin/users/{sam_id}/unfreeze", {"reason": ""})
    assert empty.status_code == 422  # shown although the wallet is not frozen: the form erred
    assert error_on(empty.get_data(as_text=True), "unfreeze-reason") == (
        "Say why the wallet is cleared."
    )
    not_frozen = post(
        admin, f"/admin/users/{sam_id}/unfreeze", {"reason": "cleared"}, follow_redirects=True
    )
    assert "is not frozen" in not_frozen.get_data(as_text=True)
    assert post(admin, "/admin/users/2147483647/adjust", {"amount": "x"}).status_code == 404


def test_the_user_search_is_bounded(app, admin):
    signed_in(app, "sam@example.com", "Sam")
    answer = admin.get("/admin/users", query_string={"q": "x" * 201})
    assert answer.status_code == 400
    assert error_on(answer.get_data(as_text=True), "q") == "Keep the search under 200 characters."
    assert "sam@example.com" in admin.get("/admin/users?q=sam").get_data(as_text=True)


# --- payouts ------------------------------------------------------------------------------------


@pytest.fixture
def requested_payout(app):
    with app.app_context():
        luna, codes = earning_creator(name="Mia")
        payout = payouts.request(luna, 600, method(luna, "manual").id, codes[0])
        return payout.id


def test_payout_actions_refuse_junk_on_their_fields(app, admin, requested_payout):
    url = f"/admin/payouts/{requested_payout}"
    long = post(admin, f"{url}/approve", {"note": "n" * 301})
    assert long.status_code == 422
    assert error_on(long.get_data(as_text=True), "note") == "Keep the note under 300 characters."
    for reason, message in (
        ("", "Say why, in a few words (the creator will see it)."),
        ("no", "Say why, in a few words (the creator will see it)."),
        ("r" * 501, "Keep the reason under 500 characters."),
    ):
        answer = post(admin, f"{url}/reject", {"reason": reason})
        assert answer.status_code == 422, reason
        assert error_on(answer.get_data(as_text=True), "reason") == message, reason
    missing = post(admin, f"{url}/reject", {})
    assert missing.status_code == 422
    with app.app_context():
        assert db.session.get(Payout, requested_payout).status == "requested"
    assert post(admin, f"{url}/approve", {}).status_code == 303
    for reference, message in (
        ("", "Enter the bank transfer&#39;s reference."),
        ("ab", "Enter the bank transfer&#39;s reference."),
        ("R" * 121, "Keep the reference under 120 characters."),
    ):
        answer = post(admin, f"{url}/mark-paid", {"reference": reference})
        assert answer.status_code == 422, reference
        assert error_on(answer.get_data(as_text=True), "reference") == message, reference
    with app.app_context():
        assert db.session.get(Payout, requested_payout).status == "approved"


def test_bulk_approval_takes_only_payout_ids(app, admin, requested_payout):
    for ids in ([], [""], ["abc"], ["1.5"], ["-1"], ["2147483648"], ["9" * 5000]):
        answer = post(admin, "/admin/payouts/bulk-approve", [("payout_id", i) for i in ids])
        assert answer.status_code == 422, ids
        assert "Select the payouts to approve." in answer.get_data(as_text=True), ids
    too_many = post(admin, "/admin/payouts/bulk-approve", [("payout_id", "1")] * 201)
    assert "Approve at most 200 payouts at a time." in too_many.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Payout, requested_payout).status == "requested"
    twice = post(
        admin,
        "/admin/payouts/bulk-approve",
        [
            ("payout_id", str(requested_payout)),
            ("payout_id", str(requested_payout)),
            ("payout_id", "2147483647"),
            ("next", "https://evil.example/"),
        ],
        follow_redirects=True,
    )
    page = twice.get_data(as_text=True)
    assert twice.request.path == "/admin/payouts"
    assert "1 payout(s) approved." in page and "Payout 2147483647: There is no such payout" in page
    assert audits(app, "payout.approved") == 1


# --- moderation, alerts, content -----------------------------------------------------------------


def test_a_report_decision_with_junk_is_shown_on_the_report(app, admin):
    with app.app_context():
        luna, sam = creator(), fan("Sam")
        safety.report(sam, luna.id, "profile", str(luna.id), "spam", "")
        report_id = db.session.scalar(select(Report.id))
    url = f"/admin/reports/{report_id}/decide"
    for outcome in (None, "", "delete", "x" * 5000):
        fields = {"note": "why"} if outcome is None else {"outcome": outcome, "note": "why"}
        answer = post(admin, url, fields)
        assert answer.status_code == 422, outcome
        page = answer.get_data(as_text=True)
        assert error_on(page, f"outcome-{report_id}") == (
            "Choose what to do: dismiss, remove, warn, suspend or ban."
        )
    long = post(admin, url, {"outcome": "warn", "note": "n" * 1001})
    assert error_on(long.get_data(as_text=True), f"note-{report_id}") == (
        "Keep the note under 1,000 characters."
    )
    no_note = post(admin, url, {"outcome": "ban"})
    assert no_note.status_code == 422
    assert error_on(no_note.get_data(as_text=True), f"note-{report_id}") == (
        "Say why: the member will see it."
    )
    with app.app_context():
        assert db.session.get(Report, report_id).status == "open"
    gone = post(admin, "/admin/reports/2147483647/decide", {"outcome": "x"})
    assert gone.status_code == 422 and "Choose what to do" in gone.get_data(as_text=True)


def test_alert_triage_refuses_junk_on_its_fields(app, admin):
    with app.app_context():
        alert = Alert(kind="chargeback", severity="high", summary="Chargeback on order 7")
        db.session.add(alert)
        db.session.commit()
        alert_id = alert.id
    url = f"/admin/alerts/{alert_id}"
    for status in ("nope", "OPEN", "x" * 5000):
        answer = post(admin, url, {"status": status, "body": "note"})
        assert answer.status_code == 422, status
        assert error_on(answer.get_data(as_text=True), "status") == "Choose a status."
    long = post(admin, url, {"status": "open", "body": "b" * 5001})
    assert error_on(long.get_data(as_text=True), "body") == "Keep the note under 5,000 characters."
    assert audits(app, "alert.triaged") == 0
    note_only = post(admin, url, {"body": "Looked at it"})  # no status: the note alone
    assert note_only.status_code == 303
    with app.app_context():
        assert db.session.get(Alert, alert_id).status == "open"


def test_review_and_takedown_decisions_refuse_junk(app, admin):
    with app.app_context():
        luna = creator()
        post_ = posts.create(luna, body="to review", visibility="public")
        post_.status = "review"
        db.session.add(
            Takedown(
                claimant_name="Ann Lee",
                claimant_email="ann@example.org",
                content_url=f"http://localhost/posts/{post_.id}",
                original_work="My photo series.",
                good_faith=True,
                signature="Ann Lee",
                subject_type="post",
                subject_id=str(post_.id),
            )
        )
        db.session.commit()
        post_id, notice_id = post_.id, db.session.scalar(select(Takedown.id))
    for decision in (None, "maybe", "x" * 5000):
        fields = {"note": "fine"} if decision is None else {"decision": decision, "note": "ok"}
        answer = post(admin, f"/admin/content/{post_id}", fields)
        assert answer.status_code == 422, decision
        assert error_on(answer.get_data(as_text=True), f"decision-{post_id}") == (
            "Choose Approve or Reject."
        )
    reject = post(admin, f"/admin/content/{post_id}", {"decision": "reject", "note": ""})
    assert reject.status_code == 422
    assert error_on(reject.get_data(as_text=True), f"note-{post_id}") == (
        "Say why: the creator will see it."
    )
    for decision in (None, "delete"):
        fields = {"reply": "We removed it, thanks."}
        if decision is not None:
            fields["decision"] = decision
        answer = post(admin, f"/admin/takedowns/{notice_id}", fields)
        assert answer.status_code == 422, decision
        assert error_on(answer.get_data(as_text=True), f"decision-{notice_id}") == (
            "Choose to remove the content or reject the notice."
        )
    for reply, message in (
        ("", "Write the reply the claimant will receive."),
        ("Too short", "Write the reply the claimant will receive."),
        ("r" * 5001, "Keep the reply under 5,000 characters."),
    ):
        answer = post(
            admin, f"/admin/takedowns/{notice_id}", {"decision": "reject", "reply": reply}
        )
        assert answer.status_code == 422, reply
        assert error_on(answer.get_data(as_text=True), f"reply-{notice_id}") == message
    with app.app_context():
        assert db.session.get(Post, post_id).status == "review"
        assert db.session.get(Takedown, notice_id).status == "open"


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "query", "message"),
    [
        ("/admin/payouts", {"status": "nope"}, "Unknown status: choose requested"),
        ("/admin/payouts", {"status": ""}, "Unknown status"),
        ("/admin/reports", {"status": "x" * 5000}, "Unknown status: choose open"),
        ("/admin/takedowns", {"status": "OPEN"}, "Unknown status: choose open"),
        ("/admin/alerts", {"status": "nope"}, "Unknown status: choose open"),
        ("/admin/alerts", {"kind": "k" * 101}, "Keep the kind under 100 characters."),
        ("/admin/orders", {"status": "nope"}, "Unknown status: choose pending"),
        ("/admin/orders", {"q": "q" * 201}, "Keep the search under 200 characters."),
        ("/admin/analytics", {"range": "1y"}, "Unknown range: choose one of"),
        ("/admin/audit", {"since": "yesterday"}, "Dates look like 2026-11-25"),
        ("/admin/audit", {"until": "9999-12-31"}, "up to 9999-12-30"),
        ("/admin/audit", {"before": "1.5"}, "`before` must be a whole number"),
        ("/admin/audit", {"before": "2147483648"}, "`before` must be a whole number"),
        ("/admin/audit", {"actor": "a" * 255}, "Keep the actor under 254 characters."),
    ],
)
def test_a_malformed_filter_is_a_400_that_says_why(app, admin, url, query, message):
    answer = admin.get(url, query_string=query)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_the_filters_still_filter(app, admin):
    _, sam_id = signed_in(app, "sam@example.com", "Sam")
    post(admin, f"/admin/users/{sam_id}/status", {"status": "suspended", "reason": "spam"})
    today = clock.now().date()
    page = admin.get(
        "/admin/audit",
        query_string={"action": "account.", "since": today.isoformat(), "until": today.isoformat()},
    ).get_data(as_text=True)
    assert "account.suspended" in page
    later = (today + dt.timedelta(days=1)).isoformat()
    assert "Nothing matches" in admin.get(f"/admin/audit?since={later}").get_data(as_text=True)
    assert admin.get("/admin/payouts?status=all").status_code == 200
    assert admin.get("/admin/alerts?status=all&kind=chargeback").status_code == 200
    assert admin.get("/admin/analytics?range=24h").status_code == 200
    assert admin.get("/admin/orders?status=&q=").status_code == 200
