"""Content protection and compliance (docs/creators.md#content-protection): watermarks,
verified-only paid content, consent attestations, review before publication, copyright takedowns,
and country blocks."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops
from sqlalchemy import select

from core.errors import NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, MediaObject, Outbox, Post, Takedown, User
from services import compliance, country_blocks, media, posts, subscriptions, takedowns
from tests.creator_helpers import creator, fan, signed_in, vault_photo


def pixels(key: str) -> Image.Image:
    return Image.open(io.BytesIO(media.storage().read(key))).convert("RGB")


# --- watermark -----------------------------------------------------------------------------------


def test_delivered_images_carry_the_handle_and_the_clean_copy_stays_private(ctx):
    luna = creator("Luna")
    photo = vault_photo(luna)
    shown, clean = pixels(photo.variants["display"]), pixels(photo.variants["clean"])
    assert shown.size == clean.size
    difference = ImageChops.difference(shown, clean).convert("L")
    box = difference.getbbox()
    assert box is not None, "the delivered image has no watermark"
    # The mark sits in the bottom-right corner; the rest of the picture is untouched.
    assert box[0] > shown.width // 2 and box[1] > shown.height * 3 // 4
    corner = difference.crop(box)
    assert corner.getextrema()[1] > 60  # visible, not a rounding artefact
    assert compliance.handle(luna) == f"@luna{luna.id}"
    post = posts.create(luna, body="x", visibility="public", media_ids=[photo.id])
    view = posts.view(fan(), post.id)
    assert ".display." in view.media[0].url and ".clean." not in view.media[0].url


def test_a_creator_can_turn_the_watermark_off_for_new_uploads(ctx):
    luna = creator("Luna")
    db.session.get(CreatorSettings, luna.id).watermark = False
    db.session.commit()
    photo = vault_photo(luna)
    difference = ImageChops.difference(
        pixels(photo.variants["display"]), pixels(photo.variants["clean"])
    ).convert("L")
    assert difference.getextrema()[1] < 40  # JPEG noise only: no mark


def test_the_watermark_is_off_everywhere_when_configured_off(ctx):
    ctx.config["WATERMARK"] = False
    photo = vault_photo(creator("Luna"))
    difference = ImageChops.difference(
        pixels(photo.variants["display"]), pixels(photo.variants["clean"])
    ).convert("L")
    assert difference.getextrema()[1] < 40


# --- verified creators, consent ------------------------------------------------------------------


def test_only_verified_creators_sell_content(ctx):
    luna = creator("Luna", subscription_price=30)
    luna.creator_verified_at = None
    db.session.commit()
    photo = vault_photo(luna)
    with pytest.raises(NotAllowed, match="verified"):
        posts.create(luna, body="x", visibility="ppv", price=10, media_ids=[photo.id])
    posts.create(luna, body="free for all", visibility="public", media_ids=[photo.id])
    with pytest.raises(NotAllowed, match="verified"):
        subscriptions.subscribe(fan(credits=100), luna.id)
    from services import messaging

    with pytest.raises(NotAllowed, match="verified"):
        messaging.send(luna, fan().id, "pay", media_id=photo.id, unlock_price=5)


def test_an_upload_showing_others_needs_the_consent_attestation(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    from tests.test_creator import headers

    refused = auth.client.post(
        "/creator/vault/presign",
        json={"content_type": "image/jpeg", "size": 1000, "shows_others": True},
        headers=headers(auth),
    )
    assert refused.status_code == 422 and "signed release" in refused.get_json()["error"]
    accepted = auth.client.post(
        "/creator/vault/presign",
        json={"content_type": "image/jpeg", "size": 1000, "shows_others": True, "consent": True},
        headers=headers(auth),
    )
    assert accepted.status_code == 200
    with app.app_context():
        obj = db.session.scalar(select(MediaObject).where(MediaObject.user_id == luna_id))
        assert obj.shows_others and obj.consent_attested_at is not None


# --- review before publication --------------------------------------------------------------------


def test_with_review_on_posts_wait_for_an_admin(ctx):
    ctx.config["CONTENT_REVIEW"] = True
    luna, sam, admin = creator("Luna"), fan(), fan("Admin")
    subscriptions_post = posts.create(luna, body="new set", visibility="public")
    assert subscriptions_post.status == "review"
    with pytest.raises(NotFound):
        posts.view(sam, subscriptions_post.id)
    assert [p.id for p, _ in compliance.review_queue()] == [subscriptions_post.id]
    with pytest.raises(ValidationFailed):
        compliance.review(admin, subscriptions_post.id, approve=False, note="")
    compliance.review(admin, subscriptions_post.id, approve=True)
    assert posts.view(sam, subscriptions_post.id).post.status == "published"
    other = posts.create(luna, body="nope", visibility="public")
    compliance.review(admin, other.id, approve=False, note="Shows a minor's school logo")
    assert db.session.get(Post, other.id).status == "rejected"
    with pytest.raises(NotFound):
        posts.view(sam, other.id)
    from models import AuditLog

    assert set(db.session.scalars(select(AuditLog.action))) >= {"post.approved", "post.rejected"}


# --- takedowns ------------------------------------------------------------------------------------


def test_a_takedown_needs_every_field_and_gets_a_reply(app):
    with app.app_context():
        luna = creator("Luna")
        post_id = posts.create(luna, body="copied", visibility="public").id
    client = app.test_client()
    from tests.conftest import csrf_token

    token = csrf_token(client)
    missing = client.post("/takedown", data={"csrf_token": token, "claimant_name": "Ann Lee"})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 422 and "penalty of perjury" in page
    good = {
        "csrf_token": token,
        "claimant_name": "Ann Lee",
        "claimant_email": "ann@example.org",
        "content_url": f"http://localhost/posts/{post_id}",
        "original_work": "My photo series 'Dunes', published on my site in 2024.",
        "good_faith": "on",
        "signature": "Ann Lee",
    }
    assert "Notice #1" in client.post("/takedown", data=good).get_data(as_text=True)
    admin_auth, _ = signed_in(app, "root@example.com", "Root")
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "root@example.com"))
        notice = db.session.scalar(select(Takedown))
        assert (notice.subject_type, notice.subject_id) == ("post", str(post_id))
        takedowns.resolve_takedown(admin, notice.id, True, "We removed the post. Thank you.")
        assert db.session.get(Post, post_id).status == "deleted"
        mail = db.session.scalar(select(Outbox).where(Outbox.to_email == "ann@example.org"))
        assert "We removed the post" in mail.body
        from models import AuditLog

        actions = set(db.session.scalars(select(AuditLog.action)))
        assert {"takedown.filed", "takedown.removed"} <= actions


# --- country blocks -----------------------------------------------------------------------------


def _profile_country(user: User, code: str) -> None:
    from services import profiles

    profiles.ensure(user).country_code = code
    db.session.commit()


def test_country_blocks_hide_the_page_posts_media_and_feed(app):
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    de_auth, de_id = signed_in(app, "hans@example.com", "Hans", credits=100)
    fr_auth, fr_id = signed_in(app, "zoe@example.com", "Zoe", credits=100)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        db.session.get(CreatorSettings, luna_id).subscription_price = 0
        db.session.commit()
        photo = vault_photo(luna)
        post = posts.create(luna, body="hello", visibility="public", media_ids=[photo.id])
        for fan_id, code in ((de_id, "DE"), (fr_id, "FR")):
            person = db.session.get(User, fan_id)
            _profile_country(person, code)
            subscriptions.subscribe(person, luna_id)
        post_id, media_id = post.id, photo.id
    luna_auth.post(
        "/settings/creator",
        {
            "headline": "",
            "subscription_price": "0",
            "message_price": "0",
            "call_price": "0",
            "blocked_countries": "de, AT",
            "watermark_shown": "1",
            "watermark": "on",
        },
    )
    with app.app_context():
        assert db.session.get(CreatorSettings, luna_id).blocked_countries == "DE,AT"
    for url in (f"/creators/{luna_id}", f"/posts/{post_id}", f"/posts/{post_id}/media/{media_id}"):
        assert de_auth.client.get(url).status_code == 404, url
        assert fr_auth.client.get(url).status_code in (200, 302), url
    assert "hello" not in de_auth.client.get("/feed").get_data(as_text=True)
    assert "hello" in fr_auth.client.get("/feed").get_data(as_text=True)
    assert luna_auth.client.get(f"/posts/{post_id}").status_code == 200  # never from yourself
    bad = luna_auth.post(
        "/settings/creator",
        {
            "subscription_price": "0",
            "message_price": "0",
            "call_price": "0",
            "blocked_countries": "Germany",
        },
    )
    assert bad.status_code == 422 and "two-letter" in bad.get_data(as_text=True)


def test_a_geoip_database_blocks_visitors_without_a_profile_country(app, tmp_path):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["127.0.0.0/8"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "FR"}})
    path = tmp_path / "countries.mmdb"
    writer.to_db_file(str(path))
    app.config["GEOIP_DB"] = str(path)
    with app.app_context():
        luna = creator("Luna")
        db.session.get(CreatorSettings, luna.id).blocked_countries = "DE"
        db.session.commit()
        assert country_blocks.country_of_ip("127.0.0.1") == "DE"
        assert country_blocks.country_of_ip("198.51.100.7") == "FR"
        assert country_blocks.country_of_ip("203.0.113.1") is None
        luna_id = luna.id
    anonymous = app.test_client()  # the test client comes from 127.0.0.1: Germany here
    assert anonymous.get(f"/creators/{luna_id}").status_code == 404
    elsewhere = anonymous.get(f"/creators/{luna_id}", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 200
