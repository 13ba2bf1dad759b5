"""The creator's side: dashboard, posts, vault and mass messages (creator mode only)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, abort, flash, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.htmx import is_htmx, redirect_to
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from models import MediaStatus, PostStatus
from services import earnings, mass_messages, media, posts

bp = Blueprint("creator", __name__, url_prefix="/creator")


def creator_required(view: Callable) -> Callable:
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_creator:
            if request.method == "GET":
                flash("Switch on creator mode first.", "info")
                return redirect_to(url_for("settings.creator"))
            abort(403, description="Switch on creator mode first.")
        return view(*args, **kwargs)

    return wrapped


@bp.get("")
@creator_required
def dashboard():
    return render_template("creator/dashboard.html", **earnings.dashboard(current_user))


# --- posts ------------------------------------------------------------------------------------


def _posts_page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    return render_template(
        "creator/posts.html",
        items=posts.manage_list(current_user),
        vault=media.ready_vault_items(current_user.id),
        visibilities=posts.VISIBILITIES,
        errors=errors or {},
        form=form or {},
    ), status


@bp.get("/posts")
@creator_required
def posts_page():
    return _posts_page()


@bp.post("/posts")
@creator_required
@limiter.limit("30 per hour")
def create_post():
    try:
        post = posts.create(current_user, request.form, request.form.getlist("media"))
    except ValidationFailed as exc:
        return _posts_page(422, exc.errors, request.form)
    except DomainError as exc:
        abort(exc.status, description=exc.message)
    if post.status == PostStatus.SCHEDULED:
        flash(f"Scheduled for {post.publish_at:%d %b %Y %H:%M} UTC.", "success")
    else:
        flash("Posted.", "success")
    return redirect_to(url_for("creator.posts_page"))


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@creator_required
def edit_post(post_id: int):
    post = posts.own_post(current_user, post_id)
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            posts.edit(current_user, post_id, request.form)
        except ValidationFailed as exc:
            errors, status = exc.errors, 422
        else:
            flash("Saved.", "success")
            return redirect_to(url_for("creator.posts_page"))
    return render_template(
        "creator/edit_post.html",
        post=post,
        visibilities=posts.VISIBILITIES,
        errors=errors,
        form=request.form if request.method == "POST" else {},
    ), status


@bp.post("/posts/<int:post_id>/delete")
@creator_required
def delete_post(post_id: int):
    posts.own_post(current_user, post_id)
    posts.delete(current_user, post_id)
    flash("Post deleted.", "success")
    return redirect_to(url_for("creator.posts_page"))


# --- vault ------------------------------------------------------------------------------------


def _vault_context(error: str | None = None) -> dict:
    items = media.vault_items(current_user.id)
    return {
        "items": items,
        "processing": any(item.status != MediaStatus.READY for item in items),
        "vault_error": error,
        "max_items": media.MAX_VAULT_ITEMS,
    }


@bp.get("/vault")
@creator_required
def vault():
    return render_template("creator/vault.html", **_vault_context())


@bp.get("/vault/grid")
@creator_required
def vault_grid():
    return render_template("creator/_vault_grid.html", **_vault_context())


def _json_object() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/vault/presign")
@creator_required
@limiter.limit("300 per hour")
def vault_presign():
    data = _json_object()
    try:
        upload = media.start_upload(
            current_user,
            "vault",
            str(data.get("content_type", "")),
            data.get("size"),
            shows_others=data.get("shows_others"),
            consent=data.get("consent"),
        )
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(upload)


@bp.post("/vault/confirm")
@creator_required
@limiter.limit("300 per hour")
def vault_confirm():
    data = _json_object()
    try:
        media.confirm_upload(current_user, str(data.get("key", "")))
    except DomainError as exc:
        return render_template("creator/_vault_grid.html", **_vault_context(exc.message)), (
            exc.status
        )
    return render_template("creator/_vault_grid.html", **_vault_context())


@bp.post("/vault/<int:media_id>/delete")
@creator_required
def vault_delete(media_id: int):
    error = None
    try:
        media.delete_vault_item(current_user, media_id)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        error = exc.message
    if is_htmx():
        return render_template("creator/_vault_grid.html", **_vault_context(error))
    if error:
        flash(error, "error")
    return redirect_to(url_for("creator.vault"))


# --- mass messages ----------------------------------------------------------------------------


def _mass_page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    return render_template(
        "creator/mass_messages.html",
        rows=mass_messages.recent(current_user),
        vault=media.ready_vault_items(current_user.id),
        errors=errors or {},
        form=form or {},
    ), status


@bp.get("/mass-messages")
@creator_required
def mass_messages_page():
    return _mass_page()


@bp.post("/mass-messages")
@creator_required
@limiter.limit("10 per hour")
def send_mass_message():
    try:
        mass_messages.start(current_user, request.form)
    except ValidationFailed as exc:
        return _mass_page(422, exc.errors, request.form)
    except DomainError as exc:
        abort(exc.status, description=exc.message)
    flash("Sending to your subscribers.", "success")
    return redirect_to(url_for("creator.mass_messages_page"))


@bp.get("/mass-messages/<int:mass_message_id>/progress")
@creator_required
def mass_message_progress(mass_message_id: int):
    row = mass_messages.get_own(current_user, mass_message_id)
    return render_template("creator/_mass_progress.html", row=row)
