"""Videos in the vault (docs/creators.md#videos): the multipart upload on local storage (parts
to signed URLs, resumed, finished), processing on the worker into renditions, poster, blurred
preview and teaser with the reason on the item when a file is unusable, and delivery to the
entitled only. The same upload against S3 is in tests/test_s3_storage.py; clips are made here
with PyAV (tests/test_video.py)."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import av
import pytest
from sqlalchemy import select

from core import clock
from core.errors import DomainError
from extensions import db
from models import MediaObject, Unlock, User
from services import ledger, media, messaging, posts, storage, subscriptions
from tests.creator_helpers import creator, fan, signed_in
from tests.test_creator import headers
from tests.test_video import make_clip


def padded(data: bytes, size: int) -> bytes:
    """The clip grown to `size` bytes with an MP4 `free` box (a valid file of any size)."""
    extra = size - len(data)
    assert extra >= 8
    return data + struct.pack(">I", extra) + b"free" + secrets.token_bytes(extra - 8)


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 8 KiB, so that a small clip goes up in several."""
    monkeypatch.setattr(storage, "PART_BYTES", 8 * 1024)
    monkeypatch.setattr(media, "PART_BYTES", 8 * 1024)
    from blueprints import media as media_views

    monkeypatch.setattr(media_views, "PART_BYTES", 8 * 1024)


def start(auth, data: bytes, content_type="video/mp4"):
    return auth.client.post(
        "/creator/vault/presign",
        json={"content_type": content_type, "size": len(data)},
        headers=headers(auth),
    )


def part_urls(auth, key: str, numbers: list[int]):
    return auth.client.post(
        "/uploads/parts", json={"key": key, "parts": numbers}, headers=headers(auth)
    )


def put_part(auth, url: str, body: bytes):
    return auth.client.put(url, data=body, content_type="application/octet-stream")


def send_parts(auth, started: dict, data: bytes, numbers: list[int] | None = None) -> None:
    size = started["part_bytes"]
    wanted = numbers or list(range(1, started["parts"] + 1))
    urls = part_urls(auth, started["key"], wanted).get_json()["urls"]
    for number in wanted:
        chunk = data[(number - 1) * size : number * size]
        assert put_part(auth, urls[str(number)], chunk).status_code == 200


def finish(auth, key: str):
    return auth.client.post("/creator/vault/confirm", json={"key": key}, headers=headers(auth))


def item_of(app, key: str) -> MediaObject:
    with app.app_context():
        obj = db.session.scalar(select(MediaObject).where(MediaObject.key == key))
        db.session.expunge(obj)
        return obj


def test_a_video_goes_up_in_parts_and_comes_out_as_renditions_poster_and_teaser(
    app, tmp_path, small_parts
):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = make_clip(tmp_path / "clip.mp4", seconds=2.0).read_bytes()
    assert len(data) > 8 * 1024  # more than one part
    started = start(auth, data).get_json()
    assert started["parts"] == -(-len(data) // (8 * 1024))
    send_parts(auth, started, data)

    grid = finish(auth, started["key"])
    assert grid.status_code == 200
    text = grid.get_data(as_text=True)
    assert "Vault video" in text and "▶ 0:02" in text
    obj = item_of(app, started["key"])
    assert obj.status == "ready" and obj.kind == "video" and obj.progress == 100
    # 180 lines high: one rendition (never scaled up), no 1080p copy of it
    assert set(obj.variants) == {"v480", "poster", "thumb", "blur", "teaser"}
    assert (obj.width, obj.height, obj.duration_ms) == (320, 180, 2000)
    with app.app_context():
        store = media.storage()
        assert store.head(obj.key) is None  # the source, with its metadata, is gone
        with av.open(str(store._path(obj.variants["v480"]))) as rendition:
            assert [s.codec_context.name for s in rendition.streams] == ["h264", "aac"]
            assert "Lavf" not in str(rendition.metadata)  # no encoder's name, no source tags
        with av.open(str(store._path(obj.variants["teaser"]))) as teaser:
            assert [s.type for s in teaser.streams] == ["video"]  # silent
            assert teaser.duration / av.time_base <= media.TEASER_SECONDS + 0.2


def test_a_broken_off_upload_resumes_from_the_parts_already_stored(app, tmp_path, small_parts):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = make_clip(tmp_path / "clip.mp4", seconds=2.0).read_bytes()
    started = start(auth, data).get_json()
    assert started["parts"] >= 2
    send_parts(auth, started, data, [1])

    early = finish(auth, started["key"])  # the browser says it is done, but it is not
    assert early.status_code == 400 and "parts have not arrived" in early.get_data(as_text=True)
    assert item_of(app, started["key"]).status == "pending"

    state = auth.client.post(
        "/uploads/state", json={"key": started["key"]}, headers=headers(auth)
    ).get_json()
    assert state["stored"] == [1] and state["parts"] == started["parts"]
    send_parts(auth, started, data, list(range(2, started["parts"] + 1)))
    assert finish(auth, started["key"]).status_code == 200
    assert item_of(app, started["key"]).status == "ready"


def test_part_links_are_bound_to_their_upload_and_close_with_it(app, tmp_path, small_parts):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    other, _ = signed_in(app, "mia@example.com", "Mia", creator=True)
    data = make_clip(tmp_path / "clip.mp4", seconds=2.0).read_bytes()
    mine = start(auth, data).get_json()
    theirs = start(other, data).get_json()

    # Someone else's upload: no URLs for it, and a URL of mine cannot be turned to it.
    assert part_urls(auth, theirs["key"], [1]).status_code == 404
    url = part_urls(auth, mine["key"], [1]).get_json()["urls"]["1"]
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    their_upload = item_of(app, theirs["key"]).upload_id
    forged = "/media/part?" + urlencode({**query, "upload": their_upload, "key": theirs["key"]})
    assert put_part(auth, forged, data[:100]).status_code == 403
    assert put_part(auth, url.replace("part=1", "part=2"), data[:100]).status_code == 403
    short = put_part(auth, url, data[:100])  # signed for a whole part of 8 KiB
    assert short.status_code == 400 and "size it was signed for" in short.get_json()["error"]
    # A part larger than a part may be is refused whole.
    too_big = put_part(auth, url, b"x" * (8 * 1024 + 1))
    assert too_big.status_code == 413

    send_parts(auth, mine, data)
    assert finish(auth, mine["key"]).status_code == 200
    assert put_part(auth, url, data[:100]).status_code == 409  # finished: closed
    assert part_urls(auth, mine["key"], [1]).status_code == 409
    assert part_urls(auth, theirs["key"], [0]).status_code == 404
    assert part_urls(other, theirs["key"], [0]).status_code == 422


@pytest.mark.parametrize(
    ("content_type", "size", "message"),
    [
        ("video/avi", 1000, "MP4, MOV, WebM or MKV"),
        ("application/pdf", 1000, "photos (JPEG, PNG or WebP) or videos"),
        ("video/mp4", 0, "up to 4 GB"),
        ("video/mp4", 4 * 2**30 + 1, "up to 4 GB"),
    ],
)
def test_what_is_refused_before_anything_is_stored(app, content_type, size, message):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    response = auth.client.post(
        "/creator/vault/presign",
        json={"content_type": content_type, "size": size},
        headers=headers(auth),
    )
    assert response.status_code == 422 and message in response.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(MediaObject.id)) is None


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=48_000)
        for start_at in range(0, 48_000, 1024):
            frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = 48_000, start_at
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_bytes(secrets.token_bytes(5000)) and path, "not a video"),
        (lambda path: audio_only(path), "no picture"),
        (
            lambda path: path.write_bytes(make_clip(path).read_bytes()[:3000]) and path,
            "we can read",
        ),
        (lambda path: make_clip(path, seconds=4.0), "up to 2 seconds long"),
    ],
    ids=["random bytes", "sound only", "cut short", "too long"],
)
def test_an_unusable_file_fails_with_the_reason_on_the_item(app, tmp_path, make, message):
    app.config["VIDEO_MAX_SECONDS"] = 2
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = Path(make(tmp_path / "upload.mp4")).read_bytes()
    started = start(auth, data).get_json()
    send_parts(auth, started, data)
    grid = finish(auth, started["key"]).get_data(as_text=True)
    obj = item_of(app, started["key"])
    assert obj.status == "rejected" and message in obj.error
    assert "Not usable." in grid and message in grid
    with app.app_context():
        assert media.storage().head(obj.key) is None  # nothing of it is kept
        assert media.ready_vault_items(obj.user_id) == []  # nothing to attach
    auth.client.post(f"/creator/vault/{obj.id}/delete", headers=headers(auth))
    with app.app_context():
        assert db.session.get(MediaObject, obj.id) is None


def upload_begun(owner, tmp_path: Path) -> MediaObject:
    """A video upload of `owner`'s, broken off after the first kilobyte of its first part."""
    data = make_clip(tmp_path / "clip.mp4").read_bytes()
    started = media.start_video_upload(owner, "vault", "video/mp4", len(data))
    obj = db.session.scalar(select(MediaObject).where(MediaObject.key == started["key"]))
    media.storage().write_part(obj.key, obj.upload_id, 1, io.BytesIO(data[:1000]))
    return obj


def test_abandoned_uploads_are_cleared_with_their_parts(ctx, tmp_path):
    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    obj = upload_begun(luna, tmp_path)
    store = media.storage()
    assert store.list_parts(obj.key, obj.upload_id)

    assert media.abort_abandoned_uploads() == 0  # a day to finish
    obj.created_at = clock.now() - dt.timedelta(hours=25)
    db.session.commit()
    upload_id, key = obj.upload_id, obj.key
    assert media.abort_abandoned_uploads() == 1
    assert store.list_parts(key, upload_id) is None
    assert db.session.scalar(select(MediaObject.id)) is None


# --- delivery -------------------------------------------------------------------------------------


def vault_video(owner, tmp_path: Path) -> MediaObject:
    """A video in `owner`'s vault, processed by the real job."""
    data = make_clip(tmp_path / f"{secrets.token_hex(4)}.mp4", seconds=1.0).read_bytes()
    started = media.start_video_upload(owner, "vault", "video/mp4", len(data))
    obj = db.session.scalar(select(MediaObject).where(MediaObject.key == started["key"]))
    media.storage().write_part(obj.key, obj.upload_id, 1, io.BytesIO(data))
    obj = media.finish_video_upload(owner, started["key"])
    db.session.refresh(obj)
    assert obj.status == "ready", obj.error
    return obj


def watched(item) -> tuple[bool, bool]:
    """(plays the renditions, sees the teaser) for a MediaView or an Attachment."""
    video = item.video
    return bool(video and video.sources), bool(video and video.teaser)


def test_who_gets_to_play_a_video_post(ctx, tmp_path):
    luna, mia = creator("Luna"), creator("Mia")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    sam, ben, ivy = fan("Sam", credits=500), fan("Ben", credits=500), fan("Ivy", credits=500)
    ppv = posts.create(luna, visibility="ppv", price=30, media_ids=[clip.id])
    for_subscribers = posts.create(luna, visibility="subscribers", media_ids=[clip.id])
    public = posts.create(luna, visibility="public", media_ids=[clip.id])
    posts.unlock(ben, ppv.id)
    subscriptions.subscribe(ivy, luna.id)
    viewers = {"anonymous": None, "fan": sam, "buyer": ben, "subscriber": ivy, "other creator": mia}
    viewers["owner"] = luna
    expected = {
        # viewer: (ppv, subscribers-only, public)
        "anonymous": (False, False, True),
        "fan": (False, False, True),
        "buyer": (True, False, True),
        "subscriber": (False, True, True),
        "other creator": (False, False, True),
        "owner": (True, True, True),
    }
    for who, viewer in viewers.items():
        got = []
        for post in (ppv, for_subscribers, public):
            (item,) = posts.views(viewer, [post])[0].media
            plays, teased = watched(item)
            assert plays != teased, who  # one or the other, never both
            # the locked see the blurred poster only, never the real one
            assert item.locked == (not plays)
            assert (clip.variants["blur"] in item.url) == (not plays), who
            got.append(plays)
        assert tuple(got) == expected[who], who


def test_a_video_sold_in_a_message_plays_once_paid(ctx, tmp_path):
    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    sam = fan("Sam", credits=500)
    message = messaging.send(luna, sam.id, "for you", media_id=clip.id, unlock_price=40)
    assert watched(messaging.attachments_for(sam, [message])[message.id]) == (False, True)
    assert watched(messaging.attachments_for(luna, [message])[message.id]) == (True, False)
    messaging.unlock_message(sam, message.id)
    assert db.session.scalar(select(Unlock.id).where(Unlock.message_id == message.id))
    assert watched(messaging.attachments_for(sam, [message])[message.id]) == (True, False)


def test_a_rendition_is_served_in_ranges_for_seeking(app, tmp_path):
    with app.app_context():
        luna = creator("Luna")
        luna.email_verified_at = luna.created_at
        clip = vault_video(luna, tmp_path)
        post = posts.create(luna, visibility="public", media_ids=[clip.id])
        (item,) = posts.views(None, [post])[0].media
        url = item.video.sources[-1][0]
        size = media.storage().head(clip.variants["v480"]).size
    client = app.test_client()
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    middle = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206
    assert middle.headers["Content-Range"] == f"bytes 1000-1999/{size}"
    assert middle.data == whole.data[1000:2000]
    assert middle.headers["Content-Type"] == "video/mp4"


# --- moderation and takedowns ---------------------------------------------------------------------


def files_of(obj: MediaObject) -> list[str]:
    """The keys of every file of a media item still in storage."""
    return still_stored([obj.key, *obj.variants.values()])


def still_stored(keys) -> list[str]:
    store = media.storage()
    return [key for key in set(keys) if store.head(key) is not None]


def test_a_reported_video_post_is_shown_to_the_moderator_and_removed_with_every_rendition(
    ctx, tmp_path
):
    from services import moderation, safety

    luna, admin = creator("Luna"), fan("Admin")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    sam = fan("Sam", credits=500)
    reported = posts.create(luna, visibility="public", media_ids=[clip.id])
    sold = posts.create(luna, visibility="ppv", price=30, media_ids=[clip.id])
    posts.unlock(sam, sold.id)
    assert len(files_of(clip)) == 5  # v480, poster, thumb, blur, teaser (the source is gone)
    safety.report(sam, luna.id, "post", str(reported.id), "harassment", "")
    report = db.session.scalar(select(moderation.Report))

    shown = moderation.subject(report)
    assert len(shown.videos) == 1 and shown.videos[0].sources  # played in place, in full
    assert shown.posters[0] and clip.variants["poster"] in shown.posters[0]

    keys = list(clip.variants.values())
    moderation.decide(admin, report.id, "remove")
    db.session.refresh(clip)
    assert clip.status == "rejected" and clip.error == media.TAKEN_DOWN
    assert still_stored(keys) == [] and clip.variants == {}
    # gone from the other post that showed it too, even for the fan who bought that one
    assert posts.views(sam, [sold])[0].media == []
    assert clip not in media.ready_vault_items(luna.id)


def test_a_reported_voice_note_plays_for_the_moderator_and_goes_with_the_message(ctx, tmp_path):
    from services import moderation, safety
    from tests.test_video import make_recording

    luna, admin, sam = creator("Luna"), fan("Admin"), fan("Sam")
    sam.email_verified_at = sam.created_at
    recording = make_recording(tmp_path / "note.webm").read_bytes()
    with ctx.test_request_context():  # the local store's upload form is a URL of the app
        started = media.start_upload(sam, "voice", "audio/webm", len(recording))
    media.storage().write(started["key"], recording, "audio/webm")
    note = media.confirm_upload(sam, started["key"])
    db.session.refresh(note)
    message = messaging.send(sam, luna.id, "", media_id=note.id)
    safety.report(luna, sam.id, "message", str(message.id), "harassment", "")
    report = db.session.scalar(select(moderation.Report))

    shown = moderation.subject(report)
    assert len(shown.voice_urls) == 1 and note.variants["audio"] in shown.voice_urls[0]

    keys = list(note.variants.values())
    moderation.decide(admin, report.id, "remove")
    db.session.refresh(note)
    assert still_stored(keys) == [] and note.status == "rejected"
    assert db.session.get(type(message), message.id).media_id is None
    assert messaging.attachments_for(luna, [message]) == {}


def test_a_copyright_takedown_of_a_video_post_deletes_every_file_of_the_video(ctx, tmp_path):
    from services import takedowns

    luna, admin = creator("Luna"), fan("Admin")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    post = posts.create(luna, visibility="subscribers", media_ids=[clip.id])
    notice = takedowns.file_takedown(
        None,
        claimant_name="Ann Lee",
        claimant_email="ann@example.org",
        content_url=f"http://localhost/posts/{post.id}",
        original_work="My film 'Dunes', published on my site in 2024.",
        good_faith=True,
        signature="Ann Lee",
    )
    keys = list(clip.variants.values())
    takedowns.resolve_takedown(admin, notice.id, True, "We removed the video. Thank you.")
    db.session.refresh(clip)
    assert still_stored(keys) == [] and clip.status == "rejected"


# --- profile videos -------------------------------------------------------------------------------


def upload_clip(auth, data: bytes):
    started = auth.client.post(
        "/profile/video/presign",
        json={"content_type": "video/mp4", "size": len(data)},
        headers=headers(auth),
    )
    assert started.status_code == 200, started.get_json()
    started = started.get_json()
    send_parts(auth, started, data)
    return auth.client.post(
        "/profile/video/confirm", json={"key": started["key"]}, headers=headers(auth)
    )


def test_a_dater_shows_a_short_video_on_their_profile_and_replaces_it(app, tmp_path):
    from tests.test_chat_attachments import _matched

    ana, ana_id, bob, bob_id = _matched(app)
    first = upload_clip(ana, make_clip(tmp_path / "a.mp4", seconds=1.0).read_bytes())
    assert first.status_code == 200 and "Your profile video, 0:01" in first.get_data(as_text=True)
    seen = bob.client.get(f"/people/{ana_id}").get_data(as_text=True)
    assert "Ana's video, 0:01" in seen and ".v480.mp4" in seen
    with app.app_context():
        (old,) = db.session.scalars(select(MediaObject).where(MediaObject.purpose == "clip"))
        assert old.variants.keys() == {"v480", "poster", "thumb", "blur", "teaser"}
        assert "v1080" not in old.variants

    second = upload_clip(ana, make_clip(tmp_path / "b.mp4", seconds=2.0).read_bytes())
    assert "Your profile video, 0:02" in second.get_data(as_text=True)
    with app.app_context():
        (new,) = db.session.scalars(select(MediaObject).where(MediaObject.purpose == "clip"))
        assert new.id != old.id
        assert all(media.storage().head(key) is None for key in old.variants.values())

    removed = ana.client.post("/profile/video/delete", headers=headers(ana))
    assert "A short video says more than a photo" in removed.get_data(as_text=True)
    assert "s video," not in bob.client.get(f"/people/{ana_id}").get_data(as_text=True)


def test_a_profile_video_longer_than_a_clip_says_why(app, tmp_path):
    ana, _ = signed_in(app, "ana@example.com", "Ana")
    refused = upload_clip(
        ana,
        make_clip(
            tmp_path / "long.mp4", seconds=app.config["PROFILE_VIDEO_MAX_SECONDS"] + 2
        ).read_bytes(),
    )
    page = refused.get_data(as_text=True)
    assert "Your last video could not be used: Videos can be up to 30 seconds long." in page


def test_a_reported_profile_shows_its_video_and_removing_it_takes_the_video_down(app, tmp_path):
    from services import moderation, safety
    from tests.test_chat_attachments import _matched

    ana, ana_id, bob, bob_id = _matched(app)
    upload_clip(ana, make_clip(tmp_path / "a.mp4", seconds=1.0).read_bytes())
    with app.app_context():
        admin = fan("Admin")
        safety.report(db.session.get(User, bob_id), ana_id, "profile", str(ana_id), "fake", "")
        report = db.session.scalar(select(moderation.Report))
        assert len(moderation.subject(report).videos) == 1
        clip = db.session.scalar(select(MediaObject).where(MediaObject.purpose == "clip"))
        keys = list(clip.variants.values())
        moderation.decide(admin, report.id, "remove")
        db.session.refresh(clip)
        assert clip.status == "rejected" and still_stored(keys) == []
    assert "s video," not in bob.client.get(f"/people/{ana_id}").get_data(as_text=True)
    own = ana.client.get("/profile").get_data(as_text=True)
    assert "Your last video could not be used: Removed by a moderator." in own


def test_a_mass_message_sells_a_video_to_every_subscriber(ctx, tmp_path):
    from services import mass_messages

    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    sam, ivy = fan("Sam", credits=500), fan("Ivy", credits=500)
    for member in (sam, ivy):
        subscriptions.subscribe(member, luna.id)
    mass_messages.start(luna, body="new video!", media_id=clip.id, price=25)
    received = {
        member.id: db.session.scalar(
            select(messaging.Message).where(messaging.Message.recipient_id == member.id)
        )
        for member in (sam, ivy)
    }
    for member in (sam, ivy):
        message = received[member.id]
        assert watched(messaging.attachments_for(member, [message])[message.id]) == (False, True)
    messaging.unlock_message(sam, received[sam.id].id)
    assert watched(messaging.attachments_for(sam, [received[sam.id]])[received[sam.id].id]) == (
        True,
        False,
    )


def test_erasing_an_account_drops_the_parts_of_a_video_it_was_uploading(ctx, tmp_path):
    from services import erasure

    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    obj = upload_begun(luna, tmp_path)
    store = media.storage()
    key, upload_id = obj.key, obj.upload_id
    luna.delete_after = clock.now() - dt.timedelta(minutes=1)
    db.session.commit()
    assert erasure.erase_due_accounts() == 1
    assert store.list_parts(key, upload_id) is None


def test_a_second_run_of_the_job_leaves_the_first_ones_files(ctx, tmp_path):
    """Two runs of the processing job write the same files: the one that finds the item
    already ready keeps them (it used to delete them, leaving a ready item with no files)."""
    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    assert media._publish(media.storage(), clip.id, dict(clip.variants)) is False
    db.session.refresh(clip)
    assert clip.status == "ready" and len(files_of(clip)) == 5


def test_a_video_confirmed_twice_is_processed_once(app, tmp_path, small_parts):
    from models import BackgroundJob

    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    started = start(auth, data).get_json()
    send_parts(auth, started, data)
    assert finish(auth, started["key"]).status_code == 200
    again = finish(auth, started["key"])  # another tab says so too
    assert again.status_code == 200
    with app.app_context():
        paths = db.session.scalars(select(BackgroundJob.path)).all()
        assert paths.count("services.media:process_video") == 1


def test_after_a_takedown_a_post_or_message_that_showed_the_video_cannot_be_bought(ctx, tmp_path):
    from services import moderation, safety

    luna, admin = creator("Luna"), fan("Admin")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    ben = fan("Ben", credits=500)
    public = posts.create(luna, visibility="public", media_ids=[clip.id])
    sold = posts.create(luna, visibility="ppv", price=30, media_ids=[clip.id])
    message = messaging.send(luna, ben.id, "for you", media_id=clip.id, unlock_price=20)
    safety.report(ben, luna.id, "post", str(public.id), "explicit", "")
    moderation.decide(admin, db.session.scalar(select(moderation.Report.id)), "remove")
    with pytest.raises(DomainError, match="removed"):
        posts.unlock(ben, sold.id)
    with pytest.raises(DomainError, match="removed"):
        messaging.unlock_message(ben, message.id)
    assert ledger.wallet_balance(ben.id) == 500  # nothing paid for nothing


def test_an_upload_is_finished_only_from_the_page_it_started_on(app, tmp_path, small_parts):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    data = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    started = start(auth, data).get_json()  # a vault video
    send_parts(auth, started, data)
    elsewhere = auth.client.post(
        "/profile/video/confirm", json={"key": started["key"]}, headers=headers(auth)
    )
    assert elsewhere.status_code == 404
    assert item_of(app, started["key"]).status == "pending"
    assert finish(auth, started["key"]).status_code == 200


def test_processing_that_stopped_for_good_says_so_on_the_item(ctx, tmp_path):
    """A job that gave up after its retries leaves no item "processing" for ever."""
    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    clip.status, clip.progress_at = "uploaded", clock.now() - dt.timedelta(hours=2)
    db.session.commit()
    media.abort_abandoned_uploads()
    assert db.session.get(MediaObject, clip.id).status == "uploaded"  # a long queue: waits
    clip.progress_at = clock.now() - media.STALLED_PROCESSING - dt.timedelta(minutes=1)
    db.session.commit()
    media.abort_abandoned_uploads()
    db.session.refresh(clip)
    assert clip.status == "rejected" and clip.error == media.PROCESSING_FAILED


def test_a_take_down_whose_transaction_fails_leaves_the_files(ctx, tmp_path):
    """Files are deleted once the change that removes them has committed: a rolled-back change
    leaves no ready item pointing at missing files."""
    luna = creator("Luna")
    luna.email_verified_at = luna.created_at
    clip = vault_video(luna, tmp_path)
    keys = list(clip.variants.values())
    media.take_down(clip)
    db.session.rollback()  # e.g. the takedown's mail or audit row failed
    db.session.refresh(clip)
    assert clip.status == "ready" and len(files_of(clip)) == 5
    media.take_down(clip)
    db.session.commit()
    assert not any(media.storage().head(key) for key in keys)
