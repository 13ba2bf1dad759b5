"""Identity checks (docs/identity.md): documents and selfies sealed at rest, reviewed by staff
with every look audited, decided with a reason the member reads, deleted after the retention
period or with the account; master-key rotation; moderators."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from core import clock, sealed
from extensions import db
from models import (
    AuditLog,
    Notification,
    Profile,
    SealedFile,
    User,
    VerificationKind,
    VerificationRequest,
)
from services import identity, media, profiles
from testkit import people
from tests.creator_helpers import signed_in
from tests.identity_helpers import camera_file_photo, picture, submitted, with_photo
from tests.test_admin import make_admin

FIELD_IDS = {
    "front": "document-front",
    "back": "document-back",
    "selfie": "selfie-file",
    "document_type": "document-type",
}
CAPTURE_RE = re.compile(r'name="capture" type="hidden" value="([^"]+)"')
GESTURE_RE = re.compile(r'id="gesture-text">([^<]+)<')


def _creator_client(app, email="nova@example.com", name="Nova"):
    auth, user_id = signed_in(app, email, name)
    with app.app_context():
        user = db.session.get(User, user_id)
        user.is_creator = True
        db.session.commit()
    return auth, user_id


def _capture(auth, kind="creator") -> str:
    page = auth.client.get(f"/settings/verification/{kind}")
    assert page.status_code == 200
    return CAPTURE_RE.search(page.get_data(as_text=True)).group(1)


def _send(auth, kind="creator", capture=None, **files):
    data = {"capture": capture or _capture(auth, kind)}
    if kind == "creator":
        data["document_type"] = files.pop("document_type", "id_card")
        data["front"] = (io.BytesIO(files.pop("front", picture(text="FRONT"))), "front.jpg")
        data["back"] = (io.BytesIO(files.pop("back", picture(text="BACK"))), "back.jpg")
    selfie = files.pop("selfie", picture((640, 480), (220, 180, 150)))
    if selfie is not None:
        data["selfie"] = (io.BytesIO(selfie), "selfie.jpg")
    return auth.post(f"/settings/verification/{kind}", data, content_type="multipart/form-data")


def _audits(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == action))


# --- sealed at rest -------------------------------------------------------------------------------


def test_a_creator_sends_a_document_and_a_selfie_that_are_stored_sealed(app):
    auth, user_id = _creator_client(app)
    page = auth.client.get("/settings/verification/creator").get_data(as_text=True)
    assert GESTURE_RE.search(page).group(1) in identity.GESTURES
    front = picture(text="FRONT")
    response = _send(auth, front=front)
    assert response.status_code == 303
    page = auth.client.get("/settings/verification").get_data(as_text=True)
    assert "in review" in page
    with app.app_context():
        request = db.session.scalar(select(VerificationRequest))
        assert request.user_id == user_id and request.status == "pending"
        assert request.gesture in identity.GESTURES
        assert sorted(f.role for f in request.files) == [
            "document_back",
            "document_front",
            "selfie",
        ]
        store = media.storage()
        for row in request.files:
            stored = store.read(row.key)
            assert stored.startswith(sealed.MAGIC)
            assert b"JFIF" not in stored and b"\xff\xd8" not in stored[:8]
            plain = sealed.open_sealed(
                stored, row.wrapped_key, identity.keyring(), context=identity._context(row.key)
            )
            assert Image.open(io.BytesIO(plain)).format == "JPEG"
            other = sealed.Keyring("x", {"x": b"\x01" * 32})
            with pytest.raises(sealed.SealError):
                sealed.open_sealed(
                    stored, row.wrapped_key, other, context=identity._context(row.key)
                )
            # Not reachable by a signed storage link either: there is none for sealed files,
            # and the storage's own link serves the sealed bytes only.
        assert not any(row.key.startswith("u/") for row in request.files)


def test_the_stored_document_has_no_metadata_and_a_readable_size(app):
    auth, _ = _creator_client(app)
    _send(auth, front=camera_file_photo())  # a document may come from the camera app
    with app.app_context():
        row = db.session.scalar(select(SealedFile).where(SealedFile.role == "document_front"))
        plain = sealed.open_sealed(
            media.storage().read(row.key),
            row.wrapped_key,
            identity.keyring(),
            context=identity._context(row.key),
        )
        assert b"SecretCam" not in plain
        assert not Image.open(io.BytesIO(plain)).getexif()


def test_rotation_rewraps_data_keys_without_touching_the_files(app):
    old = "old:" + base64.b64encode(b"\x07" * 32).decode()
    new = "new:" + base64.b64encode(b"\x09" * 32).decode()
    app.config["SEALING_KEYS"] = old
    with app.app_context():
        request = submitted(people.person("Nova", creator=True))
        before = {row.key: media.storage().read(row.key) for row in request.files}
        assert all(row.wrapped_key.startswith("old:") for row in request.files)
    app.config["SEALING_KEYS"] = f"{new},{old}"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert "Re-wrapped 3 data keys under new" in result.output, result.output
    app.config["SEALING_KEYS"] = new  # the old key may go now
    with app.app_context():
        for row in db.session.scalars(select(SealedFile)):
            assert row.wrapped_key.startswith("new:")
            stored = media.storage().read(row.key)
            assert stored == before[row.key]  # the file itself was not rewritten
            assert sealed.open_sealed(
                stored, row.wrapped_key, identity.keyring(), context=identity._context(row.key)
            )
    assert runner.invoke(args=["keys", "rotate"]).output.startswith("Re-wrapped 0 data keys")


def test_keys_new_prints_a_key_the_keyring_takes(app):
    result = app.test_cli_runner().invoke(args=["keys", "new", "k2027"])
    line = result.output.strip()
    assert sealed.Keyring.parse(line).current == "k2027"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "field", "message"),
    [
        ({"front": b"%PDF-1.4 not an image"}, "front", "must be a photo"),
        ({"front": b"x" * (11 * 2**20)}, "front", "too large: at most 10 MB"),
        ({"front": picture((200, 150))}, "front", "too small to check"),
        ({"selfie": camera_file_photo()}, "selfie", "Take the selfie with the camera on this page"),
        ({"selfie": None}, "selfie", "Add a selfie."),
        ({"document_type": "library_card"}, "document_type", "Choose the kind of document."),
        ({"back": b""}, "back", "Add the back of your document."),
    ],
)
def test_bad_files_get_a_clear_message_and_nothing_is_stored(app, files, field, message):
    auth, _ = _creator_client(app)
    response = _send(auth, **files)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{FIELD_IDS[field]}-error"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count(VerificationRequest.id))) == 0
        assert db.session.scalar(select(func.count(SealedFile.id))) == 0


def test_a_huge_image_is_refused_by_its_pixels_before_it_is_decoded(app):
    auth, _ = _creator_client(app)
    image = Image.new("1", (8000, 6000))  # 48 megapixels, a few kB as a PNG
    out = io.BytesIO()
    image.save(out, "PNG")
    response = _send(auth, front=out.getvalue())
    assert response.status_code == 422
    assert "too many pixels" in response.get_data(as_text=True)


def test_a_passport_needs_no_back(app):
    auth, _ = _creator_client(app)
    response = _send(auth, document_type="passport", back=b"")
    assert response.status_code == 303
    with app.app_context():
        assert [f.role for f in db.session.scalar(select(VerificationRequest)).files] == [
            "document_front",
            "selfie",
        ]


def test_a_capture_token_from_another_member_or_check_is_refused(app):
    auth, _ = _creator_client(app)
    other, _ = _creator_client(app, "vera@example.com", "Vera")
    response = _send(auth, capture=_capture(other))
    assert response.status_code == 422
    assert "take the selfie again" in response.get_data(as_text=True)
    response = _send(auth, capture="not-a-token")
    assert response.status_code == 422


def test_a_form_over_the_ordinary_limit_is_taken_and_one_over_its_own_is_refused(app):
    """Three documents pass the app's 2 MB body limit (the view raises its own, before CSRF
    reads the form); past that limit the answer is a clear 413, not a 500."""
    auth, _ = _creator_client(app)
    big = Image.effect_noise((1800, 1800), 120).convert("RGB")
    out = io.BytesIO()
    big.save(out, "JPEG", quality=98)
    assert len(out.getvalue()) > 2 * 2**20
    assert _send(auth, front=out.getvalue()).status_code == 303
    other, _ = _creator_client(app, "vera@example.com", "Vera")
    capture = _capture(other)
    response = other.client.post(
        "/settings/verification/creator",
        data={
            "capture": capture,
            "front": (io.BytesIO(b"x" * (identity.MAX_REQUEST_BYTES + 1)), "f.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_sending_again_while_one_is_pending_is_refused(app):
    auth, _ = _creator_client(app)
    assert _send(auth).status_code == 303
    page = auth.client.get("/settings/verification/creator", follow_redirects=True)
    assert "We are reviewing what you sent" in page.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nova@example.com"))
        token = identity.start(user, VerificationKind.CREATOR).token
    response = _send(auth, capture=token)
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(VerificationRequest.id))) == 1


def test_only_creators_take_the_identity_check_and_a_photo_check_needs_a_photo(app):
    auth, _ = signed_in(app, "fan@example.com", "Fan")
    page = auth.client.get("/settings/verification").get_data(as_text=True)
    assert "Switch on creator mode first" in page
    assert "Add a photo to your profile first" in page
    response = auth.client.get("/settings/verification/creator", follow_redirects=True)
    assert "Switch on creator mode first" in response.get_data(as_text=True)
    assert auth.client.get("/settings/verification/passport").status_code == 404


# --- review ---------------------------------------------------------------------------------------


@pytest.fixture
def pending(app):
    """A creator's pending check, a moderator with 2FA and a member's client."""
    creator_auth, creator_id = _creator_client(app)
    _send(creator_auth)
    moderator, moderator_id = make_admin(app, "mod@example.com", role="moderator")
    with app.app_context():
        request = db.session.scalar(select(VerificationRequest))
        return (
            creator_auth,
            creator_id,
            moderator,
            moderator_id,
            request.id,
            [f.id for f in request.files],
        )


def test_each_look_at_a_file_is_audited_and_never_cached(app, pending):
    creator_auth, _, moderator, moderator_id, request_id, file_ids = pending
    page = moderator.client.get(f"/admin/verification/{request_id}").get_data(as_text=True)
    for file_id in file_ids:
        assert f"/admin/verification/files/{file_id}" in page
    first = moderator.client.get(f"/admin/verification/files/{file_ids[0]}")
    assert first.status_code == 200 and first.mimetype == "image/jpeg"
    assert "no-store" in first.headers["Cache-Control"]
    moderator.client.get(f"/admin/verification/files/{file_ids[0]}")
    assert _audits(app, "verification.file_viewed") == 2
    with app.app_context():
        row = db.session.scalar(
            select(AuditLog).where(AuditLog.action == "verification.file_viewed")
        )
        assert row.actor_id == moderator_id and row.target_id == str(request_id)
    # Nobody else: not the member who sent it, not another member.
    assert creator_auth.client.get(f"/admin/verification/files/{file_ids[0]}").status_code == 403
    assert _audits(app, "verification.file_viewed") == 2


def test_approval_lets_the_creator_sell_and_tells_them(app, pending):
    creator_auth, creator_id, moderator, _, request_id, _ = pending
    with app.app_context():
        assert db.session.get(User, creator_id).creator_verified_at is None
    response = moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    assert response.status_code in (302, 303)
    with app.app_context():
        creator = db.session.get(User, creator_id)
        assert creator.creator_verified_at is not None
        profile = profiles.ensure(creator)
        assert profile.is_verified
        told = db.session.scalar(select(Notification).where(Notification.user_id == creator_id))
        assert "you can sell content" in told.text
    assert _audits(app, "verification.approved") == 1
    page = creator_auth.client.get("/settings/verification").get_data(as_text=True)
    assert "You can sell content and request payouts." in page
    again = moderator.post(
        f"/admin/verification/{request_id}", {"decision": "reject", "reason": "x"}
    )
    assert again.status_code in (302, 303)
    assert _audits(app, "verification.rejected") == 0  # decided once


def test_a_rejection_needs_a_reason_the_member_reads_and_they_may_send_again(app, pending):
    creator_auth, creator_id, moderator, _, request_id, _ = pending
    response = moderator.post(f"/admin/verification/{request_id}", {"decision": "reject"})
    assert response.status_code == 422
    assert "Say why" in response.get_data(as_text=True)
    moderator.post(
        f"/admin/verification/{request_id}",
        {"decision": "reject", "reason": "The document is blurred: photograph it in daylight."},
    )
    page = creator_auth.client.get("/settings/verification").get_data(as_text=True)
    assert "The document is blurred: photograph it in daylight." in page
    assert "Send again" in page
    assert _send(creator_auth).status_code == 303
    with app.app_context():
        assert db.session.get(User, creator_id).creator_verified_at is None
        statuses = db.session.scalars(
            select(VerificationRequest.status).order_by(VerificationRequest.id)
        ).all()
        assert statuses == ["rejected", "pending"]


def test_a_reviewer_does_not_decide_their_own_request(app):
    moderator, moderator_id = make_admin(app, "mod@example.com", role="moderator")
    with app.app_context():
        user = db.session.get(User, moderator_id)
        user.is_creator = True
        db.session.commit()
        request_id = submitted(user).id
    response = moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    assert response.status_code in (302, 303)
    with app.app_context():
        assert db.session.get(User, moderator_id).creator_verified_at is None


# --- photo checks ---------------------------------------------------------------------------------


def test_a_photo_check_gives_the_badge_until_the_main_photo_changes(app):
    auth, user_id = signed_in(app, "dee@example.com", "Dee")
    with app.app_context():
        user = db.session.get(User, user_id)
        first_id = with_photo(user).id
        with_photo(user)
        profiles.ensure(user)
        db.session.commit()
    assert _send(auth, kind="photo").status_code == 303
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    with app.app_context():
        request = db.session.scalar(select(VerificationRequest))
        assert request.kind == "photo" and [f.role for f in request.files] == ["selfie"]
    page = moderator.client.get(f"/admin/verification/{request.id}").get_data(as_text=True)
    assert "Profile photo 1 (main)" in page
    moderator.post(f"/admin/verification/{request.id}", {"decision": "approve"})
    with app.app_context():
        assert db.session.get(User, user_id).photo_verified_at is not None
        assert db.session.get(Profile, user_id).is_photo_verified
        media.delete_photo(db.session.get(User, user_id), first_id)
        assert db.session.get(User, user_id).photo_verified_at is None
        assert not db.session.get(Profile, user_id).is_photo_verified
        told = db.session.scalars(
            select(Notification.text).where(Notification.user_id == user_id)
        ).all()
        assert any("main photo changed" in text for text in told)


# --- retention and erasure ------------------------------------------------------------------------


def test_files_are_deleted_after_the_retention_period_and_the_facts_stay(app, pending):
    _, _, moderator, _, request_id, _ = pending
    app.config["VERIFICATION_RETENTION_DAYS"] = 30
    start = clock.now()
    with clock.frozen(start):
        moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    with app.app_context():
        keys = list(db.session.scalars(select(SealedFile.key)))
        assert len(keys) == 3
        assert identity.purge_decided_files(start + dt.timedelta(days=29)) == 0
        assert all(media.storage().head(key) for key in keys)
        assert identity.purge_decided_files(start + dt.timedelta(days=30, seconds=1)) == 1
        assert not any(media.storage().head(key) for key in keys)
        assert db.session.scalar(select(func.count(SealedFile.id))) == 0
        request = db.session.get(VerificationRequest, request_id)
        assert request.status == "approved" and request.files_deleted_at is not None
        assert request.document_type == "id_card" and request.reviewer_id is not None
    page = moderator.client.get(f"/admin/verification/{request_id}").get_data(as_text=True)
    assert "The files were deleted on" in page


def test_erasing_the_account_deletes_its_documents(app, pending):
    from services import erasure

    _, creator_id, _, _, request_id, _ = pending
    with app.app_context():
        keys = list(db.session.scalars(select(SealedFile.key)))
        user = db.session.get(User, creator_id)
        user.delete_after = clock.now() - dt.timedelta(seconds=1)
        db.session.commit()
        assert erasure.erase_account(creator_id, clock.now())
        assert not any(media.storage().head(key) for key in keys)
        assert db.session.scalar(select(func.count(SealedFile.id))) == 0
        assert db.session.get(VerificationRequest, request_id).files_deleted_at is not None


# --- records ------------------------------------------------------------------------------------


def test_an_admin_exports_a_creators_identity_records_as_csv(app, pending):
    _, creator_id, moderator, moderator_id, request_id, _ = pending
    moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    url = f"/admin/users/{creator_id}/identity-records.csv"
    assert moderator.client.get(url).status_code == 403  # moderators export nothing
    admin, _ = make_admin(app)
    response = admin.client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    record = dict(zip(header, row, strict=True))
    assert record["check"] == "creator" and record["document_type"] == "id_card"
    assert record["status"] == "approved" and record["reviewer_email"] == "mod@example.com"
    assert record["reviewer_id"] == str(moderator_id) and record["decided_at"].endswith("Z")
    assert _audits(app, "verification.records_exported") == 1


def test_a_name_cannot_smuggle_a_formula_into_the_records(app, pending):
    _, creator_id, _, _, _, _ = pending
    with app.app_context():
        db.session.get(User, creator_id).display_name = '=HYPERLINK("http://x")'
        db.session.commit()
    admin, _ = make_admin(app)
    text = admin.client.get(f"/admin/users/{creator_id}/identity-records.csv").get_data(
        as_text=True
    )
    assert "'=HYPERLINK" in text


def test_discover_filters_photo_verified_daters_apart_from_verified_creators(app):
    from services import discover
    from tests.dating_helpers import dater

    with app.app_context():
        me = dater("Me", gender="man", seeking=("woman",))
        ana = dater("Ana")
        dater("Bea")
        cleo = dater("Cleo", creator=True)
        ana.photo_verified_at = clock.now()
        profiles.get(ana.id).is_photo_verified = True
        cleo.creator_verified_at = clock.now()
        profiles.get(cleo.id).is_verified = True
        db.session.commit()
        mine = profiles.get(me.id)

        def names(**filters):
            found = discover.search(me, discover.filters_for(mine, **filters))[0]
            return {card.display_name: card.is_photo_verified for card in found}

        assert names() == {"Ana": True, "Bea": False, "Cleo": False}
        assert names(photo_verified_only=True) == {"Ana": True}
        assert set(names(verified_only=True)) == {"Cleo"}


# --- identity services ----------------------------------------------------------------------------


@pytest.fixture
def dev_service(app):
    app.config["IDENTITY_PROVIDER"] = "dev"
    return app


def _start_with_service(auth, name="creator"):
    response = auth.post(f"/settings/verification/{name}/service")
    assert response.status_code == 303
    return response.headers["Location"]


def test_with_an_identity_service_the_member_goes_there_and_its_webhook_decides(dev_service):
    app = dev_service
    auth, user_id = _creator_client(app)
    page = auth.client.get("/settings/verification").get_data(as_text=True)
    assert "Start with the test identity service (dev)" in page
    # The manual form is not offered meanwhile.
    assert auth.client.get("/settings/verification/creator").status_code in (302, 303)
    where = _start_with_service(auth)
    assert "/settings/verification/dev/devid_" in where
    assert _start_with_service(auth) == where  # the same unfinished check, reopened
    page = auth.client.get(where).get_data(as_text=True)
    assert "Amora test identity service" in page
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    queue = moderator.client.get("/admin/verification").get_data(as_text=True)
    assert "Nova" not in queue  # it waits for the service, not for a reviewer
    response = auth.post(where, {"outcome": "approve"})
    assert response.status_code == 303
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.creator_verified_at is not None and user.age_verified_at is not None
        request = db.session.scalar(select(VerificationRequest))
        assert request.status == "approved" and request.reviewer_id is None
        assert request.provider == "dev" and request.document_type == "passport"
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "verification.approved"))
        assert row.actor_id is None and row.detail["provider"] == "dev"


def test_an_identity_services_webhook_is_signed_once_and_for_a_known_session(dev_service, client):
    from services import identity_providers

    app = dev_service
    auth, user_id = _creator_client(app)
    where = _start_with_service(auth)
    with app.app_context():
        request = db.session.scalar(select(VerificationRequest))
        body = identity_providers.PROVIDERS["dev"].event_body(request, False, "Expired passport.")
        signature = identity_providers.sign(body)
    url = "/webhooks/identity/dev"
    headers = {identity_providers.SIGNATURE_HEADER: signature}
    bad = client.post(url, data=body, headers={identity_providers.SIGNATURE_HEADER: "0" * 64})
    assert bad.status_code == 400 and bad.json["error"] == "Bad signature."
    tampered = body.replace(b"check.rejected", b"check.approved")
    assert client.post(url, data=tampered, headers=headers).status_code == 400
    assert client.post(url, data=body, headers=headers).json["outcome"] == "rejected"
    assert client.post(url, data=body, headers=headers).json["outcome"] == "duplicate"
    with app.app_context():
        unknown = body.replace(request.provider_ref.encode(), b"devid_nobody")
    response = client.post(
        url, data=unknown, headers={identity_providers.SIGNATURE_HEADER: _sign(app, unknown)}
    )
    assert response.status_code == 404
    assert client.post("/webhooks/identity/acme", data=body, headers=headers).status_code == 404
    page = auth.client.get("/settings/verification").get_data(as_text=True)
    assert "Expired passport." in page and "Try again with the test identity service" in page
    assert _start_with_service(auth) != where  # a new session after the rejection
    with app.app_context():
        assert db.session.get(User, user_id).creator_verified_at is None


def _sign(app, body: bytes) -> str:
    from services import identity_providers

    with app.app_context():
        return identity_providers.sign(body)


def test_staff_do_not_decide_a_check_the_service_holds(dev_service):
    app = dev_service
    auth, _ = _creator_client(app)
    _start_with_service(auth)
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    with app.app_context():
        request_id = db.session.scalar(select(VerificationRequest.id))
    page = moderator.client.get(f"/admin/verification/{request_id}").get_data(as_text=True)
    assert "Waiting for the identity service" in page
    moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    with app.app_context():
        assert db.session.get(VerificationRequest, request_id).status == "pending"


def test_the_dev_identity_service_is_never_on_in_production(dev_service):
    app = dev_service
    before, app.config["APP_ENV"] = app.config["APP_ENV"], "production"
    try:
        with app.test_request_context():
            assert identity.provider_for(VerificationKind.CREATOR) is None
    finally:
        app.config["APP_ENV"] = before
