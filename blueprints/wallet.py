"""Wallet: balance, buying credits, orders and the history of every credit (docs/ledger.md,
docs/payments.md)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.forms.fields import first_error
from blueprints.forms.money import (
    BuyCreditsForm,
    DevCheckoutForm,
    HistoryQuery,
    OrderQuery,
    RazorpayReturnForm,
)
from blueprints.guards import verified_required
from blueprints.htmx import is_htmx, redirect_to
from core.errors import DomainError
from extensions import limiter
from services import ledger
from services.payments import get_provider, orders
from services.payments.razorpay_provider import CHECKOUT_SCRIPT

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
HISTORY_PAGE = 20


def _history_page(before: int | None):
    rows = ledger.history(current_user.id, before_entry_id=before, limit=HISTORY_PAGE + 1)
    return rows[:HISTORY_PAGE], len(rows) > HISTORY_PAGE


@bp.get("")
@login_required
def index():
    rows, more = _history_page(None)
    balances, frozen = ledger.balances_and_frozen(current_user.id)
    return render_template(
        "wallet/index.html",
        balances=balances,
        frozen=frozen,
        offers=orders.offers(),
        rows=rows,
        more=more,
        recent=orders.recent_orders(current_user),
    )


@bp.get("/history")
@login_required
def history():
    query = HistoryQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    rows, more = _history_page(query.before.data)
    return render_template("wallet/_history_rows.html", rows=rows, more=more)


@bp.post("/orders")
@verified_required
@limiter.limit("10 per minute; 40 per hour")
def create_order():
    """A pack's button: its fields are hidden, so a refusal is a message in the flash area
    (the error partial for htmx, a flash on the wallet page otherwise)."""
    form = BuyCreditsForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(first_error(form))
        order, checkout = orders.create_order(current_user, form.pack_id.data, form.provider.data)
    except DomainError as exc:
        if is_htmx():
            raise
        flash(exc.message, "error")
        return redirect_to(url_for("wallet.index"))
    if checkout.redirect_url:
        return redirect_to(checkout.redirect_url)
    return redirect_to(url_for("wallet.provider_checkout", order_id=order.id))


@bp.get("/orders/<int:order_id>")
@login_required
def order(order_id: int):
    found = orders.order_for(current_user, order_id)
    query = OrderQuery(request.args)
    return render_template(
        "wallet/order.html",
        order=found,
        cancelled=query.cancelled.data,
        balance=ledger.wallet_balance(current_user.id),
    )


@bp.get("/orders/<int:order_id>/status")
@login_required
def order_status(order_id: int):
    found = orders.order_for(current_user, order_id)
    return render_template(
        "wallet/_order_status.html", order=found, balance=ledger.wallet_balance(current_user.id)
    )


@bp.get("/orders/<int:order_id>/dev")
@login_required
def dev_checkout(order_id: int):
    found = orders.dev_checkout_order(current_user, order_id)
    return render_template("wallet/dev_checkout.html", order=found, form=DevCheckoutForm())


@bp.post("/orders/<int:order_id>/dev")
@verified_required
@limiter.limit("20 per minute")
def dev_checkout_submit(order_id: int):
    form = DevCheckoutForm()
    if not form.validate_on_submit():
        found = orders.dev_checkout_order(current_user, order_id)
        return render_template("wallet/dev_checkout.html", order=found, form=form), 422
    found = orders.dev_checkout_outcome(current_user, order_id, pay=form.outcome.data == "pay")
    return redirect_to(url_for("wallet.order", order_id=found.id))


@bp.get("/orders/<int:order_id>/checkout")
@verified_required
def provider_checkout(order_id: int):
    """Our page around Razorpay Checkout (its script needs these two hosts in the CSP)."""
    found = orders.order_for(current_user, order_id)
    provider = get_provider(found.provider)
    if found.provider != "razorpay" or provider is None or found.is_final:
        return redirect_to(url_for("wallet.order", order_id=found.id))
    g.csp_extra = {
        "script-src": ["https://checkout.razorpay.com"],
        "frame-src": ["https://api.razorpay.com"],
        "connect-src": ["https://lumberjack.razorpay.com", "https://api.razorpay.com"],
    }

    return render_template(
        "wallet/razorpay_checkout.html",
        order=found,
        key_id=current_app.config["RAZORPAY_KEY_ID"],
        checkout_script=CHECKOUT_SCRIPT,
    )


@bp.post("/orders/<int:order_id>/razorpay")
@verified_required
@limiter.limit("20 per minute")
def razorpay_return(order_id: int):
    """Posted by static/razorpay-checkout.js, not typed: a malformed post is a 400 whose message
    points to the order page, where the webhook still lands."""
    form = RazorpayReturnForm()
    if not form.validate_on_submit():
        orders.order_for(current_user, order_id)  # someone else's order is still "not found"
        abort(400, description=first_error(form))
    found = orders.razorpay_return(
        current_user, order_id, form.razorpay_payment_id.data, form.razorpay_signature.data
    )
    return redirect_to(url_for("wallet.order", order_id=found.id))
