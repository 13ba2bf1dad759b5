"""The creator's side: dashboard, posts, vault and mass messages (creator mode only)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, abort, flash, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.forms.creator import EditPostForm, MassMessageForm, NewPostForm
from blueprints.forms.media import ConfirmUploadForm, StartUploadForm, json_body
from blueprints.htmx import apply_errors, is_htmx, redirect_to
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from models import MediaStatus, PostStatus
from services import co_performers, earnings, mass_messages, media, posts

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


def _posts_page(form: NewPostForm, vault: list, status: int = 200):
    return render_template(
        "creator/posts.html", items=posts.manage_list(current_user), vault=vault, form=form
    ), status


@bp.get("/posts")
@creator_required
def posts_page():
    vault = media.ready_vault_items(current_user.id)
    return _posts_page(NewPostForm(vault=vault), vault)


@bp.post("/posts")
@creator_required
@limiter.limit("30 per hour")
def create_post():
    vault = media.ready_vault_items(current_user.id)
    form = NewPostForm(vault=vault)
    if form.validate_on_submit():
        try:
            post = posts.create(
                current_user,
                body=form.body.data,
                visibility=form.visibility.data,
                price=form.price_credits,
                publish_at=form.publish_at_utc,
                media_ids=form.media.data,
                adult=form.adult.data,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except NotFound:
            raise
        except DomainError as exc:  # e.g. an item whose co-performers are not all named
            flash(exc.message, "error")
            return _posts_page(form, vault, exc.status)
        else:
            if post.status == PostStatus.SCHEDULED:
                flash(f"Scheduled for {post.publish_at:%d %b %Y %H:%M} UTC.", "success")
            else:
                flash("Posted.", "success")
            return redirect_to(url_for("creator.posts_page"))
    return _posts_page(form, vault, 422)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@creator_required
def edit_post(post_id: int):
    post = posts.own_post(current_user, post_id)
    if request.method != "POST":
        form = EditPostForm(
            data={
                "body": post.body,
                "visibility": post.visibility,
                "price": post.price or None,
                "adult": post.adult,
            }
        )
        return render_template("creator/edit_post.html", post=post, form=form)
    form = EditPostForm()
    if form.validate_on_submit():
        try:
            posts.edit(
                current_user,
                post_id,
                body=form.body.data,
                visibility=form.visibility.data,
                price=form.price_credits,
                publish_at=form.publish_at_utc,
                adult=form.adult.data,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except NotFound:
            raise
        except DomainError as exc:  # e.g. an item whose co-performers are not all named
            flash(exc.message, "error")
            return render_template("creator/edit_post.html", post=post, form=form), exc.status
        else:
            flash("Saved.", "success")
            return redirect_to(url_for("creator.posts_page"))
    return render_template("creator/edit_post.html", post=post, form=form), 422


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
        "uncleared": co_performers.uncleared(item.id for item in items),
        "processing": any(item.status == MediaStatus.UPLOADED for item in items),
        **media.upload_limits(),
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


@bp.post("/vault/presign")
@creator_required
@limiter.limit("300 per hour")
def vault_presign():
    form = StartUploadForm(formdata=json_body())
    try:
        upload = media.start_upload(
            current_user,
            "vault",
            form.content_type.data,
            form.size.data,
            shows_others=form.shows_others.data,
            consent=form.consent.data,
        )
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(upload)


@bp.post("/vault/confirm")
@creator_required
@limiter.limit("300 per hour")
def vault_confirm():
    form = ConfirmUploadForm(formdata=json_body())
    try:
        media.confirm_upload(current_user, form.key.data, ("vault",))
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


def _mass_page(form: MassMessageForm, vault: list, status: int = 200):
    return render_template(
        "creator/mass_messages.html",
        rows=mass_messages.recent(current_user),
        vault=vault,
        form=form,
    ), status


@bp.get("/mass-messages")
@creator_required
def mass_messages_page():
    vault = media.ready_vault_items(current_user.id)
    return _mass_page(MassMessageForm(vault=vault), vault)


@bp.post("/mass-messages")
@creator_required
@limiter.limit("10 per hour")
def send_mass_message():
    vault = media.ready_vault_items(current_user.id)
    form = MassMessageForm(vault=vault)
    if form.validate_on_submit():
        try:
            mass_messages.start(
                current_user,
                body=form.body.data,
                media_id=form.media_id.data,
                price=form.price_credits,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            flash("Sending to your subscribers.", "success")
            return redirect_to(url_for("creator.mass_messages_page"))
    return _mass_page(form, vault, 422)


@bp.get("/mass-messages/<int:mass_message_id>/progress")
@creator_required
def mass_message_progress(mass_message_id: int):
    row = mass_messages.get_own(current_user, mass_message_id)
    return render_template("creator/_mass_progress.html", row=row)
