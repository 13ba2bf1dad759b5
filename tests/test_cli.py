"""Command-line tools an operator runs."""

from __future__ import annotations

from sqlalchemy import func, select

from cli import DEMO_DOMAIN, DEMO_PASSWORD
from extensions import db
from models import User
from services import accounts


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(*where))


def test_seed_demo_builds_a_world_and_is_idempotent(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "51 accounts created" in first.output and DEMO_PASSWORD in first.output
    assert _count(app, User.role == "admin") == 1
    assert _count(app, User.is_creator.is_(True), User.creator_verified_at.is_not(None)) == 10
    assert _count(app, User.role == "fan", User.is_creator.is_(False)) == 40
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "present" in again.output
    assert _count(app) == 51
    with app.app_context():
        assert accounts.authenticate(f"fan7@{DEMO_DOMAIN}", DEMO_PASSWORD).email_verified
        # The demo world is alive: fans have places, answers and people near them.
        from werkzeug.datastructures import MultiDict

        from services import discover, profiles

        fan = accounts.find_by_email(f"fan1@{DEMO_DOMAIN}")
        filters = discover.parse_filters(profiles.get(fan.id), MultiDict({"radius": "100"}))
        cards, _ = discover.search(fan, filters)
        assert len(cards) >= 5
        assert any(card.match is not None for card in cards)
        # Creators have posts of each kind; fans have subscriptions and a feed.
        from models import Post, Subscription
        from services import ledger, posts

        assert _count(app) == 51
        assert db.session.scalar(select(func.count(Post.id))) == 30
        assert db.session.scalar(select(func.count(Subscription.id))) >= 10
        feed, _ = posts.feed(fan)
        assert feed and any(item.entitled for item in feed)
        assert ledger.verify() == []


def test_seed_demo_refuses_production(app, runner):
    app.config["APP_ENV"] = "production"
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0 and "production" in result.output
    assert _count(app) == 0


def test_create_admin_creates_then_promotes(app, runner, auth):
    created = runner.invoke(
        args=["create-admin", "root@example.com", "--password", "quartz-lantern-echo-5"]
    )
    assert created.exit_code == 0 and "Created admin root@example.com" in created.output
    auth.signup(email="ana@example.com")
    promoted = runner.invoke(args=["create-admin", "ANA@example.com"])
    assert promoted.exit_code == 0 and "Promoted" in promoted.output
    assert _count(app, User.role == "admin") == 2


def test_create_admin_rejects_a_weak_password(app, runner):
    result = runner.invoke(args=["create-admin", "root@example.com", "--password", "password123"])
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
