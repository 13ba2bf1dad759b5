"""Growth tools: the creator's page for trials, bundles, promotions and referrals; the fan's
trial page and bundle purchase; the referral link."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from blueprints.creator import creator_required
from blueprints.guards import verified_required
from blueprints.htmx import redirect_to
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from services import creators, growth, ledger

bp = Blueprint("growth", __name__)


def _page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    return render_template(
        "growth/index.html",
        links=growth.trial_links(current_user),
        promotions=growth.promotions_of(current_user),
        settings=creators.settings_of(current_user.id),
        offers=growth.bundle_offers(current_user.id),
        code=growth.referral_code(current_user),
        referrals=growth.referrals_of(current_user),
        referral_total=growth.referral_total(current_user.id),
        referred_by=growth.referred_by(current_user.id),
        errors=errors or {},
        form=form or {},
    ), status


@bp.get("/creator/growth")
@creator_required
def index():
    return _page()


def _act(call, done: str):
    try:
        call()
    except ValidationFailed as exc:
        return _page(422, exc.errors, request.form)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(done, "success")
    return redirect_to(url_for("growth.index"))


@bp.post("/creator/growth/trials")
@creator_required
@limiter.limit("60 per hour")
def create_trial():
    return _act(lambda: growth.create_trial_link(current_user, request.form), "Trial link made.")


@bp.post("/creator/growth/trials/<int:link_id>/revoke")
@creator_required
def revoke_trial(link_id: int):
    return _act(lambda: growth.revoke_trial_link(current_user, link_id), "Link switched off.")


@bp.post("/creator/growth/bundles")
@creator_required
def bundles():
    return _act(lambda: growth.set_bundles(current_user, request.form), "Bundles saved.")


@bp.post("/creator/growth/promotions")
@creator_required
@limiter.limit("60 per hour")
def create_promotion():
    return _act(lambda: growth.create_promotion(current_user, request.form), "Promotion set.")


@bp.post("/creator/growth/promotions/<int:promotion_id>/end")
@creator_required
def end_promotion(promotion_id: int):
    return _act(lambda: growth.end_promotion(current_user, promotion_id), "Promotion ended.")


# --- fans ----------------------------------------------------------------------------------------


@bp.get("/trial/<code>")
def trial(code: str):
    viewer = current_user if current_user.is_authenticated else None
    page = growth.trial_page(code, viewer)
    return render_template(
        "growth/trial.html", link=page.link, creator=page.creator, problem=page.problem
    )


@bp.post("/trial/<code>")
@verified_required
@limiter.limit("20 per hour")
def start_trial(code: str):
    try:
        subscription = growth.start_trial(current_user, code)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("growth.trial", code=code))
    flash(
        f"Your free trial runs until {subscription.trial_until:%d %b %Y}. Cancel before then "
        "and nothing is charged.",
        "success",
    )
    return redirect_to(url_for("feed.creator_page", creator_id=subscription.creator_id))


@bp.post("/creators/<int:creator_id>/bundle")
@verified_required
@limiter.limit("30 per hour")
def buy_bundle(creator_id: int):
    try:
        subscription = growth.buy_bundle(current_user, creator_id, request.form.get("months"))
    except ledger.InsufficientCredits as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("wallet.index"))
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Subscribed until {subscription.current_period_end:%d %b %Y}.", "success")
    return redirect_to(url_for("feed.creator_page", creator_id=creator_id))


@bp.get("/join/<code>")
def join(code: str):
    """A creator's referral link: remembered until the visitor signs up."""
    session["referral_code"] = code[:20]
    if current_user.is_authenticated:
        return redirect(url_for("settings.creator"))
    flash("Welcome! You were invited by a creator on Amora.", "info")
    return redirect(url_for("auth.signup"))
