"""Credits bought the way the payment pipeline grants them."""

from __future__ import annotations

from core import clock
from extensions import db
from models import Order, OrderStatus, User
from services import ledger


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
    order.status = OrderStatus.PAID
    order.paid_at = clock.now()
    order.provider_payment_id = f"pay_{order.id}"
    ledger.grant_purchase(user.id, credits, f"{provider}:pay_{order.id}", order.id)
    db.session.commit()
    return order
