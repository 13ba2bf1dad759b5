"""Photos in conversations (docs/creators.md#ppv-messages): anyone who may write can attach a photo,
uploaded straight to storage and processed by the media job; only the two people see it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.errors import ValidationFailed
from extensions import db
from models import Message, User
from services import likes, messaging
from tests.creator_helpers import signed_in
from tests.test_creator import headers
from tests.test_media import jpeg_bytes, upload


def _matched(app):
    ana_auth, ana_id = signed_in(app, "ana@example.com", "Ana")
    bob_auth, bob_id = signed_in(app, "bob@example.com", "Bob")
    with app.app_context():
        ana, bob = db.session.get(User, ana_id), db.session.get(User, bob_id)
        likes.react(ana, bob_id, "like")
        likes.react(bob, ana_id, "like")
    return ana_auth, ana_id, bob_auth, bob_id


def test_a_photo_goes_with_a_message_and_only_the_two_see_it(app):
    ana, ana_id, bob, bob_id = _matched(app)
    presigned = ana.client.post(
        "/messages/attachments/presign",
        json={"content_type": "image/jpeg", "size": 5000},
        headers=headers(ana),
    ).get_json()
    assert upload(ana, presigned, jpeg_bytes()).status_code == 204
    box = ana.client.post(
        "/messages/attachments/confirm", json={"key": presigned["key"]}, headers=headers(ana)
    ).get_data(as_text=True)
    upload_id = re.search(r'name="upload_id" value="(\d+)"', box).group(1)
    sent = ana.client.post(
        f"/messages/{bob_id}",
        data={"csrf_token": headers(ana)["X-CSRFToken"], "body": "look!", "upload_id": upload_id},
        headers={"HX-Request": "true"},
    )
    assert sent.status_code == 200 and ".display." in sent.get_data(as_text=True)
    with app.app_context():
        message = db.session.scalar(select(Message))
        assert message.media_id == int(upload_id) and not message.unlock_price
        display = message.media_id
    page = bob.client.get(f"/messages/{ana_id}").get_data(as_text=True)
    assert 'alt="Photo"' in page and "Unlock" not in page
    eve, _ = signed_in(app, "eve@example.com", "Eve")
    assert eve.client.get(f"/messages/{ana_id}").get_data(as_text=True).count('alt="Photo"') == 0
    assert display


def test_someone_elses_upload_or_a_price_on_a_chat_photo_is_refused(app):
    ana, ana_id, bob, bob_id = _matched(app)
    presigned = ana.client.post(
        "/messages/attachments/presign",
        json={"content_type": "image/jpeg", "size": 5000},
        headers=headers(ana),
    ).get_json()
    upload(ana, presigned, jpeg_bytes())
    ana.client.post(
        "/messages/attachments/confirm", json={"key": presigned["key"]}, headers=headers(ana)
    )
    with app.app_context():
        from models import MediaObject

        photo_id = db.session.scalar(select(MediaObject.id))
        bob_user = db.session.get(User, bob_id)
        from core.errors import NotFound

        with pytest.raises(NotFound):
            messaging.send(bob_user, ana_id, "mine now", media_id=photo_id)
        ana_user = db.session.get(User, ana_id)
        with pytest.raises(ValidationFailed, match="vault"):
            messaging.send(ana_user, bob_id, "pay", media_id=photo_id, unlock_price=5)
