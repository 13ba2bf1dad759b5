"""A creator's payouts: methods, requests (with the second factor) and each payout's timeline."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.creator import creator_required
from blueprints.htmx import redirect_to
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import ledger, payouts

bp = Blueprint("payouts", __name__, url_prefix="/creator/payouts")


def _page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    balances = ledger.balances(current_user.id)
    return render_template(
        "payouts/index.html",
        available=balances.get("earnings_available", 0),
        pending=balances.get("earnings_pending", 0),
        methods=payouts.methods_of(current_user.id),
        rows=payouts.payouts_of(current_user.id),
        ledger_rows=ledger.history(current_user.id, "earnings_available", limit=20),
        mask=payouts.mask,
        labels=payouts.LABELS,
        method_labels=payouts.METHOD_LABELS,
        errors=errors or {},
        form=form or {},
    ), status


@bp.get("")
@creator_required
def index():
    return _page()


@bp.post("")
@creator_required
@limiter.limit("10 per hour")
def request_payout():
    form = request.form
    try:
        payout = payouts.request(
            current_user, form.get("credits", ""), form.get("method_id", ""), form.get("code", "")
        )
    except ValidationFailed as exc:
        return _page(422, exc.errors, form)
    except ledger.InsufficientCredits:
        return _page(409, {"credits": "Those credits were just paid out by another request."})
    except DomainError as exc:
        return _page(exc.status, {"credits": exc.message}, form)
    flash(f"Payout of {payout.credits:,} credits requested.", "success")
    return redirect_to(url_for("payouts.detail", payout_id=payout.id))


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
    try:
        payouts.add_method(current_user, request.form)
    except ValidationFailed as exc:
        return _page(422, exc.errors, request.form)
    flash("Payout method added.", "success")
    return redirect_to(url_for("payouts.index"))


@bp.post("/methods/<int:method_id>/remove")
@creator_required
def remove_method(method_id: int):
    payouts.remove_method(current_user, method_id)
    flash("Payout method removed.", "success")
    return redirect_to(url_for("payouts.index"))
