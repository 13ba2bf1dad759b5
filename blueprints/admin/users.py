"""Admin routes for people: users (search, dossier, actions), moderation and alerts (on the
`admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.blueprint import bp
from blueprints.guards import admin_required
from blueprints.htmx import flash_outcome, redirect_to
from core.errors import DomainError, NotFound
from extensions import limiter
from models import AlertStatus, ReportStatus, UserStatus
from services import admin_users, alerts, moderation, safety

ACTION_LIMIT = "300 per hour"


# --- users --------------------------------------------------------------------------------------


@bp.get("/users")
@admin_required
def users():
    query = request.args.get("q", "")
    return render_template("admin/users.html", rows=admin_users.search(query), q=query)


@bp.get("/users/<int:user_id>")
@admin_required
def user_detail(user_id: int):
    return render_template(
        "admin/user.html", d=admin_users.dossier(user_id), reasons=safety.REPORT_REASONS
    )


def _after_action(user_id: int, done: str, call, *args):
    flash_outcome(lambda: call(current_user, user_id, *args), done)
    return redirect_to(url_for("admin.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/status")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_status(user_id: int):
    status = request.form.get("status", "")
    labels = {
        UserStatus.ACTIVE: "reactivated",
        UserStatus.SUSPENDED: "suspended",
        UserStatus.BANNED: "banned",
    }
    return _after_action(
        user_id,
        f"Account {labels.get(status, status)}.",
        admin_users.set_status,
        status,
        request.form.get("reason", ""),
    )


@bp.post("/users/<int:user_id>/logout")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_logout(user_id: int):
    return _after_action(user_id, "Every session was ended.", admin_users.force_logout)


@bp.post("/users/<int:user_id>/reset-2fa")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_reset_2fa(user_id: int):
    return _after_action(
        user_id, "Two-factor authentication was reset.", admin_users.reset_two_factor
    )


@bp.post("/users/<int:user_id>/adjust")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_adjust(user_id: int):
    return _after_action(
        user_id,
        "The wallet was adjusted.",
        admin_users.adjust_credits,
        request.form.get("amount", ""),
        request.form.get("reason", ""),
    )


@bp.post("/users/<int:user_id>/unfreeze")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_unfreeze(user_id: int):
    return _after_action(
        user_id,
        "The wallet is unfrozen.",
        admin_users.unfreeze_wallet,
        request.form.get("reason", ""),
    )


@bp.post("/users/<int:user_id>/verify")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_verify(user_id: int):
    return _after_action(user_id, "Creator verified.", admin_users.verify_creator)


# --- moderation ---------------------------------------------------------------------------------


@bp.get("/reports")
@admin_required
def reports():
    status = request.args.get("status", ReportStatus.OPEN)
    if status not in (*ReportStatus, "all"):
        abort(400, description="Unknown status.")
    rows = [
        (report, by, about, moderation.subject(report))
        for report, by, about in moderation.queue(status)
    ]
    return render_template(
        "admin/reports.html",
        rows=rows,
        status=status,
        outcomes=moderation.OUTCOMES,
        reasons=safety.REPORT_REASONS,
    )


@bp.post("/reports/<int:report_id>/decide")
@admin_required
@limiter.limit(ACTION_LIMIT)
def decide_report(report_id: int):
    try:
        report = moderation.decide(
            current_user,
            report_id,
            request.form.get("outcome", ""),
            request.form.get("note", ""),
        )
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        about = admin_users.get_user(report.reported_user_id).display_name
        flash(
            f"Report {report.id} about {about}: {moderation.OUTCOMES[report.outcome].lower()}.",
            "success",
        )
    return redirect_to(url_for("admin.reports"))


# --- alerts -------------------------------------------------------------------------------------


@bp.get("/alerts")
@admin_required
def alerts_page():
    status = request.args.get("status", AlertStatus.OPEN)
    kind = request.args.get("kind") or None
    if status not in (*alerts.STATUSES, "all"):
        abort(400, description="Unknown status.")
    return render_template(
        "admin/alerts.html",
        rows=alerts.listing(None if status == "all" else status, kind),
        status=status,
        kind=kind,
        kinds=alerts.kinds(),
        statuses=alerts.STATUSES,
    )


@bp.get("/alerts/<int:alert_id>")
@admin_required
def alert_detail(alert_id: int):
    return render_template(
        "admin/alert.html",
        alert=alerts.get(alert_id),
        notes=alerts.notes(alert_id),
        statuses=alerts.STATUSES,
        errors={},
    )


@bp.post("/alerts/<int:alert_id>")
@admin_required
@limiter.limit(ACTION_LIMIT)
def triage_alert(alert_id: int):
    status = request.form.get("status") or None
    flash_outcome(
        lambda: alerts.triage(current_user, alert_id, status, request.form.get("body", "")),
        "Saved.",
    )
    return redirect_to(url_for("admin.alert_detail", alert_id=alert_id))
