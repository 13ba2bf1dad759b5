"""Age assurance for adult content (docs/identity.md#age-assurance): where the operator requires
an age check, a viewer who has not passed one sees nothing of adult content (no text, no blurred
preview, no media link), and cannot subscribe to an adult creator or buy adult content;
everything else stays open; the age check opens it."""

from __future__ import annotations

import pytest

from core import clock
from core.errors import NotAllowed
from extensions import db
from models import User, VerificationKind, VerificationRequest
from services import age_gate, identity, messaging, posts, profiles, subscriptions
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.identity_helpers import submitted
from tests.test_admin import make_admin


def in_country(user: User, code: str) -> None:
    profiles.ensure(user).country_code = code
    db.session.commit()


@pytest.fixture
def gated(app):
    app.config["AGE_CHECK_COUNTRIES"] = "GB"
    return app


def adult_world():
    """An adult creator with a public and a PPV post, a creator who is not adult with one post
    marked adult and one not, and a fan in the UK with credits."""
    mia = creator("Mia")
    mia.adult_content = True
    db.session.commit()
    mia_public = posts.create(
        mia, body="Hot tub tonight", visibility="public", media_ids=[vault_photo(mia).id]
    )
    mia_ppv = posts.create(
        mia, body="The full set", visibility="ppv", price=30, media_ids=[vault_photo(mia).id]
    )
    leo = creator("Leo")
    leo_adult = posts.create(leo, body="After dark", visibility="public", adult=True)
    leo_plain = posts.create(
        leo, body="Sunday hike", visibility="public", media_ids=[vault_photo(leo).id]
    )
    sam = fan("Sam", credits=200)
    in_country(sam, "GB")
    return (
        mia,
        leo,
        sam,
        {
            "mia_public": mia_public.id,
            "mia_ppv": mia_ppv.id,
            "leo_adult": leo_adult.id,
            "leo_plain": leo_plain.id,
        },
    )


def test_a_viewer_in_a_gated_country_sees_nothing_of_adult_posts(gated, ctx):
    mia, leo, sam, made = adult_world()
    seen = {name: posts.view(sam, post_id) for name, post_id in made.items()}
    for name in ("mia_public", "mia_ppv", "leo_adult"):
        assert seen[name].needs == "age" and seen[name].age_locked, name
        assert not seen[name].entitled
        assert all(item.url is None and item.video is None for item in seen[name].media), name
    plain = seen["leo_plain"]
    assert plain.entitled and not plain.age_locked and plain.media[0].url
    with pytest.raises(NotAllowed, match="age check"):
        posts.media_url(sam, made["mia_public"], seen["mia_public"].media[0].id)
    # The creators themselves see their own as ever.
    assert posts.view(mia, made["mia_ppv"]).entitled
    assert posts.view(leo, made["leo_adult"]).entitled


def test_a_viewer_in_a_gated_country_cannot_subscribe_or_unlock_until_verified(gated, ctx):
    mia, leo, sam, made = adult_world()
    with pytest.raises(NotAllowed, match="age check"):
        posts.unlock(sam, made["mia_ppv"])
    with pytest.raises(NotAllowed, match="age check"):
        subscriptions.subscribe(sam, mia.id)
    subscriptions.subscribe(sam, leo.id)  # not an adult creator: open
    sam.age_verified_at = clock.now()
    db.session.commit()
    posts.unlock(sam, made["mia_ppv"])
    subscriptions.subscribe(sam, mia.id)
    assert posts.view(sam, made["mia_ppv"]).entitled
    assert posts.view(sam, made["leo_adult"]).entitled


def test_elsewhere_adult_content_stays_open(gated, ctx):
    mia, _, sam, made = adult_world()
    in_country(sam, "FR")
    assert posts.view(sam, made["mia_public"]).entitled
    posts.unlock(sam, made["mia_ppv"])


def test_everywhere_gates_every_viewer_even_without_a_country(app, ctx):
    app.config["AGE_CHECK_COUNTRIES"] = "*"
    mia, _, sam, made = adult_world()
    profiles.ensure(sam).country_code = None
    db.session.commit()
    assert posts.view(sam, made["mia_public"]).age_locked
    assert posts.view(None, made["mia_public"]).age_locked  # logged out
    app.config["AGE_CHECK_COUNTRIES"] = ""
    assert not posts.view(sam, made["mia_public"]).age_locked


def test_a_ppv_message_from_an_adult_creator_is_not_sold_before_the_check(gated, ctx):
    mia, _, sam, _ = adult_world()
    photo = vault_photo(mia)
    message = messaging.send(mia, sam.id, "For you", media_id=photo.id, unlock_price=20)
    with pytest.raises(NotAllowed, match="age check"):
        messaging.unlock_message(sam, message.id)
    sam.age_verified_at = clock.now()
    db.session.commit()
    messaging.unlock_message(sam, message.id)


def test_the_page_shows_the_age_box_instead_of_the_post(gated):
    app = gated
    auth, sam_id = signed_in(app, "sam@example.com", "Sam", credits=100)
    with app.app_context():
        mia, _, _, made = adult_world()
        in_country(db.session.get(User, sam_id), "GB")
        mia_id = mia.id
    page = auth.client.get(f"/creators/{mia_id}").get_data(as_text=True)
    assert "Verify your age" in page and "/settings/verification/age" in page
    assert "Hot tub tonight" not in page and "The full set" not in page
    assert "/media/" not in page.split('id="post-', 1)[1]  # no image link in the posts
    page = auth.client.get(f"/posts/{made['leo_plain']}").get_data(as_text=True)
    assert "Sunday hike" in page and "Verify your age" not in page


def test_the_age_check_is_the_identity_flow_for_any_member_and_a_creators_counts(gated):
    app = gated
    auth, sam_id = signed_in(app, "sam@example.com", "Sam")
    page = auth.client.get("/settings/verification").get_data(as_text=True)
    assert "Age check" in page
    assert auth.client.get("/settings/verification/age").status_code == 200
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    with app.app_context():
        request_id = submitted(db.session.get(User, sam_id), VerificationKind.AGE).id
        assert [f.role for f in db.session.get(VerificationRequest, request_id).files] == [
            "document_front",
            "document_back",
            "selfie",
        ]
    moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    with app.app_context():
        sam = db.session.get(User, sam_id)
        assert sam.age_verified_at is not None and sam.creator_verified_at is None
        assert not age_gate.needs_check(sam)
        assert identity.refusal(sam, VerificationKind.AGE) == "You are verified already."
    # A creator's identity check proves age too.
    with app.app_context():
        luna = creator("Luna")
        luna.creator_verified_at = None
        db.session.commit()
        request_id = submitted(luna).id
        luna_id = luna.id
    moderator.post(f"/admin/verification/{request_id}", {"decision": "approve"})
    with app.app_context():
        assert db.session.get(User, luna_id).age_verified_at is not None


CREATOR_FORM = {
    "headline": "",
    "subscription_price": "0",
    "message_price": "0",
    "call_price": "0",
    "blocked_countries": "",
    "watermark_shown": "1",
    "watermark": "y",
    "adult_shown": "1",
}


def test_staff_and_creators_mark_content_adult(app):
    auth, creator_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    page = auth.client.get("/settings/creator").get_data(as_text=True)
    assert "All my content is for adults (18+)" in page
    auth.post("/settings/creator", {**CREATOR_FORM, "adult": "y"})  # her own switch
    with app.app_context():
        assert db.session.get(User, creator_id).adult_content
    auth.post("/settings/creator", CREATOR_FORM)  # and off again
    with app.app_context():
        assert not db.session.get(User, creator_id).adult_content
    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    moderator.post(f"/admin/users/{creator_id}/adult", {"adult": "1"})
    with app.app_context():
        assert db.session.get(User, creator_id).adult_content
    page = moderator.client.get(f"/admin/users/{creator_id}").get_data(as_text=True)
    assert "adult (18+)" in page
    refused = auth.post("/settings/creator", CREATOR_FORM)  # staff's mark is theirs to lift
    assert refused.status_code == 422
    assert "Our team marked your content adult" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, creator_id).adult_content


def test_an_adult_creators_photo_in_a_message_is_not_shown_before_the_check(gated, ctx):
    mia, _, sam, _ = adult_world()
    free = messaging.send(mia, sam.id, "A gift", media_id=vault_photo(mia).id)
    paid = messaging.send(mia, sam.id, "For you", media_id=vault_photo(mia).id, unlock_price=5)
    seen = messaging.attachments_for(sam, [free, paid])
    for message in (free, paid):
        assert seen[message.id].age_locked and seen[message.id].url is None
        assert seen[message.id].video is None
    assert not messaging.attachments_for(mia, [free])[free.id].age_locked  # the sender's own
    sam.age_verified_at = clock.now()
    db.session.commit()
    seen = messaging.attachments_for(sam, [free, paid])
    assert seen[free.id].url and not seen[free.id].locked
    assert seen[paid.id].locked and seen[paid.id].url  # the blurred preview, to unlock
