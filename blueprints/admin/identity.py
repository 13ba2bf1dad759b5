"""Admin routes for identity checks (docs/identity.md#review): the queue, a request with its
files beside the member's photos and risk, the decision, and the sealed files themselves,
opened for moderators and admins only and each look audited (on the `admin` blueprint,
`blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import Response, render_template, url_for
from flask_login import current_user

from blueprints.admin.actions import settled
from blueprints.admin.blueprint import bp
from blueprints.forms.admin import DecideReleaseForm, DecideVerificationForm
from blueprints.guards import admin_required, staff_required
from blueprints.htmx import redirect_to
from extensions import limiter
from services import admin_users, co_performers, identity, media


@bp.get("/verification")
@staff_required
def verification_queue():
    return render_template(
        "admin/verification.html",
        pending=identity.queue(current_user),
        decided=identity.recent_decisions(current_user),
        releases=co_performers.release_queue(current_user),
        kinds=identity.KIND_NAMES,
    )


def _detail_page(request_id: int, form: DecideVerificationForm | None = None, code: int = 200):
    request = identity.get_request(current_user, request_id)
    dossier = admin_users.dossier(request.user_id)
    return render_template(
        "admin/verification_detail.html",
        v=request,
        d=dossier,
        photos=media.photos_of(request.user_id),
        photo_url=media.photo_links(),
        history=[other for other in identity.history(request.user_id) if other.id != request.id],
        form=form or DecideVerificationForm(formdata=None),
        kinds=identity.KIND_NAMES,
        documents=identity.DOCUMENT_TYPES,
    ), code


@bp.get("/verification/<int:request_id>")
@staff_required
def verification_detail(request_id: int):
    return _detail_page(request_id)


@bp.post("/verification/<int:request_id>")
@staff_required
@limiter.limit("600 per hour")
def decide_verification(request_id: int):
    form = DecideVerificationForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: identity.decide(
            current_user,
            request_id,
            approve=form.decision.data == "approve",
            reason=form.reason.data,
        ),
        lambda done: f"{identity.KIND_NAMES[done.kind].capitalize()} {done.status}.",
    ):
        return redirect_to(url_for("admin.verification_queue"))
    return _detail_page(request_id, form, 422)


def _release_page(co_performer_id: int, form: DecideReleaseForm | None = None, code: int = 200):
    row, owner, item = co_performers.release(current_user, co_performer_id)
    variants = (item.variants or {}) if item is not None else {}
    preview = variants.get("display") or variants.get("poster") or variants.get("thumb")
    return render_template(
        "admin/release.html",
        row=row,
        owner=owner,
        item=item,
        preview=media.url_for_key(preview) if preview else None,
        form=form or DecideReleaseForm(formdata=None),
    ), code


@bp.get("/releases/<int:co_performer_id>")
@staff_required
def release_detail(co_performer_id: int):
    return _release_page(co_performer_id)


@bp.post("/releases/<int:co_performer_id>")
@staff_required
@limiter.limit("600 per hour")
def decide_release(co_performer_id: int):
    form = DecideReleaseForm()

    def act():
        if form.decision.data == "revoke":
            return co_performers.revoke_release(current_user, co_performer_id, form.reason.data)
        return co_performers.decide_release(
            current_user,
            co_performer_id,
            approve=form.decision.data == "approve",
            reason=form.reason.data,
        )

    if form.validate_on_submit() and settled(
        form, act, lambda done: f"Release for {done.legal_name}: {done.status}."
    ):
        return redirect_to(url_for("admin.verification_queue"))
    return _release_page(co_performer_id, form, 422)


@bp.get("/users/<int:user_id>/identity-records.csv")
@admin_required
@limiter.limit("120 per hour")
def identity_records(user_id: int):
    """A member's identity records as CSV, for a compliance request (admins only)."""
    name, text = identity.records_csv(current_user, user_id)
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store, private"
    return response


@bp.get("/verification/files/<int:file_id>")
@staff_required
@limiter.limit("1200 per hour")
def verification_file(file_id: int):
    """A sealed file, opened for this look only: never cached, never a link to storage."""
    data = identity.open_file(current_user, file_id)
    response = Response(data, mimetype=identity.FILE_TYPE)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["Content-Disposition"] = "inline"
    return response
