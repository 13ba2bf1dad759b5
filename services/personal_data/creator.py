"""Creator content and money (docs/creators.md, docs/ledger.md): creator settings, posts, media,
mass messages, subscriptions, tips, unlocks, orders, payouts and the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, or_, select, update

from extensions import db
from models import (
    CreatorSettings,
    MassMessage,
    MediaObject,
    Message,
    Order,
    Payout,
    PayoutMethod,
    Post,
    PostMedia,
    Subscription,
    Tip,
    Unlock,
    User,
)
from services import ledger, media, payouts
from services.personal_data.base import ERASED_MESSAGE, Erasure, deleting, plain, rows

HISTORY_PAGE = 500


def export_creator(user: User) -> dict:
    settings = db.session.get(CreatorSettings, user.id)
    media_of_post: dict[int, list[int]] = {}
    for post_id, media_id in db.session.execute(
        select(PostMedia.post_id, PostMedia.media_id)
        .join(Post, Post.id == PostMedia.post_id)
        .where(Post.creator_id == user.id)
        .order_by(PostMedia.post_id, PostMedia.position)
    ):
        media_of_post.setdefault(post_id, []).append(media_id)
    posts = rows(
        select(Post).where(Post.creator_id == user.id).order_by(Post.id),
        "id",
        "body",
        "visibility",
        "price",
        "status",
        "publish_at",
        "published_at",
        "created_at",
    )
    for post in posts:
        post["media"] = media_of_post.get(post["id"], [])
    return {
        "creator_settings": None
        if settings is None
        else {
            "headline": settings.headline,
            "message_price": settings.message_price,
            "subscription_price": settings.subscription_price,
            "call_price": settings.call_price,
        },
        "posts": posts,
        # The list of what was uploaded, not the files (they are yours in the app already).
        "media": rows(
            select(MediaObject).where(MediaObject.user_id == user.id).order_by(MediaObject.id),
            "id",
            "purpose",
            "kind",
            "content_type",
            "size",
            "width",
            "height",
            "duration_ms",
            "status",
            "created_at",
        ),
        "mass_messages": rows(
            select(MassMessage).where(MassMessage.creator_id == user.id).order_by(MassMessage.id),
            "body",
            "media_id",
            "price",
            "audience",
            "sent",
            "created_at",
        ),
    }


def media_files(user_id: int) -> Iterable[str]:
    for obj in db.session.scalars(select(MediaObject).where(MediaObject.user_id == user_id)):
        yield from [obj.key, *(obj.variants or {}).values()]


def erase_creator(erasure: Erasure) -> None:
    user_id = erasure.user_id
    erasure.execute(
        update(MassMessage)
        .where(MassMessage.creator_id == user_id)
        .values(body=ERASED_MESSAGE, media_id=None)
    )
    media_ids = db.session.scalars(
        select(MediaObject.id).where(MediaObject.user_id == user_id)
    ).all()
    if media_ids:  # whatever still shows one of the uploads loses it
        erasure.execute(
            update(Message).where(Message.media_id.in_(media_ids)).values(media_id=None)
        )
        erasure.execute(delete(PostMedia).where(PostMedia.media_id.in_(media_ids)))
    erasure.execute(
        update(Post)
        .where(Post.creator_id == user_id)
        .values(status="deleted", body="", updated_at=erasure.now)
    )
    uploading = db.session.scalars(
        select(MediaObject).where(
            MediaObject.user_id == user_id, MediaObject.upload_id.is_not(None)
        )
    )
    for obj in uploading:  # a video still going up in parts: its parts go too
        media.storage().abort_multipart(obj.key, obj.upload_id)
    deleting(MediaObject.user_id, CreatorSettings.user_id)(erasure)


def export_payments(user: User) -> dict:
    subscription_fields = ("status", "price", "periods", "started_at", "current_period_end")
    tip_fields = ("amount", "note", "target_type", "target_id", "created_at")
    return {
        "subscriptions": rows(
            select(Subscription).where(Subscription.fan_id == user.id).order_by(Subscription.id),
            *subscription_fields,
            creator="creator_id",
        ),
        "subscribers": rows(
            select(Subscription)
            .where(Subscription.creator_id == user.id)
            .order_by(Subscription.id),
            *subscription_fields,
            fan="fan_id",
        ),
        "tips_sent": rows(
            select(Tip).where(Tip.fan_id == user.id).order_by(Tip.id),
            *tip_fields,
            creator="creator_id",
        ),
        "tips_received": rows(
            select(Tip).where(Tip.creator_id == user.id).order_by(Tip.id),
            *tip_fields,
            fan="fan_id",
        ),
        "unlocks": rows(
            select(Unlock).where(Unlock.user_id == user.id).order_by(Unlock.id),
            "post_id",
            "message_id",
            "price",
            "created_at",
        ),
        "orders": rows(
            select(Order).where(Order.user_id == user.id).order_by(Order.id),
            "id",
            "provider",
            "pack_id",
            "credits",
            "amount_minor",
            "currency",
            "status",
            "credits_refunded",
            "created_at",
            "paid_at",
        ),
    }


def erase_payments(erasure: Erasure) -> None:
    user_id = erasure.user_id
    erasure.execute(
        update(Subscription)
        .where(
            or_(Subscription.fan_id == user_id, Subscription.creator_id == user_id),
            Subscription.status.in_(("active", "grace")),
        )
        .values(status="ended", cancel_at_period_end=True, grace_until=None, updated_at=erasure.now)
    )
    erasure.execute(update(Tip).where(Tip.fan_id == user_id).values(note=None))


def export_payouts(user: User) -> dict:
    methods = {
        m.id: m
        for m in db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user.id))
    }
    return {
        # Account numbers are masked: an export that leaks must not be usable for payouts.
        "payout_methods": [
            {
                "kind": m.kind,
                "method": payouts.mask(m),
                "created_at": plain(m.created_at),
                "removed_at": plain(m.removed_at),
            }
            for m in methods.values()
        ],
        "payouts": [
            {
                "id": p.id,
                "credits": p.credits,
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "status": p.status,
                "method": payouts.mask(methods[p.method_id]) if p.method_id in methods else None,
                "reference": p.reference,
                "created_at": plain(p.created_at),
                "updated_at": plain(p.updated_at),
            }
            for p in db.session.scalars(
                select(Payout).where(Payout.creator_id == user.id).order_by(Payout.id)
            )
        ],
    }


def wipe_payout_methods(user_id: int, now: dt.datetime) -> None:
    """Remove a deleted user's payout methods and their details, except those an open payout
    will still be paid to (`erasure.erase_due_accounts` wipes them once it is done). Caller
    commits."""
    in_use = set(
        db.session.scalars(
            select(Payout.method_id).where(Payout.creator_id == user_id, Payout.is_open)
        )
    )
    for method in db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user_id)):
        method.removed_at = method.removed_at or now
        if method.id not in in_use:
            method.account_ref, method.details = None, {}


def export_ledger(user: User) -> dict:
    histories: dict[str, list[dict]] = {}
    for kind in ("wallet", "earnings_pending", "earnings_available"):
        rows: list[dict] = []
        before = None
        while True:
            page = ledger.history(user.id, kind, before_entry_id=before, limit=HISTORY_PAGE)
            rows += [
                {
                    "kind": r.kind,
                    "amount": r.amount,
                    "balance_after": r.balance_after,
                    "counterparty": r.counterparty,
                    "memo": r.memo,
                    "transfer": r.transfer_id,
                    "at": plain(r.created_at),
                }
                for r in page
            ]
            if len(page) < HISTORY_PAGE:
                break
            before = page[-1].entry_id
        histories[kind] = rows
    return {"balances": ledger.balances(user.id), "ledger_history": histories}
