"""Demo creators: prices, a vault of pictures, posts of each kind, subscribers and unlocks."""

from __future__ import annotations

from sqlalchemy import select

from core.errors import DomainError
from extensions import db
from models import CreatorSettings, User
from services import posts, subscriptions
from services.demo.images import abstract, store_upload
from services.demo.people import demo_users

DEMO_HEADLINES = [
    "Film photography from the road",
    "Plant-based recipes, weekly",
    "Yoga flows and behind the scenes",
    "Street portraits, Paris and beyond",
    "Synths, sketches and studio days",
]


def seed_creators() -> None:
    """Demo creators without settings get prices, a vault, posts of each kind, subscribers and
    an unlock, all through the services."""
    creators = demo_users(
        "creator%",
        User.is_creator.is_(True),
        ~select(CreatorSettings.user_id).where(CreatorSettings.user_id == User.id).exists(),
    )
    fans = demo_users("fan%")
    for index, creator in enumerate(creators):
        db.session.add(
            CreatorSettings(
                user_id=creator.id,
                headline=DEMO_HEADLINES[index % len(DEMO_HEADLINES)],
                subscription_price=(30, 50, 0, 90)[index % 4],
                message_price=(5, 0, 10)[index % 3],
                call_price=(20, 40)[index % 2],
                bundle_3_bps=(1000, 0)[index % 2],
                bundle_12_bps=(2500, 0)[index % 2],
            )
        )
        db.session.commit()
        photos = [
            store_upload(creator, "vault", abstract(f"{creator.email}:{n}")).id for n in range(3)
        ]
        name = creator.display_name
        posts.create(
            creator,
            body=f"Hi, I am {name}. Welcome!",
            visibility="public",
            media_ids=[photos[0]],
        )
        posts.create(
            creator,
            body="This week's set, for my subscribers.",
            visibility="subscribers",
            media_ids=[photos[1]],
        )
        ppv = posts.create(
            creator,
            body="The full series, unedited.",
            visibility="ppv",
            price=15 + 5 * index,
            media_ids=[photos[2]],
        )
        for fan in fans[index * 3 : index * 3 + 3]:
            try:
                subscriptions.subscribe(fan, creator.id)
                if index % 2 == 0:
                    posts.unlock(fan, ppv.id)
            except DomainError:  # a demo fan short of credits simply does not subscribe
                db.session.rollback()
