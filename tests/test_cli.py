"""Command-line tools an operator runs."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from extensions import db
from models import User
from services import accounts
from services.demo import DEMO_DOMAIN, DEMO_PASSWORD


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(*where))


def test_seed_demo_builds_a_world_and_is_idempotent(app, runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "52 accounts created" in first.output and DEMO_PASSWORD in first.output
    assert f"fan40@{DEMO_DOMAIN}" in first.output and f"creator10@{DEMO_DOMAIN}" in first.output
    assert _count(app, User.role == "admin") == 1
    assert _count(app, User.is_creator.is_(True), User.creator_verified_at.is_not(None)) == 10
    assert _count(app, User.role == "fan", User.is_creator.is_(False)) == 40
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0 and "present" in again.output
    assert _count(app) == 52
    with app.app_context():
        assert accounts.authenticate(f"fan7@{DEMO_DOMAIN}", DEMO_PASSWORD).email_verified
        # The demo world is alive: fans have places, answers and people near them.
        from services import discover, profiles

        fan = accounts.find_by_email(f"fan1@{DEMO_DOMAIN}")
        filters = discover.filters_for(profiles.get(fan.id), radius_km=100)
        cards, _ = discover.search(fan, filters)
        assert len(cards) >= 5
        assert any(card.match is not None for card in cards)
        # Creators have posts of each kind; fans have subscriptions and a feed.
        from models import Post, Subscription
        from services import ledger, posts

        assert _count(app) == 52
        assert db.session.scalar(select(func.count(Post.id))) == 30
        assert db.session.scalar(select(func.count(Subscription.id))) >= 10
        feed, _ = posts.feed(fan)
        assert feed and any(item.entitled for item in feed)
        assert ledger.verify() == []


def test_the_demo_world_has_a_creator_who_can_be_paid_out_at_once(app, runner):
    from services import ledger
    from services.demo import PAYABLE_CREATOR

    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        creator = accounts.find_by_email(PAYABLE_CREATOR)
        balances = ledger.balances(creator.id)
        assert balances["earnings_available"] >= app.config["PAYOUT_MIN_CREDITS"]
        others = [
            ledger.balances(accounts.find_by_email(f"creator{n}@{DEMO_DOMAIN}").id)
            for n in range(2, 11)
        ]
        assert all(b.get("earnings_pending", 0) > 0 for b in others)  # the hold still runs
        assert ledger.verify() == []
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        assert ledger.balances(creator.id) == balances  # seeding again moves nothing
        assert ledger.verify() == []
    verify = runner.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0 and "Ledger OK" in verify.output


def test_every_demo_dater_has_a_portrait_processed_like_an_upload(app, runner):
    from PIL import Image

    from models import MediaObject, Photo, Profile
    from services import discover, media, profiles

    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        daters = db.session.scalar(select(func.count(Profile.user_id)))
        assert daters == 50
        assert db.session.scalar(select(func.count()).where(Profile.photo_count == 0)) == 0
        photos = db.session.scalars(select(Photo)).all()
        assert len(photos) == daters
        ready = select(func.count(MediaObject.id)).where(
            MediaObject.purpose == "photo", MediaObject.status == "ready"
        )
        assert db.session.scalar(ready) == daters
        thumbs = {media.storage().read(photo.thumb_key) for photo in photos}
        assert len(thumbs) == daters  # every one different
        with Image.open(io.BytesIO(next(iter(thumbs)))) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == 400
        fan = accounts.find_by_email(f"fan1@{DEMO_DOMAIN}")
        filters = discover.filters_for(profiles.get(fan.id), radius_km=100)
        cards, _ = discover.search(fan, filters)
        assert cards and all(card.photo_key for card in cards)
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Photo.id))) == daters  # none added again


def test_seed_demo_refuses_production(app, runner):
    app.config["APP_ENV"] = "production"
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code != 0 and "production" in result.output
    assert _count(app) == 0


def test_create_admin_creates_then_promotes(app, runner, auth):
    created = runner.invoke(
        args=["users", "create-admin", "root@example.com", "--password", "quartz-lantern-echo-5"]
    )
    assert created.exit_code == 0 and "Created admin root@example.com" in created.output
    auth.signup(email="ana@example.com")
    promoted = runner.invoke(args=["users", "create-admin", "ANA@example.com"])
    assert promoted.exit_code == 0 and "Promoted" in promoted.output
    assert _count(app, User.role == "admin") == 2


def test_create_admin_rejects_a_weak_password(app, runner):
    result = runner.invoke(
        args=["users", "create-admin", "root@example.com", "--password", "password123"]
    )
    assert result.exit_code != 0 and "common" in result.output
    assert _count(app) == 0


def test_worker_explains_that_embedded_mode_needs_none(runner):
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output


def test_worker_runs_queued_jobs_in_burst_mode(redis_app, auth):
    redis_app.test_client()
    from tests.conftest import AuthActions

    AuthActions(redis_app.test_client()).signup()
    with redis_app.app_context():
        from models import Outbox

        assert db.session.scalars(select(Outbox.status)).all() == ["queued"]
    result = redis_app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    with redis_app.app_context():
        assert db.session.scalars(select(Outbox.status)).all() == ["logged"]
