"""Growth tools: the creator's page for trials, bundles, promotions and referrals; the fan's
trial page and bundle purchase; the referral link."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_login import current_user

from blueprints.creator import creator_required
from blueprints.forms.creator import BundlePurchaseForm, BundlesForm, PromotionForm, TrialLinkForm
from blueprints.guards import verified_required
from blueprints.htmx import flash_outcome, redirect_to, settled
from core.errors import DomainError, NotFound
from extensions import limiter
from services import creators, growth, ledger

bp = Blueprint("growth", __name__)


def _page(
    status: int = 200,
    *,
    trial_form: TrialLinkForm | None = None,
    bundles_form: BundlesForm | None = None,
    promotion_form: PromotionForm | None = None,
):
    """The growth page; the form that was sent (if any) comes back with its errors, the others
    fresh (`formdata=None`: they must not pick up the fields of the one sent)."""
    settings = creators.settings_of(current_user.id)
    return render_template(
        "growth/index.html",
        links=growth.trial_links(current_user),
        promotions=growth.promotions_of(current_user),
        settings=settings,
        offers=growth.bundle_offers(current_user.id),
        code=growth.referral_code(current_user),
        referrals=growth.referrals_of(current_user),
        referral_total=growth.referral_total(current_user.id),
        referred_by=growth.referred_by(current_user.id),
        trial_form=trial_form or TrialLinkForm(formdata=None),
        bundles_form=bundles_form or BundlesForm(formdata=None, data=BundlesForm.data_of(settings)),
        promotion_form=promotion_form or PromotionForm(formdata=None),
    ), status


@bp.get("/creator/growth")
@creator_required
def index():
    return _page()


def _submit(form, call: Callable[[], object], done: str, page_form: str):
    """Validate `form`, run the service `call`: a refusal of a field comes back on the page
    (422), another refusal is flashed, success too."""
    if form.validate_on_submit() and settled(form, call, done):
        return redirect_to(url_for("growth.index"))
    return _page(422, **{page_form: form})


@bp.post("/creator/growth/trials")
@creator_required
@limiter.limit("60 per hour")
def create_trial():
    form = TrialLinkForm()
    return _submit(
        form,
        lambda: growth.create_trial_link(
            current_user,
            days=form.days.data,
            max_uses=form.max_uses.data,
            valid_days=form.valid_days.data,
        ),
        "Trial link made.",
        "trial_form",
    )


@bp.post("/creator/growth/trials/<int:link_id>/revoke")
@creator_required
def revoke_trial(link_id: int):
    flash_outcome(lambda: growth.revoke_trial_link(current_user, link_id), "Link switched off.")
    return redirect_to(url_for("growth.index"))


@bp.post("/creator/growth/bundles")
@creator_required
def bundles():
    form = BundlesForm()
    return _submit(
        form,
        lambda: growth.set_bundles(current_user, form.percent_off()),
        "Bundles saved.",
        "bundles_form",
    )


@bp.post("/creator/growth/promotions")
@creator_required
@limiter.limit("60 per hour")
def create_promotion():
    form = PromotionForm()
    return _submit(
        form,
        lambda: growth.create_promotion(
            current_user,
            audience=form.audience.data,
            discount=form.discount.data,
            starts=form.starts.data,
            ends=form.ends.data,
        ),
        "Promotion set.",
        "promotion_form",
    )


@bp.post("/creator/growth/promotions/<int:promotion_id>/end")
@creator_required
def end_promotion(promotion_id: int):
    flash_outcome(lambda: growth.end_promotion(current_user, promotion_id), "Promotion ended.")
    return redirect_to(url_for("growth.index"))


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
    """A button on the creator's page: a refusal is flashed there. Only a crafted post sends a
    `months` no button offers (a 422 page)."""
    form = BundlePurchaseForm()
    if not form.validate_on_submit():
        abort(422, description=" ".join(form.months.errors))
    try:
        subscription = growth.buy_bundle(current_user, creator_id, form.months.data)
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
