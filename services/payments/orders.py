"""Orders for credit packs and the webhook pipeline (docs/payments.md#orders,
docs/payments.md#webhooks).

    pick a pack → Order (pending) → provider checkout → signed webhook → verify signature,
    amount and currency → grant credits once (key = provider:payment id) → order paid

Webhooks may arrive twice, late, concurrently, or before the buyer is back from checkout:
each accepted event is stored once (unique provider + event id), the order row is locked while
it changes, and the ledger's idempotency key makes a second grant impossible anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict

from flask import current_app
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError

from core import clock, sql
from core.errors import DomainError, NotAllowed, NotFound
from extensions import db
from models import Alert, Notification, Order, OrderStatus, PaymentEvent, User
from services import ledger, risk
from services.input import parse_id
from services.payments import get_provider, malformed, providers
from services.payments.base import Checkout, InvalidSignature, ProviderEvent, ProviderUnavailable
from services.payments.dev import SIGNATURE_HEADER, DevProvider, sign
from services.payments.razorpay_provider import RazorpayProvider
from workers.queue import enqueue

log = logging.getLogger("amora.payments")

UNKNOWN_PACK = "That credit pack does not exist."
UNAVAILABLE_PROVIDER = "That payment method is not available."


def packs() -> list[dict]:
    return current_app.config["CREDIT_PACKS"]


def find_pack(pack_id: str) -> dict | None:
    return next((p for p in packs() if p["id"] == pack_id), None)


def price_label(amount_minor: int, currency: str) -> str:
    symbol = {"USD": "$", "INR": "₹"}.get(currency, currency + " ")
    return f"{symbol}{amount_minor // 100:,}.{amount_minor % 100:02d}"


def offers() -> list[dict]:
    """Each pack with its price per enabled provider, for the wallet page."""
    enabled = providers()
    return [
        {
            **pack,
            "options": [
                {
                    "provider": p.name,
                    "label": p.label,
                    "price": price_label(pack["prices"][p.currency], p.currency),
                }
                for p in enabled
            ],
        }
        for pack in packs()
    ]


def create_order(user: User, pack_id: str, provider_name: str) -> tuple[Order, Checkout]:
    """A pending order and where to send the buyer to pay for it."""
    if not user.email_verified:
        raise NotAllowed("Confirm your email address before buying credits.")
    pack = find_pack(pack_id or "")
    if pack is None:
        raise DomainError(UNKNOWN_PACK, field="pack_id")
    provider = get_provider(provider_name or "")
    if provider is None:
        raise DomainError(UNAVAILABLE_PROVIDER, field="provider")
    if ledger.is_frozen(user.id):
        raise NotAllowed(
            "Purchases are blocked while a payment dispute on your account is reviewed."
        )
    order = Order(
        user_id=user.id,
        provider=provider.name,
        pack_id=pack["id"],
        credits=pack["credits"],
        amount_minor=pack["prices"][provider.currency],
        currency=provider.currency,
    )
    db.session.add(order)
    db.session.flush()

    # Purchases are risk-scored (docs/payments.md#risk-checks).
    enqueue(risk.assess_purchase, order.id)
    db.session.commit()  # the order exists before any call to the provider
    db.session.refresh(order)
    if order.status == OrderStatus.FAILED:  # declined by the risk check (inline in embedded mode)
        raise NotAllowed(order.failure_reason or "This purchase was declined.")
    try:
        checkout = provider.start(order)
    except ProviderUnavailable as exc:
        order.status = OrderStatus.FAILED
        order.failure_reason = exc.message
        db.session.commit()
        raise
    db.session.commit()
    return order, checkout


def order_for(user: User, order_id: int) -> Order:
    """The user's own order (someone else's is "not found", never "forbidden")."""
    order = db.session.get(Order, order_id)
    if order is None or order.user_id != user.id:
        raise NotFound("There is no such order.")
    return order


_RECENT = (
    select(Order)
    .where(Order.user_id == bindparam("user_id"))
    .order_by(Order.id.desc())
    .limit(bindparam("limit"))
)  # the wallet page's: built once


def recent_orders(user: User, limit: int = 10) -> list[Order]:
    return [row[0] for row in sql.load(_RECENT, {"user_id": user.id, "limit": limit})]


# --- webhooks -------------------------------------------------------------------------------


def admin_list(status: str | None = None, query: str = "", limit: int = 200) -> list:
    """Orders for the admin console, newest first: (order, buyer). `query` matches an order
    id, the buyer's email or a provider reference. An unknown `status` is refused."""
    if status is not None and status not in tuple(OrderStatus):
        raise DomainError("Unknown status.")
    stmt = select(Order, User).join(User, User.id == Order.user_id)
    if status:
        stmt = stmt.where(Order.status == status)
    text = (query or "").strip()
    if text:
        conditions = [
            func.lower(User.email).contains(text.lower()),
            Order.provider_order_id == text,
            Order.provider_payment_id == text,
        ]
        if (order_id := parse_id(text)) is not None:
            conditions.append(Order.id == order_id)
        stmt = stmt.where(or_(*conditions))
    return [tuple(row) for row in db.session.execute(stmt.order_by(Order.id.desc()).limit(limit))]


def deliver_webhook(provider_name: str, body: str, headers: dict[str, str]) -> str:
    """Job: a webhook body handed to the pipeline (the dev checkout sends its events this way;
    a job's arguments are JSON, hence text)."""
    return handle_webhook(provider_name, body.encode(), headers)


def handle_webhook(provider_name: str, body: bytes, headers: dict[str, str]) -> str:
    """Verify and apply one webhook; returns what happened. Raises InvalidSignature or
    MalformedWebhook (→ 400)."""
    provider = get_provider(provider_name)
    if provider is None:
        raise NotFound("Unknown payment provider.")
    try:
        event = provider.parse_webhook(body, headers)
    except InvalidSignature:
        log.warning("rejected %s webhook: bad signature", provider_name)
        raise
    except malformed.SHAPE_ERRORS as exc:  # raised only once the signature was checked
        raise malformed.refuse(provider_name, f"not shaped like its events ({exc!r:.200})") from exc
    if problem := malformed.problem_with(event):
        raise malformed.refuse(provider_name, problem)
    return apply_event(provider_name, event)


def apply_event(provider_name: str, event: ProviderEvent) -> str:
    """Apply a verified, normalized event exactly once. One transaction."""
    record = PaymentEvent(
        provider=provider_name,
        event_id=event.event_id[:200],
        event_type=event.raw_type[:80],
        outcome="received",
        payload=event.payload,
        payment_id=event.payment_id[:200] if event.payment_id else None,
    )
    db.session.add(record)
    try:
        db.session.flush()  # a second delivery of the same event stops here
    except IntegrityError:
        db.session.rollback()
        return "duplicate"

    if event.type == "ignored":
        record.outcome = "ignored"
        db.session.commit()
        return "ignored"

    _one_payment_at_a_time(provider_name, event.payment_id)
    order = _locked_order(provider_name, event)
    if event.type in REVERSALS and (order is None or order.paid_at is None):
        return _wait_for_payment(provider_name, record, order, event)
    if order is None:
        record.outcome = "unknown_order"
        _alert(
            "payment_unknown_order",
            None,
            f"{provider_name} {event.raw_type} for an order we do not know",
            event,
        )
        db.session.commit()
        return "unknown_order"
    record.order_id = order.id

    try:
        outcome = {
            "paid": _paid,
            "failed": _failed,
            "refunded": _refunded,
            "disputed": _disputed,
        }[event.type](provider_name, order, event)
    except ledger.DuplicateTransfer:
        return "duplicate"  # another delivery of this payment is being applied right now
    record.outcome = outcome
    if outcome == "granted":
        _apply_waiting(provider_name, order)
    db.session.commit()
    log.info("%s %s → order %s: %s", provider_name, event.raw_type, order.id, outcome)
    return outcome


# Events that take credits back: one that arrives before its payment must not be lost, or the
# later payment would grant the credits for good.
REVERSALS = ("refunded", "disputed")
_WAITING = "waiting_for_payment"


def _one_payment_at_a_time(provider_name: str, payment_id: str | None) -> None:
    """Apply events about one payment one after the other (PostgreSQL: an advisory lock until
    the commit; SQLite has one writer at a time, and this transaction has written already).
    Without it, a refund could look for its payment just before the payment commits, while the
    payment looks for waiting refunds just before the refund commits: both would miss."""
    if payment_id:
        sql.lock_until_commit(f"payment:{provider_name}:{payment_id}")


def _wait_for_payment(
    provider_name: str, record: PaymentEvent, order: Order | None, event: ProviderEvent
) -> str:
    """Keep a refund or dispute whose payment has not landed yet; `_paid` applies it. The
    provider gets a 200: it must not resend what we hold."""
    record.outcome = _WAITING
    record.order_id = order.id if order is not None else None
    record.waiting_event = asdict(event) | {"payload": {}}
    if order is None:
        # Usually the payment is a moment behind; but it may be one we never recorded, and a
        # refund or chargeback on it must not go unseen.
        _alert(
            "payment_unknown_order",
            None,
            f"{provider_name} {event.raw_type} for a payment we have not seen yet; kept, and "
            "applied if the payment arrives",
            event,
        )
    db.session.commit()
    log.info(
        "%s %s for payment %s waits for the payment",
        provider_name,
        event.raw_type,
        event.payment_id,
    )
    return record.outcome


def _apply_waiting(provider_name: str, order: Order) -> None:
    """The refunds and disputes that arrived before this payment, in the order they came."""
    conditions = [PaymentEvent.order_id == order.id]
    if order.provider_payment_id:
        conditions.append(PaymentEvent.payment_id == order.provider_payment_id)
    waiting = db.session.scalars(
        select(PaymentEvent)
        .where(
            PaymentEvent.provider == provider_name,
            PaymentEvent.outcome == _WAITING,
            or_(*conditions),
        )
        .order_by(PaymentEvent.id)
    ).all()
    for record in waiting:
        if record.payment_id and record.payment_id != order.provider_payment_id:
            continue  # about another payment of this order (a second attempt): not this one's
        event = _waiting_event(record)
        handler = _refunded if event.type == "refunded" else _disputed
        record.outcome = handler(provider_name, order, event)
        record.order_id = order.id
        record.waiting_event = None
        log.info(
            "%s %s applied once its payment landed: %s",
            provider_name,
            event.raw_type,
            record.outcome,
        )


# A refund or dispute still waiting for its payment after this long is shown to an admin: the
# payment may never come (made outside Amora, or lost by the provider).
WAIT_ALERT_AFTER = dt.timedelta(hours=24)
_ALERTED = "alerted_at"


def _waiting_event(record: PaymentEvent) -> ProviderEvent:
    fields = {k: v for k, v in record.waiting_event.items() if k != _ALERTED}
    return ProviderEvent(**fields)


def flag_long_waiting() -> int:
    """The periodic job: an alert, once, for each refund or dispute that has waited for its
    payment longer than WAIT_ALERT_AFTER (it stays waiting: a late payment still applies it).
    Returns how many were flagged."""
    now = clock.now()
    waiting = db.session.scalars(
        select(PaymentEvent).where(
            PaymentEvent.outcome == _WAITING, PaymentEvent.received_at < now - WAIT_ALERT_AFTER
        )
    ).all()
    flagged = 0
    for record in waiting:
        if _ALERTED in record.waiting_event:
            continue
        event = _waiting_event(record)
        record.waiting_event = {**record.waiting_event, _ALERTED: now.isoformat()}
        _alert(
            "payment_reversal_waiting",
            None,
            f"{record.provider} {event.raw_type} has waited since "
            f"{record.received_at:%Y-%m-%d %H:%M} for a payment that never arrived; check it "
            "in the provider's dashboard",
            event,
            order_id=record.order_id,
            refunded_minor=event.refunded_minor,
        )
        flagged += 1
    db.session.commit()
    return flagged


def _locked_order(provider_name: str, event: ProviderEvent) -> Order | None:
    conditions = []
    if event.order_id is not None:
        conditions.append(Order.id == event.order_id)
    if event.provider_order_id:
        conditions.append(Order.provider_order_id == event.provider_order_id)
    if event.payment_id:
        conditions.append(Order.provider_payment_id == event.payment_id)
    if not conditions:
        return None
    # FOR UPDATE: events about one order are applied one after the other (PostgreSQL; SQLite
    # serializes writers anyway).
    return db.session.scalar(
        select(Order)
        .where(Order.provider == provider_name, or_(*conditions))
        .order_by(Order.id)
        .limit(1)
        .with_for_update()
    )


def _alert(
    kind: str,
    user_id: int | None,
    summary: str,
    event: ProviderEvent,
    severity: str = "medium",
    **detail,
) -> None:
    db.session.add(
        Alert(
            kind=kind,
            severity=severity,
            user_id=user_id,
            summary=summary[:300],
            detail={
                "event_id": event.event_id,
                "event_type": event.raw_type,
                "payment_id": event.payment_id,
                **detail,
            },
        )
    )


def _paid(provider_name: str, order: Order, event: ProviderEvent) -> str:
    if order.paid_at is not None:
        return "already_paid"
    if event.amount_minor != order.amount_minor or (event.currency or "").upper() != order.currency:
        _alert(
            "payment_amount_mismatch",
            order.user_id,
            f"Order {order.id}: paid {event.amount_minor} {event.currency}, expected "
            f"{order.amount_minor} {order.currency}. No credits granted.",
            event,
            severity="high",
            order_id=order.id,
        )
        return "amount_mismatch"
    if not event.payment_id:
        return "no_payment_id"

    declined = order.status == OrderStatus.FAILED and order.failure_reason == risk.DECLINED_REASON
    if declined or ledger.is_frozen(order.user_id):
        # Money arrived for a purchase we declined (or from a frozen wallet): hold the credits
        # back and let an admin refund or release it.
        order.provider_payment_id = event.payment_id
        _alert(
            "payment_held_for_review",
            order.user_id,
            f"Order {order.id} was paid although "
            + ("the risk check declined it" if declined else "the wallet is frozen")
            + ". No credits granted; refund it or clear the account.",
            event,
            severity="high",
            order_id=order.id,
        )
        return "held_for_review"
    ledger.grant_purchase(
        order.user_id, order.credits, f"{provider_name}:{event.payment_id}", order.id
    )
    order.status = OrderStatus.PAID
    order.paid_at = clock.now()
    order.provider_payment_id = event.payment_id
    order.failure_reason = None
    return "granted"


def _failed(provider_name: str, order: Order, event: ProviderEvent) -> str:
    if order.status != OrderStatus.PENDING:
        return "ignored_not_pending"
    order.status = OrderStatus.FAILED
    order.failure_reason = event.reason or "The payment was declined."
    return "failed"


def _refunded(provider_name: str, order: Order, event: ProviderEvent) -> str:
    if order.paid_at is None:
        return "ignored_not_paid"
    refunded_minor = min(event.refunded_minor or 0, order.amount_minor)
    # Credits follow the share of money refunded; a full refund takes back every credit.
    target = order.credits * refunded_minor // order.amount_minor
    to_take = target - order.credits_refunded - order.credits_charged_back
    if to_take <= 0:
        return "already_refunded"
    payment = event.payment_id or order.provider_payment_id or f"order-{order.id}"
    key = f"{provider_name}:refund:{payment}:{refunded_minor}"
    taken, _ = ledger.take_back_purchase(order.user_id, to_take, key, order.id, chargeback=False)
    order.credits_refunded += taken
    if taken < to_take:
        _alert(
            "refund_shortfall",
            order.user_id,
            f"Order {order.id} refunded, but {to_take - taken} credits had already been spent.",
            event,
            order_id=order.id,
            credits_short=to_take - taken,
        )
    if refunded_minor >= order.amount_minor and order.status == OrderStatus.PAID:
        order.status = OrderStatus.REFUNDED
    return "refunded"


def _disputed(provider_name: str, order: Order, event: ProviderEvent) -> str:
    if order.paid_at is None or order.status == OrderStatus.DISPUTED:
        return "ignored_not_disputable"
    to_take = order.credits - order.credits_refunded
    key = f"{provider_name}:dispute:{event.dispute_id or event.payment_id}"
    taken, _ = ledger.take_back_purchase(order.user_id, to_take, key, order.id, chargeback=True)
    clawed = ledger.claw_back_spending(order.user_id, key, order.id)
    for creator_id, credits in clawed:
        db.session.add(
            Notification(
                user_id=creator_id,
                kind="chargeback",
                text=f"A fan's payment was disputed with their bank: {credits} credits were "
                "taken back from your pending earnings.",
                link="/creator",
            )
        )
    order.credits_charged_back += taken
    order.status = OrderStatus.DISPUTED
    _alert(
        "chargeback",
        order.user_id,
        f"Chargeback on order {order.id}: {taken} credits clawed back, wallet frozen, "
        "purchases blocked until an admin clears the account.",
        event,
        severity="high",
        order_id=order.id,
        dispute_id=event.dispute_id,
        clawed_back_from_creators=[list(item) for item in clawed],
    )
    return "charged_back"


# --- dev checkout ------------------------------------------------------------------------------


def dev_checkout_order(user: User, order_id: int) -> Order:
    """The user's own order paid with the test provider, while that provider is on."""
    order = order_for(user, order_id)
    if order.provider != "dev" or get_provider("dev") is None:
        raise NotFound("There is no such order.")
    return order


def dev_checkout_outcome(user: User, order_id: int, pay: bool) -> Order:
    """The buyer pressed Pay (`pay`) or Decline on the dev checkout page: a signed webhook is
    sent (by a job, as a provider would) through the same pipeline."""

    order = dev_checkout_order(user, order_id)
    if order.status != OrderStatus.PENDING:
        raise DomainError("This order is already settled.")
    provider = get_provider("dev")
    assert isinstance(provider, DevProvider)
    body = provider.event_body(
        order,
        "succeeded" if pay else "failed",
        reason=None if pay else "Declined on the test checkout.",
    )
    enqueue(deliver_webhook, "dev", body.decode(), {SIGNATURE_HEADER: sign(body)})
    db.session.commit()
    return order


def razorpay_return(user: User, order_id: int, payment_id: str, signature: str) -> Order:
    """Razorpay Checkout finished in the browser: verify the signature, then ask Razorpay
    about the payment and apply it (the webhook may come before or after; credits come once)."""

    order = order_for(user, order_id)
    provider = get_provider("razorpay")
    if provider is None or order.provider != "razorpay" or not order.provider_order_id:
        raise NotFound("There is no such order.")
    assert isinstance(provider, RazorpayProvider)
    provider.verify_return(order.provider_order_id, payment_id or "", signature or "")
    event = provider.fetch_payment(payment_id)
    if event.provider_order_id != order.provider_order_id:
        raise InvalidSignature("That payment belongs to another order.")
    apply_event("razorpay", event)
    return order_for(user, order_id)
