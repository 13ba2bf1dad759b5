"""Co-performers (docs/identity.md#co-performers): an item that shows other people is published,
sent or sold only while every one of them is named and accepted, by their own tag as a verified
creator or by a release a reviewer checked; withdrawing consent takes it down everywhere."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from core import sealed
from core.errors import Conflict, NotAllowed, ValidationFailed
from extensions import db
from models import AuditLog, CoPerformer, MediaObject, SealedFile, User
from services import co_performers, compliance, identity, mass_messages, media, messaging, posts
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.identity_helpers import picture
from tests.test_admin import make_admin


def shows_others(item: MediaObject) -> MediaObject:
    item.shows_others = True
    db.session.commit()
    return item


def release_files():
    return {
        "id_document": identity.Upload(picture(text="ID OF ALEX")),
        "release_form": identity.Upload(picture(text="SIGNED RELEASE")),
    }


def test_an_item_showing_someone_unnamed_is_not_published_sent_or_sold(ctx):
    luna, sam = creator("Luna"), fan("Sam", credits=100)
    item = shows_others(vault_photo(luna))
    with pytest.raises(NotAllowed, match="no accepted release or tag"):
        posts.create(luna, body="Us", visibility="public", media_ids=[item.id])
    with pytest.raises(NotAllowed, match="no accepted release or tag"):
        messaging.send(luna, sam.id, "For you", media_id=item.id, unlock_price=10)
    with pytest.raises(NotAllowed, match="no accepted release or tag"):
        mass_messages.start(luna, body="New", media_id=item.id, price=10)
    alone = vault_photo(luna)  # only the creator shown: no names needed
    posts.create(luna, body="Me", visibility="public", media_ids=[alone.id])


def test_a_tagged_creator_accepts_and_the_item_clears_then_withdraws_and_it_goes(ctx):
    luna, mia, sam = creator("Luna"), creator("Mia"), fan("Sam", credits=100)
    item = vault_photo(luna)
    row = co_performers.tag_member(luna, item.id, compliance.handle(mia))
    assert db.session.get(MediaObject, item.id).shows_others
    assert co_performers.uncleared([item.id]) == {item.id}
    with pytest.raises(NotAllowed):
        posts.create(luna, body="Us", visibility="ppv", price=20, media_ids=[item.id])
    co_performers.answer(mia, row.id, accept=True)
    assert co_performers.uncleared([item.id]) == set()
    post = posts.create(luna, body="Us", visibility="ppv", price=20, media_ids=[item.id])
    with pytest.raises(Conflict):
        co_performers.answer(mia, row.id, accept=False)  # answered once
    co_performers.withdraw(mia, row.id)
    taken = db.session.get(MediaObject, item.id)
    assert taken.status == "rejected" and taken.error == co_performers.WITHDRAWN
    with pytest.raises(Exception, match="removed"):
        posts.unlock(sam, post.id)
    assert posts.view(sam, post.id).media == []
    told = db.session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "co_performer.revoked")
    )
    assert told == 1


def test_only_a_verified_creator_here_is_tagged(ctx):
    luna, sam = creator("Luna"), fan("Sam")
    item = vault_photo(luna)
    unverified = creator("Nova")
    unverified.creator_verified_at = None
    db.session.commit()
    cases = {
        f"@sam{sam.id}": "No creator here has that handle",
        compliance.handle(unverified): "is not a verified creator yet",
        compliance.handle(luna): "That is you",
        "@nobody999999": "No creator here has that handle",
        "": "Enter their handle",
    }
    for who, message in cases.items():
        with pytest.raises(ValidationFailed) as refused:
            co_performers.tag_member(luna, item.id, who)
        assert message in refused.value.errors["who"], who
    mia = creator("Mia")
    co_performers.tag_member(luna, item.id, str(mia.id))  # the number alone works too
    with pytest.raises(Conflict, match="named on this item already"):
        co_performers.tag_member(luna, item.id, compliance.handle(mia))


def test_a_handle_with_digits_in_the_name_finds_the_right_creator(ctx):
    luna = creator("Luna")
    mia = creator("Mia2000")
    item = vault_photo(luna)
    row = co_performers.tag_member(luna, item.id, compliance.handle(mia).upper())
    assert row.performer_id == mia.id


def test_a_release_is_sealed_checked_by_a_reviewer_and_revocable(app, ctx):
    luna, sam = creator("Luna"), fan("Sam", credits=100)
    moderator_auth, moderator_id = make_admin(app, "mod@example.com", role="moderator")
    moderator = db.session.get(User, moderator_id)
    item = vault_photo(luna)
    row = co_performers.add_release(luna, item.id, legal_name="  Alex   Doe ", **release_files())
    assert row.legal_name == "Alex Doe" and row.status == "pending"
    files = db.session.scalars(select(SealedFile).where(SealedFile.co_performer_id == row.id))
    for file in files:
        stored = media.storage().read(file.key)
        assert stored.startswith(sealed.MAGIC) and b"JFIF" not in stored
    assert co_performers.uncleared([item.id]) == {item.id}
    with pytest.raises(ValidationFailed, match="Say why"):
        co_performers.decide_release(moderator, row.id, approve=False)
    co_performers.decide_release(moderator, row.id, approve=True)
    assert co_performers.uncleared([item.id]) == set()
    message = messaging.send(luna, sam.id, "For you", media_id=item.id, unlock_price=10)
    co_performers.revoke_release(moderator, row.id, "Alex withdrew the release by email.")
    assert db.session.get(MediaObject, item.id).status == "rejected"
    with pytest.raises(Exception, match="removed"):
        messaging.unlock_message(sam, message.id)


def test_release_files_are_checked_and_named(ctx):
    luna = creator("Luna")
    item = vault_photo(luna)
    with pytest.raises(ValidationFailed) as refused:
        co_performers.add_release(luna, item.id, legal_name="", **release_files())
    assert "legal name" in refused.value.errors["legal_name"]
    bad = {**release_files(), "release_form": identity.Upload(b"%PDF-1.7")}
    with pytest.raises(ValidationFailed) as refused:
        co_performers.add_release(luna, item.id, legal_name="Alex Doe", **bad)
    assert "must be a photo" in refused.value.errors["release_form"]
    assert db.session.scalar(select(func.count(CoPerformer.id))) == 0
    assert db.session.scalar(select(func.count(SealedFile.id))) == 0


def test_a_release_for_someone_elses_item_is_not_found(app):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        mia = creator("Mia")
        theirs = vault_photo(mia).id
    page = auth.client.get(f"/creator/vault/{theirs}/people")
    assert page.status_code == 404
    response = auth.post(
        f"/creator/vault/{theirs}/people/release",
        {
            "legal_name": "Alex Doe",
            "id_document": (io.BytesIO(picture()), "id.jpg"),
            "release_form": (io.BytesIO(picture()), "form.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(CoPerformer.id))) == 0


def test_the_people_page_tags_and_the_tags_page_answers(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    mia_auth, mia_id = signed_in(app, "mia@example.com", "Mia", creator=True)
    with app.app_context():
        item_id = vault_photo(db.session.get(User, luna_id)).id
        handle = compliance.handle(db.session.get(User, mia_id))
    page = auth.client.get("/creator/vault").get_data(as_text=True)
    assert f"/creator/vault/{item_id}/people" in page
    response = auth.post(f"/creator/vault/{item_id}/people/tag", {"who": "@nobody1"})
    assert response.status_code == 422
    assert "No creator here has that handle" in response.get_data(as_text=True)
    auth.post(f"/creator/vault/{item_id}/people/tag", {"who": handle})
    page = auth.client.get(f"/creator/vault/{item_id}/people").get_data(as_text=True)
    assert "not cleared" in page and "Mia" in page
    tags = mia_auth.client.get("/creator/tags").get_data(as_text=True)
    assert "Luna" in tags and "Accept" in tags
    with app.app_context():
        row_id = db.session.scalar(select(CoPerformer.id))
    mia_auth.post(f"/creator/tags/{row_id}", {"answer": "accept"})
    page = auth.client.get(f"/creator/vault/{item_id}/people").get_data(as_text=True)
    assert "cleared" in page and "not cleared" not in page
    # Someone else's tag is not theirs to answer.
    assert auth.post(f"/creator/tags/{row_id}", {"answer": "withdraw"}).status_code == 404


def test_release_review_in_the_console_and_the_records(app):
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        item_id = vault_photo(db.session.get(User, luna_id)).id
    response = luna_auth.post(
        f"/creator/vault/{item_id}/people/release",
        {
            "legal_name": "Alex Doe",
            "id_document": (io.BytesIO(picture(text="ID")), "id.jpg"),
            "release_form": (io.BytesIO(picture(text="FORM")), "form.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    queue = moderator.client.get("/admin/verification").get_data(as_text=True)
    assert "Alex Doe" in queue
    with app.app_context():
        row_id = db.session.scalar(select(CoPerformer.id))
        file_ids = db.session.scalars(select(SealedFile.id)).all()
    page = moderator.client.get(f"/admin/releases/{row_id}").get_data(as_text=True)
    for file_id in file_ids:
        assert f"/admin/verification/files/{file_id}" in page
        assert moderator.client.get(f"/admin/verification/files/{file_id}").status_code == 200
    assert luna_auth.client.get(f"/admin/verification/files/{file_ids[0]}").status_code == 403
    moderator.post(f"/admin/releases/{row_id}", {"decision": "approve"})
    with app.app_context():
        assert db.session.get(CoPerformer, row_id).status == "accepted"
        looks = db.session.scalars(
            select(AuditLog.target_type).where(AuditLog.action == "verification.file_viewed")
        ).all()
        assert looks == ["co_performer", "co_performer"]
    admin, _ = make_admin(app)
    text = admin.client.get(f"/admin/users/{luna_id}/identity-records.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["check"], r["status"], r["co_performer"]) for r in rows] == [
        ("co_performer_release", "accepted", "Alex Doe")
    ]
