"""The edges of identity checks, roles and consent (docs/identity.md, docs/security.md#roles):
who may act on whom, every way into adult content, abandoned and broken checks, keys, files."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
import werkzeug.wrappers.request
from PIL import Image
from sqlalchemy import func, select

import config
from core import clock
from core.errors import NotAllowed, ValidationFailed
from extensions import db
from models import (
    Appeal,
    MediaObject,
    Profile,
    SealedFile,
    User,
    VerificationKind,
    VerificationRequest,
)
from services import (
    admin_users,
    age_gate,
    appeals,
    co_performers,
    compliance,
    creators,
    growth,
    identity,
    media,
    moderation,
    posts,
    profiles,
    safety,
)
from testkit import people
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.identity_helpers import picture, submitted, with_photo
from tests.test_payouts import with_2fa


def staff(role: str, name: str) -> User:
    user = people.person(name)
    user.role = role
    db.session.commit()
    with_2fa(user)
    return user


# --- who acts on whom -----------------------------------------------------------------------------


def test_a_moderator_does_not_act_on_staff_accounts(ctx):
    moderator, other, admin = (
        staff("moderator", "Mo"),
        staff("moderator", "Max"),
        staff("admin", "Ada"),
    )
    member = people.person("Ana")
    for target in (admin, other):
        with pytest.raises(NotAllowed, match="Only an admin"):
            admin_users.set_status(moderator, target.id, "banned", "no")
        with pytest.raises(NotAllowed, match="Only an admin"):
            admin_users.force_logout(moderator, target.id)
    admin_users.set_status(moderator, member.id, "suspended", "spam")
    admin_users.set_status(admin, other.id, "suspended", "abuse of tools")  # an admin may
    assert db.session.get(User, other.id).status == "suspended"


def test_staff_do_not_judge_reports_about_themselves_or_their_own_posts(app, ctx):
    moderator = staff("moderator", "Mo")
    reporter = people.person("Rita")
    report = safety.report(reporter, moderator.id, "profile", str(moderator.id), "spam", "x")
    with pytest.raises(NotAllowed):
        moderation.decide(moderator, report.id, "dismiss")
    moderator.is_creator = True
    moderator.creator_verified_at = clock.now()
    db.session.commit()
    app.config["CONTENT_REVIEW"] = True
    post = posts.create(moderator, body="mine", visibility="public")
    with pytest.raises(NotAllowed, match="Another reviewer"):
        compliance.review(moderator, post.id, True)


# --- every way into adult content ---------------------------------------------------------------


@pytest.fixture
def gated(app):
    app.config["AGE_CHECK_COUNTRIES"] = "GB"
    return app


def uk_fan(credits: int = 500) -> User:
    sam = fan("Sam", credits=credits)
    profiles.ensure(sam).country_code = "GB"
    db.session.commit()
    return sam


def test_trial_links_and_bundles_are_age_gated_too(gated, ctx):
    mia = creator("Mia")
    mia.adult_content = True
    db.session.commit()
    growth.set_bundles(mia, {3: 10})
    link = growth.create_trial_link(mia, days=7, max_uses=5, valid_days=30)
    sam = uk_fan()
    with pytest.raises(NotAllowed, match="age check"):
        growth.start_trial(sam, link.code)
    with pytest.raises(NotAllowed, match="age check"):
        growth.buy_bundle(sam, mia.id, 3)


def test_staff_and_creators_verified_before_age_checks_pass_the_gate(gated, ctx):
    legacy = creator("Old")  # creator_verified_at, no age_verified_at
    assert legacy.age_verified_at is None and not age_gate.needs_check(legacy)
    assert not age_gate.needs_check(staff("moderator", "Mo"))
    assert age_gate.needs_check(uk_fan())


def test_the_creator_cannot_lift_staffs_adult_mark(ctx):
    mia, moderator = creator("Mia"), staff("moderator", "Mo")
    admin_users.set_adult_content(moderator, mia.id, True)
    with pytest.raises(ValidationFailed) as refused:
        creators.update_settings(mia, adult_content=False)
    assert "Our team marked your content adult" in refused.value.errors["adult"]
    creators.update_settings(mia, adult_content=True)
    admin_users.set_adult_content(moderator, mia.id, False)
    creators.update_settings(mia, adult_content=False)
    assert not db.session.get(User, mia.id).adult_content


# --- broken input and abandoned checks ----------------------------------------------------------


def test_a_broken_png_is_a_field_error_not_a_crash(ctx):
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 20, 30)).save(out, "PNG")
    data = bytearray(out.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 20] = b"\x00garbage\xff" * 8  # a broken chunk
    with pytest.raises(ValidationFailed) as refused:
        identity.image(identity.Upload(bytes(data)), "front", "the front of your document")
    assert "must be a photo" in refused.value.errors["front"]


def test_a_check_abandoned_with_an_identity_service_can_be_started_again(app, ctx):
    app.config["IDENTITY_PROVIDER"] = "dev"
    nova = people.person("Nova", creator=True)
    with app.test_request_context():
        identity.start_with_provider(nova, VerificationKind.CREATOR)
    app.config["IDENTITY_PROVIDER"] = "manual"  # the operator switched the service off
    assert identity.refusal(nova, VerificationKind.CREATOR) is None
    with app.test_request_context():
        request = submitted(nova)
    statuses = db.session.scalars(
        select(VerificationRequest.status).order_by(VerificationRequest.id)
    ).all()
    assert statuses == ["rejected", "pending"] and request.provider == "manual"


def test_a_look_at_a_file_gone_from_storage_is_not_found(ctx):
    from core.errors import NotFound

    request = submitted(people.person("Nova", creator=True))
    row = request.files[0]
    media.storage().delete(row.key)
    with pytest.raises(NotFound):
        identity.open_file(staff("moderator", "Mo"), row.id)


def test_documents_never_touch_a_temporary_file(app, monkeypatch):
    """Uploads over 500 KB would be spooled to disk: the identity form keeps them in memory."""

    def no_temp_files(*args, **kwargs):
        raise AssertionError("a document went to a temporary file")

    monkeypatch.setattr(werkzeug.wrappers.request, "default_stream_factory", no_temp_files)
    auth, user_id = signed_in(app, "nova@example.com", "Nova", creator=False)
    with app.app_context():
        db.session.get(User, user_id).is_creator = True
        db.session.commit()
    page = auth.client.get("/settings/verification/creator").get_data(as_text=True)
    capture = page.split('name="capture" type="hidden" value="')[1].split('"')[0]
    big = Image.effect_noise((1200, 1200), 100).convert("RGB")
    out = io.BytesIO()
    big.save(out, "JPEG", quality=97)
    assert len(out.getvalue()) > 600_000
    response = auth.post(
        "/settings/verification/creator",
        {
            "capture": capture,
            "document_type": "passport",
            "front": (io.BytesIO(out.getvalue()), "front.jpg"),
            "selfie": (io.BytesIO(picture((640, 480))), "selfie.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303


# --- keys --------------------------------------------------------------------------------------


def test_rotation_does_not_take_an_underscore_for_a_wildcard(app, ctx):
    k_x = "kX2:" + base64.b64encode(b"\x01" * 32).decode()
    k__ = "k_2:" + base64.b64encode(b"\x02" * 32).decode()
    app.config["SEALING_KEYS"] = k_x
    request = submitted(people.person("Nova", creator=True))
    app.config["SEALING_KEYS"] = f"{k__},{k_x}"
    assert identity.rotate_keys().rewrapped == 3
    assert all(f.wrapped_key.startswith("k_2:") for f in db.session.scalars(select(SealedFile)))
    app.config["SEALING_KEYS"] = k__  # kX2 may go: nothing is wrapped by it any more
    for row in request.files:
        identity.open_file(staff("admin", f"Ada{row.id}"), row.id)


def test_rotation_reports_files_whose_key_is_missing_and_leaves_them(app, ctx):
    old = "old:" + base64.b64encode(b"\x03" * 32).decode()
    new = "new:" + base64.b64encode(b"\x04" * 32).decode()
    app.config["SEALING_KEYS"] = old
    submitted(people.person("Nova", creator=True))
    app.config["SEALING_KEYS"] = new  # the old key forgotten too early
    rotation = identity.rotate_keys()
    assert rotation.rewrapped == 0 and len(rotation.unreadable) == 3
    assert all(f.wrapped_key.startswith("old:") for f in db.session.scalars(select(SealedFile)))


def test_malformed_sealing_keys_stop_the_start(monkeypatch):
    from app import create_app

    monkeypatch.setenv("SEALING_KEYS", "k1:not-base64!")
    with pytest.raises(config.ConfigError, match="SEALING_KEYS"):
        create_app()


# --- consent and records ------------------------------------------------------------------------


def test_moderators_removing_the_photos_lapse_the_photo_badge(ctx):
    dee = people.person("Dee")
    profiles.ensure(dee)
    with_photo(dee)
    dee.photo_verified_at = clock.now()
    db.session.get(Profile, dee.id).is_photo_verified = True
    db.session.commit()
    moderator = staff("moderator", "Mo")
    report = safety.report(people.person("Rita"), dee.id, "profile", str(dee.id), "fake", "x")
    moderation.decide(moderator, report.id, "remove")
    assert db.session.get(User, dee.id).photo_verified_at is None
    assert not db.session.get(Profile, dee.id).is_photo_verified


def test_a_blocked_creator_cannot_be_tagged(ctx):
    luna, leo = creator("Luna"), creator("Leo")
    safety.block(leo, luna.id)
    with pytest.raises(ValidationFailed, match="No creator here has that handle"):
        co_performers.tag_member(luna, vault_photo(luna).id, compliance.handle(leo))


def test_a_member_who_left_creator_mode_still_answers_their_tags(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    mia_auth, mia_id = signed_in(app, "mia@example.com", "Mia", creator=True)
    with app.app_context():
        co_performers.tag_member(
            db.session.get(User, luna_id),
            vault_photo(db.session.get(User, luna_id)).id,
            str(mia_id),
        )
        db.session.get(User, mia_id).is_creator = False
        db.session.commit()
    assert "Luna" in mia_auth.client.get("/creator/tags").get_data(as_text=True)


def test_erasing_an_account_closes_its_pending_checks(ctx):
    from services import erasure

    nova = people.person("Nova", creator=True)
    request = submitted(nova)
    nova.delete_after = clock.now() - dt.timedelta(seconds=1)
    db.session.commit()
    assert erasure.erase_account(nova.id, clock.now())
    request = db.session.get(VerificationRequest, request.id)
    assert request.status == "rejected" and request.files_deleted_at is not None
    assert identity.queue(staff("moderator", "Mo")) == []


def test_refused_releases_lose_their_files_after_the_retention_period(app, ctx):
    luna, moderator = creator("Luna"), staff("moderator", "Mo")
    row = co_performers.add_release(
        luna,
        vault_photo(luna).id,
        legal_name="Alex Doe",
        id_document=identity.Upload(picture()),
        release_form=identity.Upload(picture()),
    )
    keys = [f.key for f in row.files]
    co_performers.decide_release(moderator, row.id, approve=False, reason="Not signed.")
    later = clock.now() + dt.timedelta(days=app.config["VERIFICATION_RETENTION_DAYS"] + 1)
    identity.purge_decided_files(later)
    assert db.session.scalar(select(func.count(SealedFile.id))) == 0
    assert not any(media.storage().head(key) for key in keys)


def test_an_appeal_against_an_old_suspension_does_not_lift_a_newer_ban(app, ctx):
    admin, moderator = staff("admin", "Ada"), staff("moderator", "Mo")
    ana = people.person("Ana")
    admin_users.set_status(admin, ana.id, "suspended", "spam")
    with app.test_request_context():
        appeal = appeals.submit(ana, appeals.account_decision(ana), "It was not spam.")
    admin_users.set_status(admin, ana.id, "banned", "scam messages")
    with pytest.raises(Exception, match="state changed"):
        appeals.decide(moderator, appeal.id, overturn=True, note="Fine.")
    assert db.session.get(User, ana.id).status == "banned"
    assert db.session.get(Appeal, appeal.id).status == "open"


def test_editing_a_post_keeps_a_taken_down_item_from_blocking_it(ctx):
    luna, mia = creator("Luna"), creator("Mia")
    item = vault_photo(luna)
    tag = co_performers.tag_member(luna, item.id, str(mia.id))
    co_performers.answer(mia, tag.id, accept=True)
    post = posts.create(luna, body="Us", visibility="public", media_ids=[item.id])
    co_performers.withdraw(mia, tag.id)
    assert db.session.get(MediaObject, item.id).status == "rejected"
    posts.edit(luna, post.id, body="Just me now", visibility="public")
