"""A creator's payouts: methods, requests (with the second factor) and each payout's timeline."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, url_for
from flask_login import current_user

from blueprints.creator import creator_required
from blueprints.forms.money import PayoutMethodForm, PayoutRequestForm
from blueprints.htmx import apply_errors, redirect_to
from core import transactions
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import ledger, payouts

bp = Blueprint("payouts", __name__, url_prefix="/creator/payouts")
RACED = "Those credits were just paid out by another request."


def _page(
    status: int = 200,
    request_form: PayoutRequestForm | None = None,
    method_form: PayoutMethodForm | None = None,
):
    """The payouts page; a form given is one just posted, shown with its input and errors."""
    balances = ledger.balances(current_user.id)
    available = balances.get("earnings_available", 0)
    minimum = current_app.config["PAYOUT_MIN_CREDITS"]
    methods = payouts.methods_of(current_user.id)
    if request_form is None:
        start = {"credits": available} if available >= minimum else {}
        request_form = PayoutRequestForm(formdata=None, data=start)
    if method_form is None:
        method_form = PayoutMethodForm(formdata=None, kind="manual")
    return render_template(
        "payouts/index.html",
        available=available,
        pending=balances.get("earnings_pending", 0),
        methods=methods,
        rows=payouts.payouts_of(current_user.id),
        ledger_rows=ledger.history(current_user.id, "earnings_available", limit=20),
        mask=payouts.mask,
        labels=payouts.LABELS,
        request_form=request_form.offer(methods, payouts.mask, minimum),
        method_form=method_form,
    ), status


@bp.get("")
@creator_required
def index():
    return _page()


@bp.post("")
@creator_required
@limiter.limit("10 per hour")
def request_payout():
    form = PayoutRequestForm().offer(
        payouts.methods_of(current_user.id),
        payouts.mask,
        current_app.config["PAYOUT_MIN_CREDITS"],
    )
    status = 422
    if form.validate_on_submit():
        try:
            payout = payouts.request(
                current_user, form.credits.data, form.method_id.data, form.code.data
            )
        except DomainError as exc:
            transactions.rollback()  # the page below reads the payouts: none half-written
            if isinstance(exc, ValidationFailed):
                apply_errors(form, exc.errors)
            elif isinstance(exc, ledger.InsufficientCredits):
                status = 409
                apply_errors(form, {"credits": RACED})
            else:
                status = exc.status
                form.form_errors.append(exc.message)
        else:
            flash(f"Payout of {payout.credits:,} credits requested.", "success")
            return redirect_to(url_for("payouts.detail", payout_id=payout.id))
    form.code.data = ""  # a one-time code is typed again, never shown back
    return _page(status, request_form=form)


@bp.get("/<int:payout_id>")
@creator_required
def detail(payout_id: int):
    payout = payouts.get_for_creator(current_user, payout_id)
    return render_template(
        "payouts/detail.html",
        payout=payout,
        events=payouts.timeline(payout.id),
        labels=payouts.LABELS,
        method_labels=payouts.METHOD_LABELS,
    )


@bp.post("/methods")
@creator_required
@limiter.limit("20 per hour")
def add_method():
    form = PayoutMethodForm()
    if form.validate_on_submit():
        try:
            payouts.add_method(
                current_user,
                form.kind.data,
                account_ref=form.account_ref.data,
                holder=form.holder.data,
                account=form.account.data,
                bank_code=form.bank_code.data,
            )
        except ValidationFailed as exc:
            transactions.rollback()
            apply_errors(form, exc.errors)
        else:
            flash("Payout method added.", "success")
            return redirect_to(url_for("payouts.index"))
    return _page(422, method_form=form)


@bp.post("/methods/<int:method_id>/remove")
@creator_required
def remove_method(method_id: int):
    payouts.remove_method(current_user, method_id)
    flash("Payout method removed.", "success")
    return redirect_to(url_for("payouts.index"))
