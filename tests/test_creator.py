"""The creator's side over HTTP and the worker: creator mode, vault uploads, PPV and mass
messages, and the earnings dashboard (docs/creators.md)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, MassMessage, MediaObject, Message, User
from services import earnings, ledger, mass_messages, messaging, posts, subscriptions, tips
from tests.conftest import csrf_token
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.test_media import jpeg_bytes, upload

HTMX = {"HX-Request": "true"}


def headers(auth) -> dict:
    return {"X-CSRFToken": csrf_token(auth.client), **HTMX}


# --- creator mode ------------------------------------------------------------------------------


def test_a_fan_switches_creator_mode_on_in_settings(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    assert auth.client.get("/creator").status_code == 303  # not a creator yet
    response = auth.post(
        "/settings/creator",
        {
            "headline": "Film photos",
            "subscription_price": "45",
            "message_price": "3",
            "call_price": "20",
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/creator")
    with app.app_context():
        user = db.session.get(User, user_id)
        settings = db.session.get(CreatorSettings, user_id)
        assert user.is_creator and settings.subscription_price == 45
        assert (settings.message_price, settings.call_price, settings.headline) == (
            3,
            20,
            "Film photos",
        )
    assert "This is your page as fans see it" in auth.client.get(f"/creators/{user_id}").get_data(
        as_text=True
    )
    visitor, _ = signed_in(app, "sam@example.com", "Sam")
    page = visitor.client.get(f"/creators/{user_id}").get_data(as_text=True)
    assert "Film photos" in page and "Subscribe · 45 credits / 30 days" in page
    assert "unverified" in page
    assert ">Creator</a>" in auth.client.get("/creator").get_data(as_text=True)


def test_each_view_of_a_creator_page_has_a_tip_form_with_a_fresh_token_that_tips_once(app):
    """The blank tip box is rendered once per process (blueprints/feed.py: blank_tip_box);
    each page still gets its own one-time token and the session's CSRF token."""
    with app.app_context():
        luna_id = creator("Luna").id
    sam, sam_id = signed_in(app, "sam@example.com", "Sam", credits=100)

    def tip_form() -> tuple[dict, str]:
        html = sam.client.get(f"/creators/{luna_id}").get_data(as_text=True)
        box = html[html.index(f'id="tip-profile-{luna_id}"') :]
        box = box[: box.index("</form>")]
        fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', box))
        meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
        return fields, meta

    first, meta = tip_form()
    second, _ = tip_form()
    assert first["csrf_token"] == meta and second["csrf_token"] == meta
    assert first["token"] != second["token"] and len(first["token"]) == 32
    assert (first["target_type"], first.get("target_id", "")) == ("profile", "")
    sent = {**first, "amount": "7", "note": ""}
    for _ in range(2):  # the same form twice: one tip
        answer = sam.client.post(f"/creators/{luna_id}/tip", data=sent, headers=HTMX)
        assert answer.status_code == 200
    with app.app_context():
        assert ledger.wallet_balance(sam_id) == 93


def test_a_new_creators_dashboard_shows_nothing_earned_and_writes_nothing(app):
    """Creator mode opens the earnings account, empty (a first payment is then paid like every
    later one): the dashboard shows zeros, and opening it writes nothing (a page that only
    reads)."""
    from models import LedgerAccount

    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    prices = {"subscription_price": "45", "message_price": "3", "call_price": "0"}
    assert auth.post("/settings/creator", prices).status_code == 303
    accounts = select(LedgerAccount.kind, LedgerAccount.balance).where(
        LedgerAccount.user_id == user_id
    )
    with app.app_context():
        before = set(db.session.execute(accounts).all())
    assert ("earnings_pending", 0) in before
    page = auth.client.get("/creator")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<strong id="earnings-pending">0</strong>' in html
    assert '<strong id="earnings-available">0</strong>' in html
    assert "No payments yet." in html
    with app.app_context():
        assert set(db.session.execute(accounts).all()) == before
        assert ledger.verify() == []


def test_creator_mode_on_or_off_tells_the_open_sockets_to_read_the_account_again(app):
    """A socket keeps its account between messages: whether its user writes as a creator
    (replying free to fans) must not lag behind the switch."""
    from services import creators, realtime

    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    with app.app_context():
        socket = realtime.broker().subscribe(user_id)
    prices = {"subscription_price": "0", "message_price": "3", "call_price": "0"}
    assert auth.post("/settings/creator", prices).status_code == 303
    assert {"type": "sessions_changed"} in socket.drain()
    with app.app_context():
        creators.disable(db.session.get(User, user_id))
    assert {"type": "sessions_changed"} in socket.drain()
    socket.close()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subscription_price", "-1", "A subscription cannot be negative."),
        ("message_price", "100001", "A message can be at most 100,000 credits."),
        ("message_price", "9" * 30, "A message can be at most 100,000 credits."),
        ("call_price", "1.5", "A call price is a whole number of credits."),
        ("subscription_price", "abc", "A subscription price is a whole number of credits."),
        ("subscription_price", None, "Enter a number of credits (0 for none)."),
        ("headline", "x" * 141, "The headline can be up to 140 characters."),
        ("blocked_countries", "Germany", "“GERMANY” is not a two-letter country code."),
    ],
)
def test_bad_creator_settings_are_refused_with_a_message(app, field, value, message):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    form = {"headline": "", "subscription_price": "10", "message_price": "0", "call_price": "0"}
    response = auth.post(
        "/settings/creator",
        {**form, field: value} if value else {name: v for name, v in form.items() if name != field},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="{field}-error">{message}' in page
    assert "Please fix the fields marked below." in page
    with app.app_context():
        assert not db.session.get(User, user_id).is_creator
        assert db.session.get(CreatorSettings, user_id) is None


def test_the_creator_settings_page_shows_what_was_saved(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    page = auth.client.get("/settings/creator").get_data(as_text=True)
    assert re.search(r'<input[^>]* name="subscription_price"[^>]* value="0"', page)
    assert re.search(r'<input checked id="watermark" name="watermark" type="checkbox"', page)
    saved = {
        "headline": "Film photos",
        "subscription_price": "45",
        "message_price": "3",
        "call_price": "20",
        "blocked_countries": "de fr",
        "watermark_shown": "1",  # and the box unticked: no `watermark`
    }
    assert auth.post("/settings/creator", saved).status_code == 303
    page = auth.client.get("/settings/creator").get_data(as_text=True)
    assert 'value="Film photos"' in page and 'value="DE,FR"' in page and 'value="45"' in page
    assert re.search(r'<input id="watermark" name="watermark" type="checkbox"', page)
    with app.app_context():
        assert db.session.get(CreatorSettings, user_id).watermark is False


def test_creator_pages_are_for_creators(app):
    auth, _ = signed_in(app, "ana@example.com", "Ana")
    for url in ("/creator/posts", "/creator/vault", "/creator/mass-messages"):
        assert auth.client.get(url).status_code == 303
    assert auth.client.post("/creator/posts", headers=headers(auth)).status_code == 403


def test_anyone_can_see_a_creator_page_and_the_creator_list(app):
    _, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    anonymous = app.test_client()
    page = anonymous.get(f"/creators/{luna_id}").get_data(as_text=True)
    assert "Sign up to subscribe" in page
    assert "Luna" in anonymous.get("/creators").get_data(as_text=True)
    assert anonymous.get("/creators/999999").status_code == 404


# --- vault -------------------------------------------------------------------------------------


def vault_presign(auth, content_type="image/jpeg", size=1000):
    return auth.client.post(
        "/creator/vault/presign",
        json={"content_type": content_type, "size": size},
        headers=headers(auth),
    )


def test_vault_upload_makes_display_thumb_and_blurred_preview(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = jpeg_bytes((900, 700))
    presigned = vault_presign(auth, size=len(data)).get_json()
    assert upload(auth, presigned, data).status_code == 204
    grid = auth.client.post(
        "/creator/vault/confirm", json={"key": presigned["key"]}, headers=headers(auth)
    )
    assert grid.status_code == 200 and "Vault photo" in grid.get_data(as_text=True)
    with app.app_context():
        obj = db.session.scalar(select(MediaObject).where(MediaObject.user_id == luna_id))
        assert obj.status == "ready" and set(obj.variants) == {"display", "clean", "thumb", "blur"}


@pytest.mark.parametrize(
    ("content_type", "size", "status", "message"),
    [
        ("image/gif", 1000, 422, "JPEG, PNG or WebP"),
        ("image/jpeg", 21 * 1024 * 1024, 422, "up to 20 MB"),
        ("image/jpeg", 0, 422, "up to 20 MB"),
    ],
)
def test_vault_refuses_wrong_types_and_sizes(app, content_type, size, status, message):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    response = vault_presign(auth, content_type, size)
    assert response.status_code == status and message in response.get_json()["error"]


def test_a_fan_has_no_vault(app):
    auth, _ = signed_in(app, "sam@example.com", "Sam")
    assert vault_presign(auth).status_code == 403


def test_vault_confirm_refuses_missing_and_foreign_uploads(app):
    luna, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    mia, _ = signed_in(app, "mia@example.com", "Mia", creator=True)
    presigned = vault_presign(luna).get_json()
    never = luna.client.post(
        "/creator/vault/confirm", json={"key": presigned["key"]}, headers=headers(luna)
    )
    assert never.status_code == 400 and "never arrived" in never.get_data(as_text=True)
    assert upload(luna, presigned, jpeg_bytes()).status_code == 204
    foreign = mia.client.post(
        "/creator/vault/confirm", json={"key": presigned["key"]}, headers=headers(mia)
    )
    assert foreign.status_code == 404


def test_a_vault_item_in_use_cannot_be_deleted(ctx):
    luna = creator()
    photo = vault_photo(luna)
    posts.create(luna, body="x", visibility="public", media_ids=[photo.id])
    from core.errors import DomainError
    from services import media

    with pytest.raises(DomainError, match="used in a post"):
        media.delete_vault_item(luna, photo.id)
    spare = vault_photo(luna)
    media.delete_vault_item(luna, spare.id)
    assert db.session.get(MediaObject, spare.id) is None
    with pytest.raises(NotFound):
        media.delete_vault_item(creator("Mia"), photo.id)


# --- PPV messages ------------------------------------------------------------------------------


def test_a_ppv_message_shows_a_blurred_preview_until_paid_once(ctx):
    luna, sam, eve = creator(), fan(credits=100), fan("Eve", credits=100)
    photo = vault_photo(luna)
    message = messaging.send(luna, sam.id, "Just for you", media_id=photo.id, unlock_price=40)
    seen = messaging.attachments_for(sam, [message])[message.id]
    assert seen.locked and ".blur." in seen.url
    assert ".display." in messaging.attachments_for(luna, [message])[message.id].url
    with pytest.raises(NotFound):
        messaging.unlock_message(eve, message.id)  # not the recipient
    messaging.unlock_message(sam, message.id)
    messaging.unlock_message(sam, message.id)
    seen = messaging.attachments_for(sam, [message])[message.id]
    assert not seen.locked and ".display." in seen.url and seen.unlocked
    assert ledger.wallet_balance(sam.id) == 60
    assert ledger.balances(luna.id)["earnings_pending"] == 32 and ledger.verify() == []


def test_only_creators_attach_from_a_vault_and_prices_need_an_attachment(ctx):
    luna, sam = creator(), fan(credits=100)
    photo = vault_photo(luna)
    with pytest.raises(ValidationFailed, match="Attach something"):
        messaging.send(luna, sam.id, "pay me", unlock_price=10)
    with pytest.raises(ValidationFailed, match="cannot be negative"):
        messaging.send(luna, sam.id, "x", media_id=photo.id, unlock_price=-1)
    with pytest.raises(NotFound):
        messaging.send(creator("Mia"), sam.id, "x", media_id=photo.id)  # Luna's vault
    with pytest.raises(NotFound):  # a fan cannot send a creator's vault photo
        messaging.send(sam, luna.id, "x", media_id=photo.id)
    assert db.session.scalar(select(func.count(Message.id))) == 0


def test_ppv_message_unlock_over_http(app):
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam_auth, sam_id = signed_in(app, "sam@example.com", "Sam", credits=50)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        photo = vault_photo(luna)
        message = messaging.send(luna, sam_id, "", media_id=photo.id, unlock_price=30)
        message_id, display = message.id, photo.variants["display"]
    page = sam_auth.client.get(f"/messages/{luna_id}").get_data(as_text=True)
    assert "Unlock for 30 credits" in page and display not in page
    response = sam_auth.client.post(
        f"/messages/attachments/{message_id}/unlock", headers=headers(sam_auth)
    )
    assert response.status_code == 200 and display in response.get_data(as_text=True)
    eve_auth, _ = signed_in(app, "eve@example.com", "Eve", credits=50)
    assert (
        eve_auth.client.post(
            f"/messages/attachments/{message_id}/unlock", headers=headers(eve_auth)
        ).status_code
        == 404
    )
    with app.app_context():
        assert ledger.wallet_balance(sam_id) == 20 and ledger.verify() == []


# --- mass messages -----------------------------------------------------------------------------


def subscribed_fans(luna, n):
    people = []
    for i in range(n):
        person = fan(f"Fan{i}", credits=100)
        subscriptions.subscribe(person, luna.id)
        people.append(person)
    return people


def test_a_mass_message_reaches_every_subscriber_once(ctx, monkeypatch):
    luna = creator(subscription_price=10)
    people = subscribed_fans(luna, 5)
    outsider = fan("Outsider")
    photo = vault_photo(luna)
    monkeypatch.setattr(mass_messages, "BATCH", 2)
    row = mass_messages.start(luna, body="New set!", media_id=photo.id, price=15)
    db.session.refresh(row)  # the job ran inline after the commit
    assert (row.status, row.sent, row.audience) == ("done", 5, 5)
    received = db.session.scalars(
        select(Message.recipient_id).where(Message.mass_message_id == row.id)
    )
    assert sorted(received) == sorted(p.id for p in people)
    assert outsider.id not in list(received)
    first = db.session.scalar(select(Message).where(Message.recipient_id == people[0].id))
    assert first.unlock_price == 15 and first.media_id == photo.id and first.price == 0


def test_a_mass_message_resumes_after_a_killed_worker_without_duplicates(ctx, monkeypatch):
    luna = creator(subscription_price=10)
    people = subscribed_fans(luna, 5)
    monkeypatch.setattr(mass_messages, "BATCH", 2)
    row = MassMessage(creator_id=luna.id, body="Hello", audience=5)
    db.session.add(row)
    db.session.commit()
    publish = mass_messages.publish_message
    calls = {"n": 0}

    def dies_after_first_batch(message):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")  # after the first batch committed
        publish(message)

    monkeypatch.setattr(mass_messages, "publish_message", dies_after_first_batch)
    with pytest.raises(SystemExit):
        mass_messages.deliver(row.id)
    db.session.rollback()
    assert db.session.get(MassMessage, row.id).sent == 2
    monkeypatch.setattr(mass_messages, "publish_message", publish)
    mass_messages.deliver(row.id)
    counts = db.session.execute(
        select(Message.recipient_id, func.count()).group_by(Message.recipient_id)
    ).all()
    assert sorted(counts) == sorted((p.id, 1) for p in people)
    assert db.session.get(MassMessage, row.id).status == "done"


def test_a_mass_message_needs_subscribers_and_content(ctx):
    luna = creator()
    with pytest.raises(ValidationFailed, match="no subscribers"):
        mass_messages.start(luna, body="hello?")
    subscribed_fans(luna, 1)
    with pytest.raises(ValidationFailed, match="Write something"):
        mass_messages.start(luna, body="  ")
    with pytest.raises(ValidationFailed, match="Attach something"):
        mass_messages.start(luna, body="x", price=5)


def test_the_mass_message_form_refuses_junk_with_a_message_on_the_field(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        photo = str(vault_photo(db.session.get(User, luna_id)).id)
    not_in_vault = "Pick a photo or video from your vault, or none."
    cases = [
        ({"body": "x", "media_id": "abc"}, "media_id", not_in_vault),
        ({"body": "x", "media_id": "2147483648"}, "media_id", not_in_vault),
        ({"body": "x", "price": "abc"}, "price", "The unlock price is a whole number of credits."),
        ({"body": "x", "media_id": photo, "price": "9" * 20}, "price", "at most 100,000 credits."),
        ({"body": "x", "price": "5"}, "price", "Attach something from your vault to sell."),
        ({}, "body", "Write something first."),
        ({"body": "Hello"}, "body", "You have no subscribers to message yet."),
    ]
    for data, field, message in cases:
        response = auth.post("/creator/mass-messages", data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page), data
    with app.app_context():
        assert db.session.scalar(select(func.count(MassMessage.id))) == 0


def test_mass_message_progress_is_the_creators_only(app):
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    mia_auth, _ = signed_in(app, "mia@example.com", "Mia", creator=True)
    with app.app_context():
        row = MassMessage(creator_id=luna_id, body="Hi", audience=10, sent=4, status="sending")
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    mine = luna_auth.client.get(f"/creator/mass-messages/{row_id}/progress")
    assert mine.status_code == 200 and "Sending… 4 of 10" in mine.get_data(as_text=True)
    assert mia_auth.client.get(f"/creator/mass-messages/{row_id}/progress").status_code == 404


# --- earnings dashboard ------------------------------------------------------------------------


def test_dashboard_shows_earnings_by_day_and_source_top_fans_and_subscribers(ctx):
    luna, sam, eve = creator(subscription_price=50), fan(credits=500), fan("Eve", credits=500)
    day1 = dt.datetime(2026, 5, 1, 10, 0)
    with clock.frozen(day1):
        subscriptions.subscribe(sam, luna.id)  # 50 → 40
        tips.tip(eve, luna.id, 100)  # 100 → 80
    with clock.frozen(day1 + dt.timedelta(days=1)):
        post = posts.create(
            luna, body="x", visibility="ppv", price=25, media_ids=[vault_photo(luna).id]
        )
        posts.unlock(sam, post.id)  # 25 → 20
    with clock.frozen(day1 + dt.timedelta(days=2)):
        data = earnings.dashboard(luna)
    by_day = {day.date: day.by_source for day in data["days"]}
    assert by_day[dt.date(2026, 5, 1)]["subscription"] == 40
    assert by_day[dt.date(2026, 5, 1)]["tip"] == 80
    assert by_day[dt.date(2026, 5, 2)]["unlock"] == 20
    assert data["total"] == 140 == data["pending"]
    assert [(user.display_name, paid) for user, paid in data["top_fans"]] == [
        ("Eve", 100),
        ("Sam", 75),
    ]
    assert data["subscribers"] == 1 and data["available"] == 0
    assert len(data["chart"].bars) == 3


def test_dashboard_page_renders_the_chart_and_its_numbers(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    _, sam_id = signed_in(app, "sam@example.com", "Sam", credits=100)
    with app.app_context():
        tips.tip(db.session.get(User, sam_id), luna_id, 30, "thanks")
    page = auth.client.get("/creator").get_data(as_text=True)
    assert '<svg class="chart"' in page and "Tips 24" in page
    assert 'id="earnings-pending">24<' in page and "Sam" in page
