"""Appeals (docs/security.md#appeals): a banned member (through the link their right password
earns at the login form), a suspended one (from Settings) and one whose check was rejected may
appeal once; another moderator upholds or overturns it, and the member gets the outcome by mail."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from extensions import db
from models import Appeal, User
from tests.conftest import AuthActions, last_mail
from tests.creator_helpers import signed_in
from tests.identity_helpers import submitted
from tests.test_admin import make_admin

PASSWORD = "plum-orbit-kettle-42"
APPEAL_LINK = re.compile(r'href="(/appeal/[^"]+)"')


def _status(app, admin, member_id: int, status: str, reason: str = "") -> None:
    admin.post(f"/admin/users/{member_id}/status", {"status": status, "reason": reason})
    with app.app_context():
        assert db.session.get(User, member_id).status == status


def test_a_banned_member_appeals_through_the_login_form_once_and_is_reinstated(app):
    admin, _ = make_admin(app)
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    member, member_id = signed_in(app, "ana@example.com", "Ana")
    _status(app, admin, member_id, "banned", "spam links")
    visitor = AuthActions(app.test_client())
    wrong = visitor.login("ana@example.com", "not-the-password")
    assert "/appeal/" not in wrong.get_data(as_text=True)  # no link without the password
    page = visitor.login("ana@example.com", PASSWORD).get_data(as_text=True)
    assert "This account has been banned: spam links" in page
    link = APPEAL_LINK.search(page).group(1)
    form = visitor.client.get(link).get_data(as_text=True)
    assert "Your account was banned: spam links." in form
    assert visitor.post(link, {"message": ""}).status_code == 422
    sent = visitor.post(link, {"message": "Those links were my own shop."})
    assert sent.status_code == 303
    again = visitor.post(link, {"message": "Please?"}, follow_redirects=True)
    assert "You appealed this decision already" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Appeal.id))) == 1
        appeal_id = db.session.scalar(select(Appeal.id))
    # The admin who banned her does not judge the appeal; a moderator does.
    admin.post(f"/admin/appeals/{appeal_id}", {"decision": "overturn", "note": "x"})
    with app.app_context():
        assert db.session.get(Appeal, appeal_id).status == "open"
    queue = moderator.client.get("/admin/appeals").get_data(as_text=True)
    assert "Those links were my own shop." in queue
    refused = moderator.post(f"/admin/appeals/{appeal_id}", {"decision": "overturn"})
    assert refused.status_code == 422
    moderator.post(
        f"/admin/appeals/{appeal_id}",
        {"decision": "overturn", "note": "The shop is yours; sorry for the trouble."},
    )
    with app.app_context():
        assert db.session.get(User, member_id).status == "active"
        assert db.session.get(Appeal, appeal_id).status == "overturned"
    mail = last_mail(app, "ana@example.com")
    assert "the decision was changed" in mail.subject
    assert "your account is active again" in mail.body and "sorry for the trouble" in mail.body
    assert visitor.login("ana@example.com", PASSWORD).status_code in (302, 303)


def test_a_suspended_member_appeals_from_settings_and_the_decision_stands(app):
    admin, _ = make_admin(app)
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    member, member_id = signed_in(app, "ana@example.com", "Ana")
    _status(app, admin, member_id, "suspended", "rude messages")
    page = member.client.get("/settings").get_data(as_text=True)
    assert "/settings/appeal" in page
    # Read-only, but the appeal goes through.
    assert member.post("/settings/appeal", {"message": "I was provoked."}).status_code == 303
    with app.app_context():
        appeal_id = db.session.scalar(select(Appeal.id))
    moderator.post(
        f"/admin/appeals/{appeal_id}", {"decision": "uphold", "note": "The messages were abusive."}
    )
    with app.app_context():
        assert db.session.get(User, member_id).status == "suspended"
    mail = last_mail(app, "ana@example.com")
    assert "the decision stands" in mail.subject and "The messages were abusive." in mail.body
    page = member.client.get("/settings/appeal").get_data(as_text=True)
    assert "the decision stands" in page and "Send my appeal" not in page


def test_a_rejected_check_is_appealed_and_overturned(app):
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    other, _ = make_admin(app, "mod2@example.com", role="moderator")
    member, member_id = signed_in(app, "nova@example.com", "Nova")
    with app.app_context():
        user = db.session.get(User, member_id)
        user.is_creator = True
        db.session.commit()
        request_id = submitted(user).id
    moderator.post(
        f"/admin/verification/{request_id}", {"decision": "reject", "reason": "Blurred."}
    )
    page = member.client.get("/settings/verification").get_data(as_text=True)
    link = f"/settings/verification/checks/{request_id}/appeal"
    assert link in page
    member.post(link, {"message": "It is sharp on my screen."})
    with app.app_context():
        appeal_id = db.session.scalar(select(Appeal.id))
    moderator.post(f"/admin/appeals/{appeal_id}", {"decision": "overturn", "note": "x"})
    with app.app_context():
        assert db.session.get(Appeal, appeal_id).status == "open"  # not the one who rejected
    other.post(f"/admin/appeals/{appeal_id}", {"decision": "overturn", "note": "Readable."})
    with app.app_context():
        assert db.session.get(User, member_id).creator_verified_at is not None
    # Someone else's check is not theirs to appeal; an approved one has nothing to appeal.
    outsider, _ = signed_in(app, "eve@example.com", "Eve")
    assert outsider.client.get(link).status_code == 404
    assert member.client.get(link).status_code == 403


def test_an_appeal_link_is_signed_and_for_a_banned_member_only(app):
    from services import appeals

    _, member_id = signed_in(app, "ana@example.com", "Ana")
    client = app.test_client()
    assert client.get("/appeal/not-a-token").status_code == 404
    with app.test_request_context():
        token = appeals.appeal_token(db.session.get(User, member_id))
    page = client.get(f"/appeal/{token}")
    assert page.status_code == 404  # not banned: nothing to appeal there
    assert "not valid" in page.get_data(as_text=True)
