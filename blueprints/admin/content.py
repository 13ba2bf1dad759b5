"""Admin routes for content: the review-before-publication queue and copyright takedowns (on
the `admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.actions import flash_unshown, settled
from blueprints.admin.blueprint import bp
from blueprints.forms.admin import (
    ReviewPostForm,
    TakedownDecisionForm,
    TakedownQueueQuery,
    for_row,
)
from blueprints.forms.fields import first_error
from blueprints.guards import staff_required
from blueprints.htmx import redirect_to
from blueprints.links import own_page
from extensions import limiter
from models import TakedownStatus
from services import compliance, posts
from services import takedowns as copyright_notices


def _review_page(code: int = 200, posted: dict[int, ReviewPostForm] | None = None):
    """The posts waiting for review, each with its form (`posted`: one just sent, by post id)."""
    posted = posted or {}
    queue = compliance.review_queue()
    rows = [(posts.views(current_user, [post])[0], user) for post, user in queue]
    forms = {
        item.post.id: posted.get(item.post.id)
        or for_row(ReviewPostForm(formdata=None), item.post.id)
        for item, _ in rows
    }
    flash_unshown(posted, forms)
    return render_template("admin/content.html", rows=rows, forms=forms), code


@bp.get("/content")
@staff_required
def content_review():
    return _review_page()


@bp.post("/content/<int:post_id>")
@staff_required
@limiter.limit("600 per hour")
def review_post(post_id: int):
    form = ReviewPostForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: compliance.review(
            current_user, post_id, form.decision.data == "approve", form.note.data
        ),
        f"Post {post_id} reviewed.",
    ):
        return redirect_to(url_for("admin.content_review"))
    return _review_page(422, {post_id: for_row(form, post_id)})


def _takedowns_page(
    status: str, code: int = 200, posted: dict[int, TakedownDecisionForm] | None = None
):
    """The notices in `status`; each open one has its form (`posted`: one just sent, by id)."""
    posted = posted or {}
    rows = copyright_notices.takedowns(status)
    # Claimants type these addresses: only ours become links (an off-site one may be a lure).
    links = {notice.id: own_page(notice.content_url) for notice in rows}
    forms = {
        notice.id: posted.get(notice.id) or for_row(TakedownDecisionForm(formdata=None), notice.id)
        for notice in rows
        if notice.status == TakedownStatus.OPEN
    }
    flash_unshown(posted, forms)
    return render_template(
        "admin/takedowns.html", rows=rows, links=links, status=status, forms=forms
    ), code


@bp.get("/takedowns")
@staff_required
def takedowns():
    query = TakedownQueueQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    return _takedowns_page(query.status.data)


@bp.post("/takedowns/<int:takedown_id>")
@staff_required
@limiter.limit("300 per hour")
def resolve_takedown(takedown_id: int):
    form = TakedownDecisionForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: copyright_notices.resolve_takedown(
            current_user, takedown_id, form.decision.data == "remove", form.reply.data
        ),
        f"Notice {takedown_id} answered.",
    ):
        return redirect_to(url_for("admin.takedowns"))
    return _takedowns_page(TakedownStatus.OPEN, 422, {takedown_id: for_row(form, takedown_id)})
