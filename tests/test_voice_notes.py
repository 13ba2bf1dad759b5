"""Voice notes in conversations (docs/dating.md#voice-notes): recorded in the page, uploaded
straight to storage like a chat photo, made into AAC that every browser plays, and sent with a
message: only the two people hear it, and a message to a creator costs what a text does."""

from __future__ import annotations

import io
import re
from pathlib import Path

import av
from sqlalchemy import select

from extensions import db
from models import MediaObject, Message, User
from services import ledger, likes, media
from tests.creator_helpers import signed_in
from tests.test_chat_attachments import _matched
from tests.test_creator import headers
from tests.test_media import upload
from tests.test_video import make_clip, make_recording


def record(auth, data: bytes, content_type="audio/webm"):
    """What static/voice.js does with a recording: presign, post it to storage, confirm. Returns
    the attachment box."""
    started = auth.client.post(
        "/messages/attachments/voice",
        json={"content_type": content_type, "size": len(data)},
        headers=headers(auth),
    )
    assert started.status_code == 200, started.get_json()
    presigned = started.get_json()
    assert upload(auth, presigned, data, content_type=content_type).status_code == 204
    return auth.client.post(
        "/messages/attachments/confirm", json={"key": presigned["key"]}, headers=headers(auth)
    ).get_data(as_text=True)


def send(auth, to_id: int, box: str, body: str = ""):
    upload_id = re.search(r'name="upload_id" value="(\d+)"', box).group(1)
    return auth.client.post(
        f"/messages/{to_id}",
        data={"csrf_token": headers(auth)["X-CSRFToken"], "body": body, "upload_id": upload_id},
        headers={"HX-Request": "true"},
    )


def test_a_voice_note_recorded_on_one_side_plays_on_the_other_and_nowhere_else(app, tmp_path):
    ana, ana_id, bob, bob_id = _matched(app)
    recording = make_recording(tmp_path / "note.webm", seconds=2.0).read_bytes()
    box = record(ana, recording)
    assert 'aria-label="Voice note to send, 0:02"' in box  # processed: ready to go
    sent = send(ana, bob_id, box)
    assert sent.status_code == 200 and "Voice note · 0:02" in sent.get_data(as_text=True)

    page = bob.client.get(f"/messages/{ana_id}").get_data(as_text=True)
    src = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page).group(1)
    heard = bob.client.get(src.replace("&amp;", "&"))
    assert heard.status_code == 200 and heard.headers["Content-Type"] == "audio/mp4"
    with av.open(io.BytesIO(heard.data)) as note:
        assert [s.codec_context.name for s in note.streams] == ["aac"]
    with app.app_context():
        message = db.session.scalar(select(Message))
        obj = db.session.get(MediaObject, message.media_id)
        assert obj.kind == "audio" and obj.duration_ms == 2000
        assert media.storage().head(obj.key) is None  # the recording itself is not kept

    eve, _ = signed_in(app, "eve@example.com", "Eve")
    assert "<audio" not in eve.client.get(f"/messages/{ana_id}").get_data(as_text=True)
    assert eve.client.get(f"/messages/attachments/{obj.id}").status_code == 404


def test_a_voice_note_to_a_creator_costs_what_a_message_does(app, tmp_path):
    fan, fan_id = signed_in(app, "sam@example.com", "Sam", credits=100)
    _, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        from models import CreatorSettings

        db.session.get(CreatorSettings, luna_id).message_price = 15
        db.session.commit()
    box = record(fan, make_recording(tmp_path / "note.webm").read_bytes())
    assert send(fan, luna_id, box).status_code == 200
    with app.app_context():
        assert ledger.wallet_balance(fan_id) == 85
        assert db.session.scalar(select(Message.price)) == 15
        assert ledger.verify() == []


def test_what_cannot_be_a_voice_note_says_why_and_sends_nothing(app, tmp_path):
    ana, ana_id, bob, bob_id = _matched(app)
    clip = make_clip(tmp_path / "clip.mp4").read_bytes()
    box = record(ana, clip, content_type="audio/mp4")  # a video passed off as a recording
    assert "A voice note is sound only" in box and 'name="upload_id"' not in box
    refused = ana.client.post(
        "/messages/attachments/voice",
        json={"content_type": "audio/x-wav", "size": 1000},
        headers=headers(ana),
    )
    assert refused.status_code == 422
    too_big = ana.client.post(
        "/messages/attachments/voice",
        json={"content_type": "audio/webm", "size": media.VOICE_MAX_BYTES + 1},
        headers=headers(ana),
    )
    assert too_big.status_code == 422 and "5 minutes" in too_big.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(Message.id)) is None


def test_a_voice_note_cannot_be_sold_or_sent_by_someone_else(app, tmp_path):
    _, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam, sam_id = signed_in(app, "sam@example.com", "Sam")
    with app.app_context():
        luna = db.session.get(User, luna_id)
        likes.react(db.session.get(User, sam_id), luna_id, "like")
        likes.react(luna, sam_id, "like")
    from tests.conftest import AuthActions

    luna_auth = AuthActions(app.test_client())
    luna_auth.login(email="luna@example.com")
    box = record(luna_auth, make_recording(Path(tmp_path) / "n.webm").read_bytes())
    upload_id = re.search(r'name="upload_id" value="(\d+)"', box).group(1)
    priced = luna_auth.client.post(
        f"/messages/{sam_id}",
        data={
            "csrf_token": headers(luna_auth)["X-CSRFToken"],
            "upload_id": upload_id,
            "unlock_price": "20",
        },
        headers={"HX-Request": "true"},
    )
    assert priced.status_code == 422 and "Only items from your vault" in priced.get_data(
        as_text=True
    )
    stolen = sam.client.post(
        f"/messages/{luna_id}",
        data={"csrf_token": headers(sam)["X-CSRFToken"], "upload_id": upload_id},
        headers={"HX-Request": "true"},
    )
    assert stolen.status_code == 404
