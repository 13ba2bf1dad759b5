"""Helpers for ledger tests: people and orders created the way the services create them."""

from __future__ import annotations

import datetime as dt
import itertools

from core import clock
from extensions import db
from models import Order, User
from services import ledger

_counter = itertools.count(1)


def person(name: str = "Fan", *, creator: bool = False) -> User:
    n = next(_counter)
    user = User(
        email=f"{name.lower().replace(' ', '')}{n}@example.com",
        password_hash="x",
        display_name=name,
        date_of_birth=dt.date(1990, 1, 1),
        is_creator=creator,
        email_verified_at=clock.now(),
    )
    db.session.add(user)
    db.session.commit()
    return user


def paid_order(user: User, credits: int, provider: str = "dev") -> Order:
    """An order paid and granted, as the payment pipeline does it."""
    order = Order(
        user_id=user.id,
        provider=provider,
        pack_id=f"pack-{credits}",
        credits=credits,
        amount_minor=credits * 12,
        currency="USD",
    )
    db.session.add(order)
    db.session.flush()
    order.status = "paid"
    order.paid_at = clock.now()
    order.provider_payment_id = f"pay_{order.id}"
    ledger.grant_purchase(user.id, credits, f"{provider}:pay_{order.id}", order.id)
    db.session.commit()
    return order
