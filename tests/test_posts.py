"""Posts (docs/creators.md#posts, docs/creators.md#vault-and-media): visibility, PPV unlocks through
the ledger, scheduled publishing, and who may see which media."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import db
from models import Post, PostMedia, Transfer, Unlock, User
from services import ledger, posts, subscriptions
from tests.creator_helpers import creator, fan, signed_in, vault_photo

HTMX = {"HX-Request": "true"}


def ppv_post(owner, price=30, photo=None):
    photo = photo or vault_photo(owner)
    return posts.create(
        owner, body="Behind the scenes", visibility="ppv", price=price, media_ids=[photo.id]
    )


def transfers(kind: str) -> int:
    return db.session.scalar(select(func.count(Transfer.id)).where(Transfer.kind == kind))


def test_unlocking_a_ppv_post_pays_the_creator_the_exact_split_once(ctx):
    luna, sam = creator(), fan(credits=100)
    post = ppv_post(luna, price=33)
    assert posts.view(sam, post.id).media[0].locked
    posts.unlock(sam, post.id)
    posts.unlock(sam, post.id)  # a second click: already unlocked, nothing more paid
    assert ledger.wallet_balance(sam.id) == 67
    assert ledger.balances(luna.id)["earnings_pending"] == 33 - 7  # fee (33·2000+5000)//10000 = 7
    assert ledger.system_balance("platform_revenue") == 7
    assert transfers("unlock") == 1
    view = posts.view(sam, post.id)
    assert view.entitled and not view.media[0].locked and view.unlocked
    assert ledger.verify() == []


def test_the_feed_and_a_creators_page_show_each_posts_ready_media_in_its_order(ctx):
    """The media come with the posts' own statement (services/posts.py: _MEDIA_OF_POST)."""
    luna, sam = creator(), fan(credits=100)
    first, second, third = vault_photo(luna), vault_photo(luna), vault_photo(luna)
    post = posts.create(
        luna, body="Three", visibility="public", media_ids=[third.id, first.id, second.id]
    )
    bare = posts.create(luna, body="No photos", visibility="public")
    subscriptions.subscribe(sam, luna.id)
    db.session.get(type(second), second.id).status = "rejected"  # not ready: not shown
    db.session.commit()
    for items, _ in (
        posts.feed(sam),
        posts.creator_posts(sam, luna.id),
        posts.creator_posts(None, luna.id),
    ):
        by_post = {item.post.id: item for item in items}
        assert [m.id for m in by_post[post.id].media] == [third.id, first.id]
        assert by_post[post.id].media[0].url and by_post[bare.id].media == []
    assert [m.id for m in posts.view(sam, post.id).media] == [third.id, first.id]


def test_a_fan_short_of_credits_unlocks_nothing(ctx):
    luna, sam = creator(), fan(credits=10)
    post = ppv_post(luna, price=30)
    with pytest.raises(ledger.InsufficientCredits):
        posts.unlock(sam, post.id)
    assert db.session.scalar(select(func.count(Unlock.id))) == 0
    assert ledger.wallet_balance(sam.id) == 10 and ledger.verify() == []


def test_unlock_refuses_your_own_post_and_non_ppv_posts(ctx):
    luna, sam = creator(), fan(credits=100)
    post = ppv_post(luna)
    with pytest.raises(DomainError, match="your own post"):
        posts.unlock(luna, post.id)
    public = posts.create(luna, body="Hello all", visibility="public")
    with pytest.raises(DomainError, match="not pay-per-view"):
        posts.unlock(sam, public.id)
    assert transfers("unlock") == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"visibility": "ppv", "price": -5, "body": "x"}, "price"),
        ({"visibility": "ppv", "price": 0, "body": "x"}, "price"),
        ({"visibility": "ppv", "price": 100001, "body": "x"}, "price"),
        ({"visibility": "secret", "body": "x"}, "visibility"),
        ({"visibility": "public", "body": ""}, "body"),
        ({"visibility": "public", "body": "x" * 5001}, "body"),
        (
            {"visibility": "public", "body": "x", "publish_at": dt.datetime(2100, 1, 1)},
            "publish_at",
        ),
    ],
)
def test_bad_post_input_is_refused_and_nothing_is_written(ctx, values, field):
    luna = creator()
    photo = vault_photo(luna)
    with pytest.raises(ValidationFailed) as caught:
        posts.create(luna, **values, media_ids=[photo.id] if values["body"] else [])
    assert field in caught.value.errors
    assert db.session.scalar(select(func.count(Post.id))) == 0


def test_a_post_cannot_use_someone_elses_vault(ctx):
    luna, mia = creator("Luna"), creator("Mia")
    theirs = vault_photo(mia)
    with pytest.raises(ValidationFailed, match="no such item"):
        posts.create(luna, body="mine?", visibility="public", media_ids=[theirs.id])


def test_scheduled_posts_are_published_by_the_job_at_their_time(ctx):
    luna, sam = creator(), fan(credits=100)
    start = dt.datetime(2026, 3, 1, 12, 0)
    with clock.frozen(start):
        subscriptions.subscribe(sam, luna.id)
        post = posts.create(
            luna,
            body="Tomorrow!",
            visibility="subscribers",
            publish_at=dt.datetime(2026, 3, 2, 8, 30),
        )
        assert post.status == "scheduled" and post.publish_at == dt.datetime(2026, 3, 2, 8, 30)
        assert posts.feed(sam)[0] == []
        with pytest.raises(NotFound):
            posts.view(sam, post.id)
        assert posts.publish_due() == 0
    with clock.frozen(dt.datetime(2026, 3, 2, 8, 30)):
        assert posts.publish_due() == 1
        assert posts.publish_due() == 0
        feed, _ = posts.feed(sam)
        assert [item.post.id for item in feed] == [post.id] and feed[0].entitled


def test_edit_and_delete_are_for_the_owner_only(ctx):
    luna, mia = creator("Luna"), creator("Mia")
    post = posts.create(luna, body="v1", visibility="public")
    with pytest.raises(NotFound):
        posts.edit(mia, post.id, body="hacked", visibility="public")
    posts.edit(luna, post.id, body="v2", visibility="subscribers")
    assert db.session.get(Post, post.id).body == "v2"
    with pytest.raises(NotFound):
        posts.delete(mia, post.id)
    posts.delete(luna, post.id)
    with pytest.raises(NotFound):
        posts.view(fan(), post.id)


def test_feed_pages_through_subscribed_creators_newest_first(ctx):
    luna, mia, sam = creator("Luna", subscription_price=0), creator("Mia"), fan()
    subscriptions.subscribe(sam, luna.id)
    for n in range(13):
        posts.create(luna, body=f"luna {n}", visibility="public")
    posts.create(mia, body="not subscribed", visibility="public")
    first, cursor = posts.feed(sam)
    second, end = posts.feed(sam, cursor)
    bodies = [item.post.body for item in first + second]
    assert bodies == [f"luna {n}" for n in range(12, -1, -1)] and end is None


# --- who sees what ---------------------------------------------------------------------------

VIEWERS = ("anonymous", "fan", "subscriber", "payer", "other creator", "owner")
ENTITLED = {
    "public": set(VIEWERS),
    "subscribers": {"subscriber", "owner"},
    "ppv": {"payer", "owner"},
}


@pytest.fixture
def cast(app):
    """A creator with one post of each visibility, and one client per kind of viewer."""
    clients = {
        "owner": signed_in(app, "luna@example.com", "Luna", creator=True),
        "fan": signed_in(app, "fan@example.com", "Fan"),
        "subscriber": signed_in(app, "sub@example.com", "Sub", credits=200),
        "payer": signed_in(app, "payer@example.com", "Payer", credits=200),
        "other creator": signed_in(app, "mia@example.com", "Mia", creator=True),
    }
    with app.app_context():
        from models import User

        owner = db.session.get(User, clients["owner"][1])
        made = {}
        for visibility in ("public", "subscribers", "ppv"):
            photo = vault_photo(owner)
            post = posts.create(
                owner,
                body=f"{visibility} post",
                visibility=visibility,
                price=25 if visibility == "ppv" else 0,
                media_ids=[photo.id],
            )
            made[visibility] = (post.id, photo.id, photo.variants["display"])
        subscriptions.subscribe(db.session.get(User, clients["subscriber"][1]), owner.id)
        posts.unlock(db.session.get(User, clients["payer"][1]), made["ppv"][0])
    return clients, made


def _client(app, clients, who):
    return app.test_client() if who == "anonymous" else clients[who][0].client


@pytest.mark.parametrize("visibility", ["public", "subscribers", "ppv"])
@pytest.mark.parametrize("who", VIEWERS)
def test_only_the_entitled_get_full_media(app, cast, visibility, who):
    clients, made = cast
    post_id, media_id, display_key = made[visibility]
    client = _client(app, clients, who)
    entitled = who in ENTITLED[visibility]

    response = client.get(f"/posts/{post_id}/media/{media_id}")
    if entitled:
        assert response.status_code == 302 and display_key in response.headers["Location"]
        image = client.get(response.headers["Location"])
        assert image.status_code == 200 and image.mimetype == "image/jpeg"
    else:
        assert response.status_code == 403

    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    assert (display_key in page) is entitled
    if not entitled:
        assert display_key.replace(".display.", ".blur.") in page  # the blurred preview instead


def test_signed_media_links_expire_and_cannot_be_forged(app, cast):
    clients, made = cast
    post_id, media_id, _ = made["ppv"]
    location = (
        clients["payer"][0].client.get(f"/posts/{post_id}/media/{media_id}").headers["Location"]
    )
    stranger = app.test_client()
    assert stranger.get(location).status_code == 200  # a signed link works for its lifetime
    url = urlsplit(location)
    query = dict(parse_qsl(url.query))
    forged = {**query, "sig": "0" * len(query["sig"])}
    assert stranger.get(f"{url.path}?{urlencode(forged)}").status_code == 403
    later = {**query, "expires": str(int(query["expires"]) + 3600)}  # extended by hand
    assert stranger.get(f"{url.path}?{urlencode(later)}").status_code == 403
    assert int(query["expires"]) - time.time() <= posts.MEDIA_URL_SECONDS


def test_a_blocked_fan_sees_nothing_of_the_creator(app, cast):
    clients, made = cast
    from services import safety

    with app.app_context():
        from models import User

        owner = db.session.get(User, clients["owner"][1])
        safety.block(owner, clients["payer"][1])
    client = clients["payer"][0].client
    assert client.get(f"/posts/{made['public'][0]}").status_code == 404
    assert client.get(f"/creators/{clients['owner'][1]}").status_code == 404
    response = client.get(f"/posts/{made['ppv'][0]}/media/{made['ppv'][1]}")
    assert response.status_code == 404


def test_unlock_over_http_returns_the_open_post_and_new_balance(app, cast):
    clients, made = cast
    auth, fan_id = clients["fan"]
    with app.app_context():
        from models import User
        from testkit.ledger import paid_order

        paid_order(db.session.get(User, fan_id), 40)
    from tests.conftest import csrf_token

    token = csrf_token(auth.client)
    response = auth.client.post(
        f"/posts/{made['ppv'][0]}/unlock", headers={"X-CSRFToken": token, **HTMX}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and made["ppv"][2] in html
    assert "15 credits" in html  # 40 − 25, swapped into the navigation
    again = auth.client.post(
        f"/posts/{made['ppv'][0]}/unlock", headers={"X-CSRFToken": token, **HTMX}
    )
    assert again.status_code == 200
    with app.app_context():
        assert ledger.wallet_balance(fan_id) == 15 and ledger.verify() == []


def test_an_unlock_without_enough_credits_says_so(app, cast):
    clients, made = cast
    auth, fan_id = clients["fan"]
    from tests.conftest import csrf_token

    response = auth.client.post(
        f"/posts/{made['ppv'][0]}/unlock",
        headers={"X-CSRFToken": csrf_token(auth.client), **HTMX},
    )
    assert response.status_code == 402
    assert "You need 25 credits but have 0" in response.get_data(as_text=True)


@pytest.mark.postgres
def test_racing_unlocks_pay_once(pg_app):
    with pg_app.app_context():
        luna, sam = creator(), fan(credits=100)
        post_id, sam_id = ppv_post(luna, price=30).id, sam.id
    outcomes = []

    def click():
        with pg_app.app_context():
            from models import User

            try:
                posts.unlock(db.session.get(User, sam_id), post_id)
                outcomes.append("ok")
            except DomainError as exc:
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pg_app.app_context():
        assert ledger.wallet_balance(sam_id) == 70
        assert transfers("unlock") == 1
        assert db.session.scalar(select(func.count(Unlock.id))) == 1
        assert ledger.verify() == []
    assert "ok" in outcomes


@pytest.mark.postgres
def test_identical_unlocks_at_the_same_moment_all_get_the_same_answer(pg_app):
    """16 clicks at once with exactly the price in the wallet: one pays, and every click is
    answered "unlocked" (not "not enough credits" nor "conflict" for the ones that lost)."""
    with pg_app.app_context():
        luna, sam = creator(), fan(credits=30)
        post_id, sam_id = ppv_post(luna, price=30).id, sam.id
    outcomes, barrier = [], threading.Barrier(16)

    def click():
        with pg_app.app_context():
            from models import User

            user = db.session.get(User, sam_id)
            barrier.wait(timeout=30)
            try:
                outcomes.append(("ok", posts.unlock(user, post_id).id))
            except DomainError as exc:
                outcomes.append((type(exc).__name__, None))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(outcomes)) == 1 and outcomes[0][0] == "ok", outcomes
    with pg_app.app_context():
        assert ledger.wallet_balance(sam_id) == 0 and transfers("unlock") == 1
        assert ledger.verify() == []


def test_the_feed_drops_creators_who_are_banned_or_blocked(ctx):
    from services import safety

    luna, mia, sam = (
        creator("Luna", subscription_price=0),
        creator("Mia", subscription_price=0),
        fan(),
    )
    for someone in (luna, mia):
        subscriptions.subscribe(sam, someone.id)
        posts.create(someone, body=f"by {someone.display_name}", visibility="public")
    assert {item.post.body for item in posts.feed(sam)[0]} == {"by Luna", "by Mia"}
    safety.block(sam, mia.id)
    luna.status = "banned"
    db.session.commit()
    assert posts.feed(sam)[0] == []


# --- the post form over HTTP -----------------------------------------------------------------


def error_on(page: str, field: str, message: str) -> bool:
    """Whether `message` is shown under `field`, the way the form macro shows it."""
    return f'id="{field}-error">{message}' in page


def test_the_post_form_refuses_junk_with_a_message_on_the_field(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        photo = str(vault_photo(db.session.get(User, luna_id)).id)
    ppv = {"body": "x", "visibility": "ppv", "media": photo}
    later = {"body": "x", "publish_at": "2026-03-02T09:30"}
    pick_a_time = "Pick a date and time to publish."
    cases = [
        ({**ppv, "price": "ten"}, "price", "The price is a whole number of credits."),
        ({**ppv, "price": "9" * 20}, "price", "The price can be at most 100,000 credits."),
        ({**ppv, "price": ""}, "price", "A pay-per-view post needs a price of at least 1 credit."),
        ({"body": "x", "visibility": "secret"}, "visibility", "Choose who can see this post."),
        ({"body": "x", "media": "abc"}, "media", "Pick photos or videos from your vault."),
        ({"body": "x", "media": "2147483648"}, "media", "Pick photos or videos from your vault."),
        ({"body": "x", "publish_at": "not a date"}, "publish_at", pick_a_time),
        ({**later, "tz_offset": "abc"}, "publish_at", pick_a_time),
        ({**later, "tz_offset": "100000"}, "publish_at", pick_a_time),
        (
            {**later, "publish_at": "9999-12-31T23:59", "tz_offset": "900"},
            "publish_at",
            pick_a_time,
        ),
        ({}, "body", "Write something or pick something from your vault."),
        ({"body": "x" * 5001}, "body", "Posts can be up to 5,000 characters."),
    ]
    for data, field, message in cases:
        response = auth.post("/creator/posts", data)
        assert response.status_code == 422, data
        assert error_on(response.get_data(as_text=True), field, message), data
    with app.app_context():
        assert db.session.scalar(select(func.count(Post.id))) == 0


def test_a_post_from_the_form_is_scheduled_in_utc_and_a_repeated_key_counts_once(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        photo = vault_photo(db.session.get(User, luna_id)).id
    with clock.frozen(dt.datetime(2026, 3, 1, 12, 0)):
        response = auth.post(
            "/creator/posts",
            {
                "body": "Tomorrow!",
                "visibility": ["subscribers", "public"],
                "media": [str(photo), str(photo)],
                "publish_at": "2026-03-02T09:30",
                "tz_offset": "-60",  # the browser is at UTC+1: 09:30 local is 08:30 UTC
            },
        )
    assert response.status_code == 303
    with app.app_context():
        post = db.session.scalar(select(Post))
        assert (post.status, post.visibility) == ("scheduled", "subscribers")
        assert post.publish_at == dt.datetime(2026, 3, 2, 8, 30)
        assert db.session.scalar(select(func.count(PostMedia.post_id))) == 1


def test_the_edit_page_shows_the_post_and_refuses_junk_in_place(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        post_id = ppv_post(db.session.get(User, luna_id), price=30).id
    page = auth.client.get(f"/creator/posts/{post_id}/edit").get_data(as_text=True)
    assert "Behind the scenes</textarea>" in page and 'name="price"' in page
    assert re.search(
        r'<input checked id="visibility-\d" name="visibility" type="radio" value="ppv"', page
    )
    assert 'value="30"' in page
    bad = auth.post(
        f"/creator/posts/{post_id}/edit", {"body": "v2", "visibility": "ppv", "price": "lots"}
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert error_on(html, "price", "The price is a whole number of credits.")
    assert "v2</textarea>" in html  # what was typed stays
    done = auth.post(
        f"/creator/posts/{post_id}/edit", {"body": "v2", "visibility": "ppv", "price": "40"}
    )
    assert done.status_code == 303
    with app.app_context():
        assert (db.session.get(Post, post_id).body, db.session.get(Post, post_id).price) == (
            "v2",
            40,
        )


def test_a_creator_page_lists_its_newest_posts_read_with_the_head(app):
    """The creator page reads its first page of posts in the head's statement (as JSON, whose
    order is the database's): newest first, ten of them and a link to more, what the viewer
    bought unlocked and the rest locked, and on the next page the ones after."""
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam_auth, sam_id = signed_in(app, "sam@example.com", "Sam", credits=100)
    start = dt.datetime(2026, 3, 1, 9, 0)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        photo = vault_photo(luna)
        for n in range(posts.PAGE + 2):
            with clock.frozen(start + dt.timedelta(minutes=n)):
                posts.create(
                    luna,
                    body=f"post number {n:02d}",
                    visibility="ppv",
                    price=5,
                    media_ids=[photo.id],
                )
        newest = db.session.scalar(select(Post.id).where(Post.body == "post number 11"))
        posts.unlock(db.session.get(User, sam_id), newest)
    page = sam_auth.client.get(f"/creators/{luna_id}").get_data(as_text=True)
    shown = re.findall(r"post number (\d\d)", page)
    assert shown == [f"{n:02d}" for n in range(11, 1, -1)]
    assert page.count("Unlock for 5 credits") == posts.PAGE - 1  # all but the one bought
    assert "You unlocked this post." in page
    more = re.search(r'hx-get="([^"]+/posts\?cursor=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = sam_auth.client.get(more).get_data(as_text=True)
    assert re.findall(r"post number (\d\d)", rest) == ["01", "00"]
    empty_auth, empty_id = signed_in(app, "mia@example.com", "Mia", creator=True)
    assert "No posts yet." in sam_auth.client.get(f"/creators/{empty_id}").get_data(as_text=True)
