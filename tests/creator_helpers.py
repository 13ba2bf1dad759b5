"""Creators, vault photos and signed-in clients, made the way the services make them."""

from __future__ import annotations

import secrets

from core import clock
from extensions import db
from models import CreatorSettings, MediaObject, User
from services import accounts, media
from testkit.ledger import paid_order
from testkit.people import person
from tests.conftest import AuthActions
from tests.test_media import jpeg_bytes


def creator(name: str = "Luna", *, subscription_price: int = 50, message_price: int = 0) -> User:
    user = person(name, creator=True)
    user.creator_verified_at = clock.now()
    db.session.add(
        CreatorSettings(
            user_id=user.id, subscription_price=subscription_price, message_price=message_price
        )
    )
    db.session.commit()
    return user


def fan(name: str = "Sam", credits: int = 0) -> User:
    user = person(name)
    if credits:
        paid_order(user, credits)
    return user


def vault_photo(owner: User, purpose: str = "vault") -> MediaObject:
    """A photo uploaded to the vault (or, by `purpose`, the profile) and processed by the real
    job (display, thumb, blur)."""
    key = f"u/{owner.id}/{purpose}/{secrets.token_hex(8)}.jpg"
    data = jpeg_bytes((640, 480), exif=False)
    media.storage().write(key, data, "image/jpeg")
    obj = MediaObject(
        user_id=owner.id,
        purpose=purpose,
        key=key,
        content_type="image/jpeg",
        max_bytes=media.MAX_VAULT_BYTES if purpose == "vault" else media.MAX_PHOTO_BYTES,
        size=len(data),
        status="uploaded",
    )
    db.session.add(obj)
    db.session.commit()
    media.process(obj.id)
    db.session.refresh(obj)
    assert obj.status == "ready", obj.error
    return obj


def signed_in(app, email: str, name: str, *, creator: bool = False, credits: int = 0):
    """A test client signed up through the real form, email confirmed. Returns (auth, user id)."""
    auth = AuthActions(app.test_client())
    auth.signup(email=email, name=name)
    with app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        if creator:
            user.is_creator = True
            user.creator_verified_at = clock.now()
            db.session.add(CreatorSettings(user_id=user.id, subscription_price=50))
        db.session.commit()
        if credits:
            paid_order(user, credits)
        return auth, user.id
