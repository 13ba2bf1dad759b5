"""My dating profile: basics, interests, place (browser location or a city), match questions."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.htmx import is_htmx
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import cities, matching, media, profiles

bp = Blueprint("profile", __name__)


def _context(**extra) -> dict:
    profile = profiles.get(current_user.id)
    answered, total = matching.progress(current_user.id)
    return {
        "profile": profile,
        "interests": ", ".join(profiles.interests_of(current_user.id)),
        "answered": answered,
        "total": total,
        "errors": {},
        "photos": media.photos_of(current_user.id),
        "photo_url": media.url_for_key,
        **extra,
    }


@bp.get("/profile")
@login_required
def edit():
    return render_template("profile/edit.html", **_context())


def _section(partial: str, errors: dict | None = None, saved: bool = False, status: int = 200):
    context = _context(errors=errors or {}, saved=saved)
    if is_htmx():
        return render_template(partial, **context), status
    return render_template("profile/edit.html", **context), status


@bp.post("/profile/basics")
@login_required
def basics():
    try:
        profiles.update_basics(
            current_user,
            gender=request.form.get("gender") or None,
            seeking=request.form.getlist("seeking"),
            age_min=request.form.get("age_min", type=int),
            age_max=request.form.get("age_max", type=int),
            bio=request.form.get("bio", ""),
        )
    except ValidationFailed as exc:
        return _section("profile/_basics.html", exc.errors, status=422)
    return _section("profile/_basics.html", saved=True)


@bp.post("/profile/interests")
@login_required
def interests():
    try:
        profiles.set_interests(current_user, request.form.get("interests", ""))
    except ValidationFailed as exc:
        return _section("profile/_interests.html", exc.errors, status=422)
    return _section("profile/_interests.html", saved=True)


@bp.post("/profile/location")
@login_required
@limiter.limit("30 per hour")
def location():
    try:
        if request.form.get("city_id"):
            profiles.set_location_city(current_user, request.form.get("city_id"))
        else:
            profiles.set_location_coordinates(
                current_user, request.form.get("latitude"), request.form.get("longitude")
            )
    except ValidationFailed as exc:
        return _section("profile/_location.html", exc.errors, status=422)
    return _section("profile/_location.html", saved=True)


@bp.get("/profile/cities")
@login_required
def city_search():
    return render_template(
        "profile/_city_results.html", results=cities.search(request.args.get("q", ""))
    )


@bp.get("/questions")
@login_required
def questions():
    return render_template(
        "profile/questions.html",
        question=matching.next_question(current_user),
        importance=matching.IMPORTANCE,
        **_progress(),
    )


def _progress() -> dict:
    answered, total = matching.progress(current_user.id)
    return {"answered": answered, "total": total}


@bp.post("/questions")
@login_required
@limiter.limit("300 per hour")
def answer():
    error = None
    status = 200
    question_id = request.form.get("question_id", "")
    try:
        matching.answer(
            current_user,
            question_id,
            request.form.get("choice"),
            request.form.getlist("acceptable"),
            request.form.get("importance"),
        )
        question = matching.next_question(current_user)
    except ValidationFailed as exc:
        error, status = " ".join(exc.errors.values()), 422
        question = matching.bank().get(question_id)
    except DomainError as exc:
        error, status = exc.message, exc.status
        question = matching.next_question(current_user)
    template = "profile/_question.html" if is_htmx() else "profile/questions.html"
    return render_template(
        template,
        question=question,
        importance=matching.IMPORTANCE,
        error=error,
        form=request.form,
        **_progress(),
    ), status


def _json_object() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/profile/photos/presign")
@login_required
@limiter.limit("60 per hour")
def photo_presign():
    data = _json_object()
    try:
        upload = media.start_upload(
            current_user, "photo", str(data.get("content_type", "")), data.get("size")
        )
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
    data = _json_object()
    try:
        media.confirm_upload(current_user, str(data.get("key", "")))
    except DomainError as exc:
        message = (
            " ".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else (exc.message)
        )
        return render_template("profile/_photos.html", **_context(photo_error=message)), (
            exc.status
        )
    return render_template("profile/_photos.html", **_context())


@bp.post("/profile/photos/<int:photo_id>/delete")
@login_required
def photo_delete(photo_id: int):
    media.delete_photo(current_user, photo_id)
    if is_htmx():
        return render_template("profile/_photos.html", **_context())

    return redirect(url_for("profile.edit"), code=303)
