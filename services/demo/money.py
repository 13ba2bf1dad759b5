"""Demo money, all through the ledger: fans' paid orders and tips, and one creator whose
regular fans tipped long enough ago for the earnings to be out of the hold."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select

from core import clock
from extensions import db
from models import Order, OrderStatus, Transfer, User
from services import ledger
from services.demo.people import demo_users

REGULARS = 8  # fans of the payable creator
REGULAR_TIP = 150  # each: 8 × (150 − 20% fee) = 960 credits available, above PAYOUT_MIN_CREDITS


def _paid_order(fan: User, pack: dict) -> Order:
    """A pack bought with the dev provider: the order paid, its credits granted by the ledger,
    as the payment pipeline does it."""
    order = Order(
        user_id=fan.id,
        provider="dev",
        pack_id=pack["id"],
        credits=pack["credits"],
        amount_minor=pack["prices"]["USD"],
        currency="USD",
        status=OrderStatus.PAID,
        paid_at=clock.now(),
    )
    db.session.add(order)
    db.session.flush()
    order.provider_order_id = f"devorder_{order.id}"
    order.provider_payment_id = f"devpay_{order.id}"
    ledger.grant_purchase(fan.id, order.credits, f"dev:devpay_{order.id}", order.id)
    return order


def seed_wallets() -> None:
    """Demo fans who have never bought credits get a paid order and tip a creator, so wallets,
    earnings and histories are alive."""
    packs = current_app.config["CREDIT_PACKS"]
    creators = demo_users("creator%", User.is_creator.is_(True))
    fans = demo_users("fan%", ~select(Order.id).where(Order.user_id == User.id).exists())
    for index, fan in enumerate(fans):
        _paid_order(fan, packs[index % min(2, len(packs))])
        if creators:
            creator = creators[index % len(creators)]
            ledger.spend(
                fan.id,
                creator.id,
                5 + index % 20,
                "tip",
                f"seed:tip:{fan.id}",
                reference=("user", creator.id),
            )
    db.session.commit()


def seed_matured_earnings(creator_email: str) -> None:
    """The creator's regular fans bought a pack and tipped them before the earnings hold began,
    and the release job has run: the creator can ask for a payout at once. Under the default
    hold every other seeded earning is still pending."""
    creator = db.session.scalar(select(User).where(User.email == creator_email))
    if creator is None:
        return
    regulars = [
        fan
        for fan in demo_users("fan%")[:REGULARS]
        if db.session.scalar(select(Transfer.id).where(Transfer.idempotency_key == _key(fan)))
        is None
    ]
    if regulars:
        hold = dt.timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
        pack = max(current_app.config["CREDIT_PACKS"][:2], key=lambda p: p["credits"])
        with clock.frozen(clock.now() - hold - dt.timedelta(days=2)):
            for fan in regulars:
                _paid_order(fan, pack)
                ledger.spend(
                    fan.id,
                    creator.id,
                    min(REGULAR_TIP, pack["credits"]),
                    "tip",
                    _key(fan),
                    reference=("user", creator.id),
                )
        db.session.commit()
    ledger.release_matured_earnings()


def _key(fan: User) -> str:
    return f"seed:regular-tip:{fan.id}"
