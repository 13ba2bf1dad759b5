"""Posts (docs/creators.md#posts): text plus media from the creator's vault; visibility public,
subscribers or pay-per-view; published now or at a set time by the worker.

Who sees a post's media (`entitled`): the creator; everyone for public posts; fans with access
through a subscription for subscribers posts; fans who unlocked it for PPV posts. Everyone else
sees the blurred preview and what it takes to see more. Media is served only through short-lived
signed URLs handed to the entitled.

Unlocking a PPV post is one ledger transfer with the key `unlock:post:<post>:<fan>`: a fan pays
for a post once, whatever the clicks, retries or races.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Select, and_, bindparam, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from core import clock, sql
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    MediaObject,
    MediaStatus,
    Notification,
    Post,
    PostMedia,
    PostStatus,
    Unlock,
    User,
    UserStatus,
)
from services import (
    age_gate,
    co_performers,
    compliance,
    country_blocks,
    ledger,
    media,
    replays,
    safety,
    subscriptions,
)
from services.creators import check_price
from services.input import parse_id

VISIBILITIES = {
    "public": "Everyone",
    "subscribers": "Subscribers only",
    "ppv": "Pay per view",
}
MAX_BODY = 5000
MAX_MEDIA = 10
MAX_SCHEDULE = dt.timedelta(days=365)
MEDIA_URL_SECONDS = 300
PAGE = 10


@dataclass
class MediaView:
    """One item of a post as a viewer gets it: `url` the photo, or a video's poster (for the
    locked, the blurred preview of either); `video` the links to play, or the teaser."""

    id: int
    url: str | None
    locked: bool
    width: int | None = None
    height: int | None = None
    video: media.VideoLinks | None = None


@dataclass
class PostView:
    post: Post
    creator: User
    media: list[MediaView] = field(default_factory=list)
    entitled: bool = False
    unlocked: bool = False
    is_owner: bool = False
    subscribed: bool = False
    # Adult content the viewer may not see until they pass an age check (services/age_gate.py):
    # nothing of it is sent, not even a blurred preview or its text.
    age_locked: bool = False

    @property
    def needs(self) -> str:
        """What the viewer lacks: "", "age" (an age check), "subscribe" or "unlock"."""
        if self.age_locked:
            return "age"
        if self.entitled:
            return ""
        return "unlock" if self.post.visibility == "ppv" else "subscribe"


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    body: str
    visibility: str
    price: int
    publish_at: dt.datetime | None
    items: list[MediaObject]


def _check(
    creator: User,
    body: str,
    visibility: str,
    price: int,
    publish_at: dt.datetime | None,
    media_ids: Sequence[int],
) -> _Checked:
    errors: dict[str, str] = {}
    body = body.strip()
    if len(body) > MAX_BODY:
        errors["body"] = f"Posts can be up to {MAX_BODY:,} characters."
    if visibility not in VISIBILITIES:
        errors["visibility"] = "Choose who can see this post."
    if visibility == "ppv":
        check_price(price, "price", "The price", errors)
        if "price" not in errors and price < 1:
            errors["price"] = "A pay-per-view post needs a price of at least 1 credit."
    else:
        price = 0
    items: list[MediaObject] = []
    seen: set[int] = set()
    for media_id in media_ids:
        try:
            item = media.vault_item(creator, media_id)
        except DomainError as exc:
            errors["media"] = exc.message
            break
        if item.id not in seen:
            seen.add(item.id)
            items.append(item)
    if len(items) > MAX_MEDIA:
        errors["media"] = f"A post can show up to {MAX_MEDIA} items."
    if not body and not items:
        errors["body"] = "Write something or pick something from your vault."
    if visibility == "ppv" and not items:
        errors["media"] = "A pay-per-view post needs at least one photo from your vault."
    publish_at = _check_publish_at(publish_at, errors)
    if errors:
        raise ValidationFailed(errors)
    return _Checked(body, visibility, price, publish_at, items)


def _check_publish_at(when: dt.datetime | None, errors: dict[str, str]) -> dt.datetime | None:
    """`when` (UTC, naive) as the time to publish: None for now (no time, or one already past);
    at most MAX_SCHEDULE ahead."""
    now = clock.now()
    if when is None or when <= now:
        return None
    if when > now + MAX_SCHEDULE:
        errors["publish_at"] = "Posts can be scheduled up to a year ahead."
    return when


def create(
    creator: User,
    *,
    body: str = "",
    visibility: str = "public",
    price: int = 0,
    publish_at: dt.datetime | None = None,
    media_ids: Sequence[int] = (),
    adult: bool = False,
) -> Post:
    """A new post, published now or scheduled at `publish_at` (UTC), showing the creator's vault
    items `media_ids` in that order. `price` counts only for a pay-per-view post. One
    transaction."""
    if not creator.is_creator:
        raise NotAllowed("Switch on creator mode to post.")
    if creator.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot post right now.")
    checked = _check(creator, body, visibility, price, publish_at, media_ids)
    if checked.visibility == "ppv":
        compliance.require_verified(creator)
    co_performers.require_cleared([item.id for item in checked.items], "a photo or video")
    now = clock.now()
    reviewed = current_app.config["CONTENT_REVIEW"]
    unreviewed = PostStatus.SCHEDULED if checked.publish_at else PostStatus.PUBLISHED
    post = Post(
        creator_id=creator.id,
        body=checked.body,
        visibility=checked.visibility,
        price=checked.price,
        adult=adult,
        status=PostStatus.REVIEW if reviewed else unreviewed,
        publish_at=checked.publish_at or now,
        published_at=None if checked.publish_at or reviewed else now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(post)
    db.session.flush()
    for position, item in enumerate(checked.items):
        db.session.add(PostMedia(post_id=post.id, media_id=item.id, position=position))
    db.session.commit()
    return post


def own_post(creator: User, post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None or post.creator_id != creator.id or post.status == PostStatus.DELETED:
        raise NotFound("There is no such post.")
    return post


def edit(
    creator: User,
    post_id: int,
    *,
    body: str = "",
    visibility: str = "public",
    price: int = 0,
    publish_at: dt.datetime | None = None,
    adult: bool | None = None,
) -> Post:
    """Change text, visibility, price, schedule or the adult mark (None: as it is; media
    stays). A scheduled post without a
    future `publish_at` is published now. Fans who unlocked a PPV post keep it whatever
    changes."""
    post = own_post(creator, post_id)
    shown = [row.media_id for row in _media_rows([post.id]).get(post.id, [])]
    ready = set(  # an item taken down meanwhile stays out of the post, and out of the checks
        db.session.scalars(
            select(MediaObject.id).where(
                MediaObject.id.in_(shown), MediaObject.status == MediaStatus.READY
            )
        )
    )
    current = [media_id for media_id in shown if media_id in ready]
    checked = _check(creator, body, visibility, price, publish_at, current)
    if checked.visibility == "ppv":
        compliance.require_verified(creator)
    co_performers.require_cleared(current, "a photo or video")
    post.body, post.visibility, post.price = checked.body, checked.visibility, checked.price
    if adult is not None:
        post.adult = adult
    if post.status == PostStatus.SCHEDULED:
        if checked.publish_at:
            post.publish_at = checked.publish_at
        else:
            post.status = PostStatus.PUBLISHED
            post.publish_at = post.published_at = clock.now()
    post.updated_at = clock.now()
    db.session.commit()
    return post


def delete(creator: User, post_id: int) -> None:
    """Soft delete: the row stays because unlock payments point at it."""
    post = own_post(creator, post_id)
    post.status = PostStatus.DELETED
    post.updated_at = clock.now()
    db.session.commit()


def publish_due(now: dt.datetime | None = None) -> int:
    """The periodic job: scheduled posts whose time has come go live. Idempotent."""
    now = now or clock.now()
    result = db.session.execute(
        update(Post)
        .where(Post.status == PostStatus.SCHEDULED, Post.publish_at <= now)
        .values(status=PostStatus.PUBLISHED, published_at=Post.publish_at, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return result.rowcount


# --- reading ----------------------------------------------------------------------------------


def _media_rows(post_ids: list[int]) -> dict[int, list[PostMedia]]:
    rows: dict[int, list[PostMedia]] = {}
    if not post_ids:
        return rows
    for row in db.session.scalars(
        select(PostMedia)
        .where(PostMedia.post_id.in_(post_ids))
        .order_by(PostMedia.post_id, PostMedia.position)
    ):
        rows.setdefault(row.post_id, []).append(row)
    return rows


def entitled(viewer: User | None, post: Post, *, unlocked: bool, subscribed: bool) -> bool:
    if viewer is not None and viewer.id == post.creator_id:
        return True
    if post.visibility == "public":
        return True
    if viewer is None:
        return False
    if post.visibility == "subscribers":
        return subscribed
    return unlocked


# A post's ready media, read with its row: [[position, id, variants, width, height], …].
_MEDIA_OF_POST = (
    select(
        sql.json_rows(
            PostMedia.position,
            MediaObject.id,
            MediaObject.variants,
            MediaObject.width,
            MediaObject.height,
            MediaObject.duration_ms,
        )
    )
    .join(MediaObject, MediaObject.id == PostMedia.media_id)
    .where(PostMedia.post_id == Post.id, MediaObject.status == MediaStatus.READY)
    .scalar_subquery()
    .label("media")
)


class _Media(NamedTuple):
    id: int
    variants: dict | None
    width: int | None
    height: int | None
    duration_ms: int | None = None


def _media_of(value) -> list[_Media]:
    """A post's `_MEDIA_OF_POST`, in the post's order."""
    return [_Media(*item[1:]) for item in sorted(sql.json_rows_of(value))]


_MEDIA_OF_POSTS = select(Post.id, _MEDIA_OF_POST).where(
    Post.id.in_(bindparam("post_ids", expanding=True))
)  # for posts read without it


_UNLOCKED = select(Unlock.post_id).where(
    Unlock.user_id == bindparam("viewer_id"),
    Unlock.post_id.in_(bindparam("post_ids", expanding=True)),
)


def views(
    viewer: User | None,
    posts: list[Post],
    subscribed: set[int] | None = None,
    unlocked: set[int] | None = None,
    ready_media: dict[int, list] | None = None,
) -> list[PostView]:
    """Posts as `viewer` may see them: a handful of queries for the whole page.
    `subscribed`: the creators whose posts `viewer` has by subscription, `unlocked`: which of
    these posts `viewer` bought, and `ready_media`: each post's ready media (`_media_of`), when
    known."""
    if not posts:
        return []
    post_ids = [post.id for post in posts]
    creator_ids = {post.creator_id for post in posts}
    creators = {}
    for creator_id in creator_ids:  # a creator's own page has them already
        known = db.session.identity_map.get(identity_key(User, creator_id))
        if known is not None:
            creators[creator_id] = known
    if len(creators) < len(creator_ids):
        missing = creator_ids - creators.keys()
        for user in db.session.scalars(select(User).where(User.id.in_(missing))):
            creators[user.id] = user
    unlocked_ids: set[int] = set()
    subscribed_to: set[int] = set()
    if viewer is not None:
        unlocked_ids = (
            set(db.session.scalars(_UNLOCKED, {"viewer_id": viewer.id, "post_ids": post_ids}))
            if unlocked is None
            else unlocked
        )
        if subscribed is None:
            subscribed = set(subscriptions.subscribed_creator_ids(viewer.id))
        subscribed_to = subscribed & creator_ids
    if ready_media is None:
        rows = sql.read(_MEDIA_OF_POSTS, {"post_ids": post_ids})
        ready_media = {post_id: _media_of(value) for post_id, value in rows}
    viewer_id = viewer.id if viewer is not None else None
    adult = {
        post.id
        for post in posts
        if post.creator_id != viewer_id and age_gate.is_adult(creators[post.creator_id], post)
    }
    if adult and not age_gate.needs_check(viewer):  # asked only of a page with adult posts
        adult = set()
    result = []
    for post in posts:
        is_unlocked = post.id in unlocked_ids
        is_subscribed = post.creator_id in subscribed_to
        age_locked = post.id in adult
        allowed = not age_locked and entitled(
            viewer, post, unlocked=is_unlocked, subscribed=is_subscribed
        )
        items = []
        for row in ready_media.get(post.id, []):
            if age_locked:
                items.append(MediaView(id=row.id, url=None, locked=True))
                continue
            key = media.still_key(row.variants, locked=not allowed)
            items.append(
                MediaView(
                    id=row.id,
                    url=media.url_for_key(key, MEDIA_URL_SECONDS) if key else None,
                    locked=not allowed,
                    width=row.width,
                    height=row.height,
                    video=media.video_links(row.variants, not allowed, row.duration_ms),
                )
            )
        result.append(
            PostView(
                post=post,
                creator=creators[post.creator_id],
                media=items,
                entitled=allowed,
                unlocked=is_unlocked,
                is_owner=viewer is not None and viewer.id == post.creator_id,
                subscribed=is_subscribed,
                age_locked=age_locked,
            )
        )
    return result


def _cursor(post: Post) -> str:
    return f"{post.published_at.isoformat()}_{post.id}"


def _after(cursor: str | None):
    if not cursor:
        return None
    try:
        stamp, raw_id = cursor.rsplit("_", 1)
        published_at, post_id = dt.datetime.fromisoformat(stamp), parse_id(raw_id)
    except ValueError:
        post_id = None
    if post_id is None:
        raise ValidationFailed({"cursor": "That page link is not valid."})
    return or_(
        Post.published_at < published_at,
        and_(Post.published_at == published_at, Post.id < post_id),
    )


def _page(
    viewer: User | None,
    query,
    values: dict,
    cursor: str | None,
    limit: int,
    subscribed: set[int] | None = None,
    read: list | None = None,
):
    """A page of posts, newest first: `query` (ordered, LIMIT :limit) with its `values`, or the
    first page's rows when another statement `read` them."""
    after = _after(cursor)
    values = {**values, "viewer_id": viewer.id if viewer is not None else None, "limit": limit + 1}
    # Rows of (post, …, media, unlocked): a statement may read the posts' creators with them,
    # and holding the rows keeps those in the session's identity map, where `views` finds them.
    # The first page's statement is built once: straight through the driver (core.sql.load).
    if read is not None and after is None:
        rows = read
    elif after is None:
        rows = sql.load(query, values)
    else:
        rows = db.session.execute(query.where(after), values).all()
    more = len(rows) > limit
    rows = rows[:limit]
    posts = [row[0] for row in rows]
    unlocked = {row[0].id for row in rows if row[-1]}
    ready_media = {row[0].id: _media_of(row[-2]) for row in rows}
    page = views(viewer, posts, subscribed, unlocked, ready_media)
    return page, (_cursor(posts[-1]) if more and posts else None)


# The first page of each list is built once: building the statement cost more than running it.
_NEWEST_FIRST = (Post.published_at.desc(), Post.id.desc())
# Whether the viewer bought the post (never, for a visitor: no viewer id).
_BOUGHT = (
    exists()
    .where(Unlock.user_id == bindparam("viewer_id"), Unlock.post_id == Post.id)
    .label("unlocked")
)
_CREATOR_POSTS = (
    select(Post, _MEDIA_OF_POST, _BOUGHT)
    .where(Post.creator_id == bindparam("creator_id"), Post.status == PostStatus.PUBLISHED)
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit"))
)


@functools.cache
def _feed(shape: str) -> Select:
    """The feed's statement for its creators' ids sent as `shape` (sql.in_form): on PostgreSQL
    one array parameter, rather than a parameter per id rendered into the SQL at each run."""
    return (
        select(Post, User, _MEDIA_OF_POST, _BOUGHT)  # each post's creator: `views` needs it
        .join(User, User.id == Post.creator_id)
        .where(sql.in_param(Post.creator_id, "creator_ids", shape), *_FEED_WHERE)
        .order_by(*_NEWEST_FIRST)
        .limit(bindparam("limit"))
    )


_FEED_WHERE = (
    Post.status == PostStatus.PUBLISHED,
    User.is_creator.is_(True),
    ~User.is_gone,
    ~safety.block_exists(bindparam("viewer_id"), Post.creator_id),
)


# A creator's first page of posts as one JSON value, for the statement that reads their page's
# head (`creators.creator_page(extra=…)`; `FIRST_PAGE_VALUES` are its parameters): the posts'
# columns in the table's order, then the media and whether the viewer bought each.
_FIRST_PAGE = (
    select(*Post.__table__.columns, _MEDIA_OF_POST, _BOUGHT)
    .where(Post.creator_id == bindparam("creator_id"), Post.status == PostStatus.PUBLISHED)
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("first_page_limit"))
    .subquery()
)
CREATOR_FIRST_PAGE = select(sql.json_rows(*_FIRST_PAGE.c)).scalar_subquery().label("first_posts")
FIRST_PAGE_VALUES = {"first_page_limit": PAGE + 1}
_NOT_READ = object()


def creator_posts(
    viewer: User | None,
    creator_id: int,
    cursor: str | None = None,
    limit: int = PAGE,
    *,
    subscribed: bool | None = None,
    first_page=_NOT_READ,
) -> tuple[list[PostView], str | None]:
    """A page of a creator's published posts, newest first. `subscribed`: whether the viewer's
    subscription gives access now, when the caller knows (`subscriptions.has_access`);
    `first_page`: the value of `CREATOR_FIRST_PAGE` when the caller read it."""
    known = None if subscribed is None else ({creator_id} if subscribed else set())
    read = None
    if first_page is not _NOT_READ and cursor is None and limit == PAGE:
        read = sorted(  # the database's order is lost in the JSON
            sql.entities_of_json(Post, first_page),
            key=lambda row: (row[0].published_at, row[0].id),
            reverse=True,
        )
    values = {"creator_id": creator_id}
    return _page(viewer, _CREATOR_POSTS, values, cursor, limit, known, read)


def feed(
    viewer: User,
    cursor: str | None = None,
    limit: int = PAGE,
    *,
    subscribed: dict[int, str] | None = None,
) -> tuple[list[PostView], str | None]:
    """Published posts of the creators `viewer` subscribes to, newest first. `subscribed`:
    `subscriptions.subscribed_creators(viewer.id)`, when the caller has it."""
    if subscribed is None:
        subscribed = subscriptions.subscribed_creators(viewer.id)
    blocked = country_blocks.keeping_out(subscribed, viewer)
    creator_ids = [creator_id for creator_id in subscribed if creator_id not in blocked]
    if not creator_ids:
        _after(cursor)  # a bad page link is still a 400
        return [], None
    shape = sql.in_form(db.session.get_bind().dialect.name, len(creator_ids))
    values = {"creator_ids": sql.in_param_value(creator_ids, shape), "viewer_id": viewer.id}
    return _page(viewer, _feed(shape), values, cursor, limit, subscribed=set(subscribed))


def manage_list(creator: User) -> list[PostView]:
    """The creator's own posts, scheduled ones first."""
    posts = list(
        db.session.scalars(
            select(Post)
            .where(Post.creator_id == creator.id, Post.status != PostStatus.DELETED)
            .order_by(
                (Post.status == PostStatus.SCHEDULED).desc(), Post.publish_at.desc(), Post.id.desc()
            )
            .limit(200)
        )
    )
    return views(creator, posts)


def visible_post(viewer: User | None, post_id: int) -> Post:
    """A published post whose creator `viewer` may see (404 otherwise; the owner also sees
    their scheduled posts)."""
    post = db.session.get(Post, post_id)
    if post is None or post.status == PostStatus.DELETED:
        raise NotFound("There is no such post.")
    is_owner = viewer is not None and viewer.id == post.creator_id
    if post.status != PostStatus.PUBLISHED and not is_owner:
        raise NotFound("There is no such post.")
    creator = db.session.get(User, post.creator_id)
    if not is_owner and (creator is None or not creator.is_creator or creator.is_gone):
        raise NotFound("There is no such post.")
    if viewer is not None and not is_owner and safety.blocked_between(viewer.id, post.creator_id):
        raise NotFound("There is no such post.")
    if not is_owner and country_blocks.is_blocked(post.creator_id, viewer):
        raise NotFound("There is no such post.")
    return post


def view(viewer: User | None, post_id: int) -> PostView:
    return views(viewer, [visible_post(viewer, post_id)])[0]


def media_url(viewer: User | None, post_id: int, media_id: int) -> str:
    """A short-lived signed URL of one full-size item of a post, for the entitled only."""
    seen = view(viewer, post_id)
    item = next((m for m in seen.media if m.id == media_id), None)
    if item is None:
        raise NotFound("There is no such item.")
    if seen.age_locked:
        raise NotAllowed(age_gate.AGE_CHECK_NEEDED)
    if item.locked:
        raise NotAllowed("Subscribe or unlock this post to see it.")
    return item.url


# --- unlocking --------------------------------------------------------------------------------


def unlock(fan: User, post_id: int) -> Unlock:
    """Pay a PPV post's price once. Raises InsufficientCredits (nothing written) when short."""
    post = visible_post(fan, post_id)
    if post.creator_id == fan.id:
        raise DomainError("You cannot unlock your own post.")
    if post.visibility != "ppv":
        raise DomainError("This post is not pay-per-view.")
    if fan.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot make payments right now.")
    if not fan.email_verified:
        raise NotAllowed("Confirm your email address before paying for content.")
    age_gate.check(fan, db.session.get(User, post.creator_id), post)
    gone = db.session.scalar(
        select(PostMedia.media_id)
        .join(MediaObject, MediaObject.id == PostMedia.media_id)
        .where(PostMedia.post_id == post.id, MediaObject.status != MediaStatus.READY)
        .limit(1)
    )
    if gone is not None:  # taken down by a moderator (media.take_down): nothing to sell
        raise DomainError("What this post showed was removed: it cannot be bought.")
    co_performers.require_cleared(
        db.session.scalars(select(PostMedia.media_id).where(PostMedia.post_id == post.id)),
        "this post",
    )
    fan_id, unlocked_id = fan.id, post.id
    return replays.same_answer(
        lambda: _unlock(fan, post),
        lambda: db.session.scalar(
            select(Unlock).where(Unlock.user_id == fan_id, Unlock.post_id == unlocked_id)
        ),
    )


def _unlock(fan: User, post: Post) -> Unlock:
    existing = db.session.scalar(
        select(Unlock).where(Unlock.user_id == fan.id, Unlock.post_id == post.id)
    )
    if existing is not None:
        return existing
    transfer, created = ledger.spend(
        fan.id,
        post.creator_id,
        post.price,
        "unlock",
        f"unlock:post:{post.id}:{fan.id}",
        reference=("post", post.id),
    )
    row = Unlock(user_id=fan.id, post_id=post.id, price=post.price, transfer_id=transfer.id)
    db.session.add(row)
    if created:
        db.session.add(
            Notification(
                user_id=post.creator_id,
                kind="unlock",
                actor_id=fan.id,
                text=f"{fan.display_name} unlocked your post for {post.price} credits.",
                link=f"/posts/{post.id}",
            )
        )
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same fan's other click committed first
        db.session.rollback()
        raise Conflict("You already unlocked this post.") from exc
    return row
