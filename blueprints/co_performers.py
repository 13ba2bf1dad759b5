"""Co-performers, the creator's side (docs/identity.md#co-performers): naming everyone shown in
a vault item (a verified creator's tag, or a release), and answering tags as the one named."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, url_for
from flask_login import current_user, login_required

from blueprints.creator import creator_required
from blueprints.forms.creator import ReleaseForm, TagAnswerForm, TagPerformerForm
from blueprints.forms.fields import first_error, sealed_upload
from blueprints.guards import body_limit
from blueprints.htmx import apply_errors, flash_outcome, redirect_to
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from services import co_performers, identity, media

bp = Blueprint("co_performers", __name__, url_prefix="/creator")


def _people_page(
    media_id: int,
    tag: TagPerformerForm | None = None,
    release: ReleaseForm | None = None,
    status: int = 200,
):
    item, people = co_performers.people_of(current_user, media_id)
    return render_template(
        "creator/people.html",
        item=item,
        people=people,
        cleared=not co_performers.uncleared([item.id]),
        tag_form=tag or TagPerformerForm(formdata=None),
        release_form=release or ReleaseForm(formdata=None),
        thumb=media.url_for_key((item.variants or {}).get("thumb")),
        max_mb=identity.MAX_FILE_BYTES // 2**20,
    ), status


@bp.get("/vault/<int:media_id>/people")
@creator_required
def people(media_id: int):
    return _people_page(media_id)


@bp.post("/vault/<int:media_id>/people/tag")
@creator_required
@limiter.limit("60 per hour")
def tag(media_id: int):
    form = TagPerformerForm()
    if not form.validate_on_submit():
        return _people_page(media_id, tag=form, status=422)
    try:
        co_performers.tag_member(current_user, media_id, form.who.data)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _people_page(media_id, tag=form, status=422)
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("Tagged: they are asked to accept.", "success")
    return redirect_to(url_for("co_performers.people", media_id=media_id))


@bp.post("/vault/<int:media_id>/people/release")
@body_limit(2 * identity.MAX_FILE_BYTES + 2**20)
@creator_required
@limiter.limit("30 per hour")
def add_release(media_id: int):
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _people_page(media_id, release=form, status=422)
    try:
        co_performers.add_release(
            current_user,
            media_id,
            legal_name=form.legal_name.data,
            id_document=sealed_upload(form.id_document),
            release_form=sealed_upload(form.release_form),
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _people_page(media_id, release=form, status=422)
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("Release added: our team checks it before the item can be used.", "success")
    return redirect_to(url_for("co_performers.people", media_id=media_id))


@bp.post("/people/<int:co_performer_id>/remove")
@creator_required
@limiter.limit("60 per hour")
def remove(co_performer_id: int):
    media_id = co_performers.owned_item_of(current_user, co_performer_id)
    flash_outcome(lambda: co_performers.remove(current_user, co_performer_id), "Removed.")
    return redirect_to(url_for("co_performers.people", media_id=media_id))


@bp.get("/tags")
@login_required  # a member who left creator mode still answers for where they appear
def tags():
    return render_template(
        "creator/tags.html",
        tags=co_performers.tags_of(current_user),
        form=TagAnswerForm(formdata=None),
        thumb=lambda item: _variant(item, "thumb"),
        large=lambda item: _variant(item, "display") or _variant(item, "poster"),
    )


def _variant(item, name: str) -> str | None:
    """A signed link to a variant of a tagged item (the person shown sees what they accept)."""
    if item is None or item.status != "ready":
        return None
    key = (item.variants or {}).get(name)
    return media.url_for_key(key) if key else None


@bp.post("/tags/<int:co_performer_id>")
@login_required
@limiter.limit("120 per hour")
def answer(co_performer_id: int):
    form = TagAnswerForm()
    if not form.validate_on_submit():
        flash(first_error(form), "error")
        return redirect_to(url_for("co_performers.tags"))
    choice = form.answer.data
    if choice == "withdraw":
        flash_outcome(
            lambda: co_performers.withdraw(current_user, co_performer_id),
            "Consent withdrawn: the item was taken down everywhere.",
        )
    else:
        flash_outcome(
            lambda: co_performers.answer(current_user, co_performer_id, choice == "accept"),
            "Accepted." if choice == "accept" else "Declined.",
        )
    return redirect_to(url_for("co_performers.tags"))
