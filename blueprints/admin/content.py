"""Admin routes for content: the review-before-publication queue and copyright takedowns (on
the `admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.blueprint import bp
from blueprints.guards import admin_required
from blueprints.htmx import flash_outcome, redirect_to
from blueprints.links import own_page
from extensions import limiter
from models import TakedownStatus
from services import compliance, posts


@bp.get("/content")
@admin_required
def content_review():
    rows = compliance.review_queue()
    return render_template(
        "admin/content.html",
        rows=[(posts.views(current_user, [post])[0], user) for post, user in rows],
    )


@bp.post("/content/<int:post_id>")
@admin_required
@limiter.limit("600 per hour")
def review_post(post_id: int):
    flash_outcome(
        lambda: compliance.review(
            current_user,
            post_id,
            request.form.get("decision") == "approve",
            request.form.get("note", ""),
        ),
        f"Post {post_id} reviewed.",
    )
    return redirect_to(url_for("admin.content_review"))


@bp.get("/takedowns")
@admin_required
def takedowns():
    status = request.args.get("status", TakedownStatus.OPEN)
    if status not in (*TakedownStatus, "all"):
        abort(400, description="Unknown status.")
    rows = compliance.takedowns(status)
    # Claimants type these addresses: only ours become links (an off-site one may be a lure).
    links = {notice.id: own_page(notice.content_url) for notice in rows}
    return render_template("admin/takedowns.html", rows=rows, links=links, status=status)


@bp.post("/takedowns/<int:takedown_id>")
@admin_required
@limiter.limit("300 per hour")
def resolve_takedown(takedown_id: int):
    flash_outcome(
        lambda: compliance.resolve_takedown(
            current_user,
            takedown_id,
            request.form.get("decision") == "remove",
            request.form.get("reply", ""),
        ),
        f"Notice {takedown_id} answered.",
    )
    return redirect_to(url_for("admin.takedowns"))
