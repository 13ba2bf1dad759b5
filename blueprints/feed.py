"""What fans see of creators: the feed, creator pages, posts; unlocking, subscribing, tipping."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from blueprints import navigation
from blueprints.forms.feed import PageForm, TipBoxQuery, TipForm
from blueprints.forms.fields import first_error
from blueprints.guards import verified_required
from blueprints.htmx import apply_errors, is_htmx, redirect_to
from blueprints.links import own_path
from core import kept
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from services import creators, growth, ledger, posts, subscriptions, tips

bp = Blueprint("feed", __name__)

PAY_LIMIT = "30 per minute; 300 per hour"


# Markers for the two tokens of a kept tip box: random per process, so no text can carry them.
_PAGE_TOKEN = "pagetoken" + secrets.token_hex(12)
_TIP_TOKEN = "tiptoken" + secrets.token_hex(12)
TIP_BOXES_KEPT = 512


@bp.app_template_global()
def blank_tip_box(creator, target_type: str, target_id: int | None = None) -> Markup:
    """The HTML of a tip box with a fresh form: its own one-time token (`tips.new_token`) and
    the page's CSRF token. Everything else in a blank box is a function of its target, so each
    process renders it once per target, with markers where the two tokens go, and fills them in
    on every page (a WTForms form and its fields cost a tenth of a creator's page)."""

    def render() -> str:
        form = TipForm(formdata=None, target_type=target_type, target_id=target_id)
        form.token.data = _TIP_TOKEN
        return render_template(
            "feed/_tip.html",
            creator=creator,
            form=form,
            done=None,
            error=None,
            page_token=_PAGE_TOKEN,
        )

    key = (request.script_root, creator.id, target_type, target_id)
    html = kept.remember("amora_blank_tip_boxes", key, render, TIP_BOXES_KEPT)
    filled = html.replace(_PAGE_TOKEN, escape(generate_csrf())).replace(
        _TIP_TOKEN, tips.new_token()
    )
    return Markup(filled)  # noqa: S704 (a rendered template; the tokens are URL-safe text)


def _viewer():
    return current_user if current_user.is_authenticated else None


@bp.get("/feed")
@login_required
@navigation.with_member_columns(subscriptions.SUBSCRIBED_JSON)
def index():
    (known,) = navigation.member_columns() or (None,)
    subscribed = subscriptions.subscribed_creators(current_user.id, known)
    items, next_cursor = posts.feed(current_user, subscribed=subscribed)
    return render_template(
        "feed/index.html",
        items=items,
        more_url=url_for("feed.more", cursor=next_cursor) if next_cursor else None,
        subscribed=subscribed,
    )


@bp.get("/feed/more")
@login_required
def more():
    try:
        items, next_cursor = posts.feed(current_user, _cursor())
    except DomainError as exc:
        abort(400, description=exc.message)
    return render_template(
        "feed/_posts.html",
        items=items,
        more_url=url_for("feed.more", cursor=next_cursor) if next_cursor else None,
    )


def _cursor() -> str | None:
    """The next page's cursor from the query string (posts.feed/creator_posts judge it)."""
    return PageForm(request.args).cursor.data or None


@bp.get("/creators")
def creators_index():
    return render_template("feed/creators.html", rows=creators.creators_list())


def _subscription_context(page: creators.CreatorPage) -> dict:
    """The subscribe box's offer, from what `creators.creator_page` read."""
    creator_id, settings, sub = page.creator.id, page.settings, page.subscription
    price = settings.subscription_price if settings else 0
    viewer = current_user if current_user.is_authenticated else None
    first_price, promotion = subscriptions.first_period_price(viewer, creator_id, price, sub)
    return {
        "subscription": sub,
        "has_access": subscriptions.has_access(sub),
        "subscription_price": price,
        "first_price": first_price,
        "promotion": promotion,
        "bundles": growth.bundle_offers(creator_id),
    }


@bp.get("/creators/<int:creator_id>")
def creator_page(creator_id: int):
    page = creators.creator_page(
        _viewer(), creator_id, (posts.CREATOR_FIRST_PAGE,), posts.FIRST_PAGE_VALUES
    )
    offer = _subscription_context(page)
    items, next_cursor = posts.creator_posts(
        _viewer(), creator_id, subscribed=offer["has_access"], first_page=page.extra[0]
    )
    return render_template(
        "feed/creator.html",
        creator=page.creator,
        settings=page.settings,
        subscribers=page.subscribers,
        items=items,
        more_url=url_for("feed.creator_more", creator_id=creator_id, cursor=next_cursor)
        if next_cursor
        else None,
        **offer,
    )


@bp.get("/creators/<int:creator_id>/posts")
def creator_more(creator_id: int):
    creators.visible_creator(_viewer(), creator_id)
    try:
        items, next_cursor = posts.creator_posts(_viewer(), creator_id, _cursor())
    except DomainError as exc:
        abort(400, description=exc.message)
    return render_template(
        "feed/_posts.html",
        items=items,
        more_url=url_for("feed.creator_more", creator_id=creator_id, cursor=next_cursor)
        if next_cursor
        else None,
    )


@bp.get("/posts/<int:post_id>")
def post(post_id: int):
    item = posts.view(_viewer(), post_id)
    return render_template("feed/post.html", item=item, tip_open=True)


@bp.get("/posts/<int:post_id>/media/<int:media_id>")
def post_media(post_id: int, media_id: int):
    """The full-size item for the entitled: a redirect to a short-lived signed URL."""
    try:
        url = posts.media_url(_viewer(), post_id, media_id)
    except DomainError as exc:
        abort(exc.status, description=exc.message)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _post_partial(post_id: int, status: int = 200, error: str | None = None, buy: bool = False):
    item = posts.view(current_user, post_id)
    return render_template(
        "feed/_post_update.html",
        item=item,
        error=error,
        buy=buy,
        balance=ledger.wallet_balance(current_user.id),
    ), status


@bp.post("/posts/<int:post_id>/unlock")
@verified_required
@limiter.limit(PAY_LIMIT)
def unlock(post_id: int):
    try:
        posts.unlock(current_user, post_id)
    except ledger.InsufficientCredits as exc:
        if not is_htmx():
            abort(402, description=exc.message)
        return _post_partial(post_id, 402, exc.message, buy=True)
    except ledger.DuplicateTransfer:
        pass  # the other click is paying for it
    except DomainError as exc:
        if not is_htmx() or isinstance(exc, NotFound):
            abort(exc.status, description=exc.message)
        return _post_partial(post_id, exc.status, exc.message)
    if not is_htmx():
        return redirect(url_for("feed.post", post_id=post_id), code=303)
    return _post_partial(post_id)


def _subscribe_partial(creator_id: int, status: int = 200, error: str | None = None, **extra):
    page = creators.creator_page(_viewer(), creator_id)
    return render_template(
        "feed/_subscribe.html",
        creator=page.creator,
        error=error,
        balance=ledger.wallet_balance(current_user.id),
        subscribers=page.subscribers,
        partial=True,
        **_subscription_context(page),
        **extra,
    ), status


@bp.post("/creators/<int:creator_id>/subscribe")
@verified_required
@limiter.limit(PAY_LIMIT)
def subscribe(creator_id: int):
    creators.visible_creator(_viewer(), creator_id)
    try:
        subscriptions.subscribe(current_user, creator_id)
    except ledger.InsufficientCredits as exc:
        return _subscribe_partial(creator_id, 402, exc.message, buy=True)
    except DomainError as exc:
        return _subscribe_partial(creator_id, exc.status, exc.message)
    if not is_htmx():
        return redirect_to(url_for("feed.creator_page", creator_id=creator_id))
    # The posts the subscription opens are swapped in too (out of band).
    items, next_cursor = posts.creator_posts(current_user, creator_id)
    return _subscribe_partial(
        creator_id,
        refresh=True,
        items=items,
        more_url=url_for("feed.creator_more", creator_id=creator_id, cursor=next_cursor)
        if next_cursor
        else None,
    )


@bp.post("/creators/<int:creator_id>/cancel")
@login_required
@limiter.limit(PAY_LIMIT)
def cancel(creator_id: int):
    creators.visible_creator(_viewer(), creator_id)
    try:
        subscriptions.cancel(current_user, creator_id)
    except DomainError as exc:
        return _subscribe_partial(creator_id, exc.status, exc.message)
    if not is_htmx():
        return redirect_to(url_for("feed.creator_page", creator_id=creator_id))
    return _subscribe_partial(creator_id)


@bp.get("/creators/<int:creator_id>/tip")
@login_required
def tip_box(creator_id: int):
    """A tip box with a fresh form, fetched when a post's or a message's "Tip" is opened: a page
    of posts or messages renders no tip form until then (twenty forms a page, each with its own
    one-time token, cost more than the rest of the page). Opened without JavaScript, the box
    on a page of its own."""
    creator = creators.visible_creator(current_user, creator_id)
    query = TipBoxQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    form = TipForm.blank(query.target_type.data, query.target_id.data)
    template = "feed/_tip.html" if is_htmx() else "feed/tip.html"
    return render_template(template, creator=creator, form=form, done=None, error=None)


@bp.post("/creators/<int:creator_id>/tip")
@verified_required
@limiter.limit(PAY_LIMIT)
def tip(creator_id: int):
    creator = creators.visible_creator(_viewer(), creator_id)
    form = TipForm()
    status, error, done, buy = 422, None, None, False
    if form.validate_on_submit():
        try:
            done = tips.tip(
                current_user,
                creator_id,
                form.amount.data,
                form.note.data or "",
                target_type=form.target_type.data,
                target_id=form.target_id.data,
                token=form.token.data,
            )
        except ledger.InsufficientCredits as exc:
            status, error, buy = 402, exc.message, True
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except DomainError as exc:
            status, error = exc.status, exc.message
        else:
            status = 200
    if not is_htmx():
        if done is None:
            abort(status, description=error or " ".join(_messages(form)))
        back = own_path(request.referrer)  # the page the tip was sent from, if it is ours
        return redirect_to(back or url_for("feed.creator_page", creator_id=creator_id))
    if done is not None:  # a thank-you, and a fresh form (a new one-time token) for the next
        form = TipForm.blank(form.target_type.data, form.target_id.data)
    return render_template(
        "feed/_tip.html",
        creator=creator,
        form=form,
        error=error,
        done=done,
        buy=buy,
        balance=ledger.wallet_balance(current_user.id),
    ), status


def _messages(form) -> list[str]:
    """Every error of `form`, in the order of its fields."""
    return [message for field in form for message in field.errors] + list(form.form_errors)


@bp.get("/subscriptions")
@login_required
def my_subscriptions():
    return render_template(
        "feed/subscriptions.html",
        rows=subscriptions.subscriptions_of(current_user.id),
        has_access=subscriptions.has_access,
    )
