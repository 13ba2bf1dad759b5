"""My dating profile: basics, interests, place (browser location or a city), match questions."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.forms.media import ConfirmUploadForm, StartUploadForm, json_body
from blueprints.forms.profile import (
    AnswerForm,
    BasicsForm,
    CitySearchForm,
    InterestsForm,
    LocationForm,
)
from blueprints.htmx import apply_errors, is_htmx, render_form
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from services import cities, matching, media, profiles

bp = Blueprint("profile", __name__)


def _context(**extra) -> dict:
    """The profile page; a section's form given in `extra` (as posted, with its errors) takes
    the place of the one showing what is saved."""
    profile = profiles.get(current_user.id)
    answered, total = matching.progress(current_user.id)
    if "basics_form" not in extra:
        extra["basics_form"] = BasicsForm.of(profile)
    if "interests_form" not in extra:
        extra["interests_form"] = InterestsForm.of(profiles.interests_of(current_user.id))
    if "location_form" not in extra:
        extra["location_form"] = LocationForm(formdata=None)
    return {
        "profile": profile,
        "answered": answered,
        "total": total,
        "photos": media.photos_of(current_user.id),
        "photo_url": media.url_for_key,
        **_clip_context(),
        **extra,
    }


def _clip_context(error: str | None = None) -> dict:
    return {
        "clip": media.profile_clip(current_user.id),
        "clip_seconds": media.profile_video_seconds(),
        "clip_error": error,
    }


@bp.get("/profile")
@login_required
def edit():
    return render_template("profile/edit.html", **_context())


def _section(partial: str, status: int = 200, **context):
    """The section alone for htmx (swapped in place), else the whole profile page."""
    return render_form("profile/edit.html", partial, status, **_context(**context))


@bp.post("/profile/basics")
@login_required
def basics():
    form = BasicsForm()
    if form.validate_on_submit():
        try:
            profiles.update_basics(
                current_user,
                gender=form.gender.data or None,
                seeking=form.seeking.data,
                age_min=form.age_min.data,
                age_max=form.age_max.data,
                bio=form.bio.data or "",
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            return _section("profile/_basics.html", saved=True)
    return _section("profile/_basics.html", 422, basics_form=form)


@bp.post("/profile/interests")
@login_required
def interests():
    form = InterestsForm()
    if form.validate_on_submit():
        try:
            profiles.set_interests(current_user, form.interests.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            return _section("profile/_interests.html", saved=True)
    return _section("profile/_interests.html", 422, interests_form=form)


@bp.post("/profile/location")
@login_required
@limiter.limit("30 per hour")
def location():
    form = LocationForm()
    if form.validate_on_submit():
        try:
            if form.city_id.data is not None:
                profiles.set_location_city(current_user, form.city_id.data)
            else:
                profiles.set_location_coordinates(
                    current_user, form.latitude.data, form.longitude.data
                )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            return _section("profile/_location.html", saved=True)
    return _section("profile/_location.html", 422, location_form=form)


@bp.get("/profile/cities")
@login_required
def city_search():
    form = CitySearchForm(request.args)
    if not form.validate():
        return render_template("profile/_city_results.html", form=form, results=[]), 422
    return render_template(
        "profile/_city_results.html", form=form, results=cities.search(form.q.data or "")
    )


@bp.get("/questions")
@login_required
def questions():
    question = matching.next_question(current_user)
    return render_template(
        "profile/questions.html", question=question, form=AnswerForm.blank(question), **_progress()
    )


def _progress() -> dict:
    answered, total = matching.progress(current_user.id)
    return {"answered": answered, "total": total}


@bp.post("/questions")
@login_required
@limiter.limit("300 per hour")
def answer():
    """Answer the question on screen: the next one comes, or the same one again with what was
    picked and the errors."""
    form = AnswerForm()
    error, status = None, 200
    try:
        question = matching.question(form.question_id.data or "")
    except NotFound as exc:
        error, status = exc.message, exc.status
        question = matching.next_question(current_user)
        form = AnswerForm.blank(question)
    else:
        form.offer(question)
        status = 422
        if form.validate_on_submit():
            try:
                matching.answer(
                    current_user,
                    question.id,
                    choice=form.choice.data,
                    acceptable=form.acceptable.data,
                    importance=form.importance.data,
                )
            except ValidationFailed as exc:
                apply_errors(form, exc.errors)
            else:
                status = 200
                question = matching.next_question(current_user)
                form = AnswerForm.blank(question)
    return render_form(
        "profile/questions.html",
        "profile/_question.html",
        status,
        question=question,
        form=form,
        error=error,
        **_progress(),
    )


@bp.post("/profile/photos/presign")
@login_required
@limiter.limit("60 per hour")
def photo_presign():
    form = StartUploadForm(formdata=json_body())
    try:
        upload = media.start_upload(current_user, "photo", form.content_type.data, form.size.data)
    except DomainError as exc:
        message = (
            " ".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else (exc.message)
        )
        return jsonify(error=message), exc.status
    return jsonify(upload)


@bp.post("/profile/photos/confirm")
@login_required
@limiter.limit("60 per hour")
def photo_confirm():
    form = ConfirmUploadForm(formdata=json_body())
    try:
        media.confirm_upload(current_user, form.key.data, ("photo",))
    except DomainError as exc:
        message = (
            " ".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else (exc.message)
        )
        return render_template("profile/_photos.html", **_context(photo_error=message)), (
            exc.status
        )
    return render_template("profile/_photos.html", **_context())


@bp.post("/profile/video/presign")
@login_required
@limiter.limit("30 per hour")
def clip_presign():
    """A profile video goes up in parts, like a vault video (static/upload.js)."""
    form = StartUploadForm(formdata=json_body())
    try:
        upload = media.start_video_upload(
            current_user, "clip", form.content_type.data, form.size.data
        )
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(upload)


@bp.post("/profile/video/confirm")
@login_required
@limiter.limit("60 per hour")
def clip_confirm():
    form = ConfirmUploadForm(formdata=json_body())
    try:
        media.confirm_upload(current_user, form.key.data, ("clip",))
    except DomainError as exc:
        return render_template("profile/_clip.html", **_clip_context(exc.message)), exc.status
    return render_template("profile/_clip.html", **_clip_context())


@bp.get("/profile/video")
@login_required
def clip_section():
    """The video section again (it polls while a video is processed)."""
    return render_template("profile/_clip.html", **_clip_context())


@bp.post("/profile/video/delete")
@login_required
def clip_delete():
    media.delete_profile_clip(current_user)
    if is_htmx():
        return render_template("profile/_clip.html", **_clip_context())
    return redirect(url_for("profile.edit"), code=303)


@bp.post("/profile/photos/<int:photo_id>/delete")
@login_required
def photo_delete(photo_id: int):
    media.delete_photo(current_user, photo_id)
    if is_htmx():
        return render_template("profile/_photos.html", **_context())

    return redirect(url_for("profile.edit"), code=303)
