"""Admin routes for people: users (search, dossier, actions), moderation and alerts (on the
`admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.actions import flash_unshown, settled
from blueprints.admin.blueprint import bp
from blueprints.forms.admin import (
    STATUS_ACTIONS,
    AdjustCreditsForm,
    AdultContentForm,
    AlertQueueQuery,
    DecideReportForm,
    ReportQueueQuery,
    TriageAlertForm,
    UnfreezeForm,
    UserRoleForm,
    UserSearchQuery,
    UserStatusForm,
    for_row,
)
from blueprints.forms.fields import first_error
from blueprints.guards import admin_required, staff_required
from blueprints.htmx import flash_outcome, redirect_to
from extensions import limiter
from models import AlertStatus, ReportStatus, UserStatus
from services import admin_users, alerts, moderation, safety

ACTION_LIMIT = "300 per hour"


# --- users --------------------------------------------------------------------------------------


@bp.get("/users")
@staff_required
def users():
    query = UserSearchQuery(request.args)
    if not query.validate():
        return render_template("admin/users.html", rows=[], query=query), 400
    return render_template("admin/users.html", rows=admin_users.search(query.q.data), query=query)


def _user_page(user_id: int, code: int = 200, **posted):
    """A member's file and the actions on it; a form in `posted` (status, adjust, unfreeze,
    role) was just sent and is shown with its input and errors."""
    dossier = admin_users.dossier(user_id)
    forms = {
        "status": UserStatusForm(formdata=None),
        "adjust": AdjustCreditsForm(formdata=None),
        "unfreeze": UnfreezeForm(formdata=None),
        "role": UserRoleForm(formdata=None, role=dossier.user.role),
        **posted,
    }
    return render_template(
        "admin/user.html",
        d=dossier,
        reasons=safety.REPORT_REASONS,
        forms=forms,
        status_actions=STATUS_ACTIONS,
    ), code


@bp.get("/users/<int:user_id>")
@staff_required
def user_detail(user_id: int):
    return _user_page(user_id)


def _back_to(user_id: int):
    return redirect_to(url_for("admin.user_detail", user_id=user_id))


def _after_action(user_id: int, done: str, call):
    """An action without input (the form is the button and its CSRF token)."""
    flash_outcome(lambda: call(current_user, user_id), done)
    return _back_to(user_id)


@bp.post("/users/<int:user_id>/status")
@staff_required
@limiter.limit(ACTION_LIMIT)
def user_status(user_id: int):
    form = UserStatusForm()
    if form.validate_on_submit():
        status = UserStatus(form.status.data)
        if settled(
            form,
            lambda: admin_users.set_status(current_user, user_id, status, form.reason.data),
            f"Account {STATUS_ACTIONS[status][1]}.",
        ):
            return _back_to(user_id)
    return _user_page(user_id, 422, status=form)


@bp.post("/users/<int:user_id>/logout")
@staff_required
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
    form = AdjustCreditsForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: admin_users.adjust_credits(
            current_user, user_id, form.amount.data, form.reason.data
        ),
        "The wallet was adjusted.",
    ):
        return _back_to(user_id)
    return _user_page(user_id, 422, adjust=form)


@bp.post("/users/<int:user_id>/unfreeze")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_unfreeze(user_id: int):
    form = UnfreezeForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: admin_users.unfreeze_wallet(current_user, user_id, form.reason.data),
        "The wallet is unfrozen.",
    ):
        return _back_to(user_id)
    return _user_page(user_id, 422, unfreeze=form)


@bp.post("/users/<int:user_id>/adult")
@staff_required
@limiter.limit(ACTION_LIMIT)
def user_adult(user_id: int):
    form = AdultContentForm()
    if form.validate():
        flash_outcome(
            lambda: admin_users.set_adult_content(current_user, user_id, form.adult.data == "1"),
            "Saved.",
        )
    else:
        flash(first_error(form), "error")
    return _back_to(user_id)


@bp.post("/users/<int:user_id>/role")
@admin_required
@limiter.limit(ACTION_LIMIT)
def user_role(user_id: int):
    form = UserRoleForm()
    if not form.validate():
        return _user_page(user_id, 422, role=form)
    flash_outcome(
        lambda: admin_users.set_role(current_user, user_id, form.role.data), "Role changed."
    )
    return _back_to(user_id)


# --- moderation ---------------------------------------------------------------------------------


def _reports_page(status: str, code: int = 200, posted: dict[int, DecideReportForm] | None = None):
    """The reports in `status`; each open one has its decision form (`posted`: one just sent,
    by report id, shown with its input and errors)."""
    posted = posted or {}
    rows = [
        (report, by, about, moderation.subject(report))
        for report, by, about in moderation.queue(status)
    ]
    forms = {
        report.id: posted.get(report.id) or for_row(DecideReportForm(formdata=None), report.id)
        for report, *_ in rows
        if report.status == ReportStatus.OPEN
    }
    flash_unshown(posted, forms)
    return render_template(
        "admin/reports.html",
        rows=rows,
        status=status,
        outcomes=moderation.OUTCOMES,
        reasons=safety.REPORT_REASONS,
        forms=forms,
    ), code


@bp.get("/reports")
@staff_required
def reports():
    query = ReportQueueQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    return _reports_page(query.status.data)


def _decided(report) -> str:
    about = admin_users.get_user(report.reported_user_id).display_name
    return f"Report {report.id} about {about}: {moderation.OUTCOMES[report.outcome].lower()}."


@bp.post("/reports/<int:report_id>/decide")
@staff_required
@limiter.limit(ACTION_LIMIT)
def decide_report(report_id: int):
    form = DecideReportForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: moderation.decide(current_user, report_id, form.outcome.data, form.note.data),
        _decided,
    ):
        return redirect_to(url_for("admin.reports"))
    return _reports_page(ReportStatus.OPEN, 422, {report_id: for_row(form, report_id)})


# --- alerts -------------------------------------------------------------------------------------


@bp.get("/alerts")
@staff_required
def alerts_page():
    query = AlertQueueQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    status, kind = query.status.data, query.kind.data or None
    return render_template(
        "admin/alerts.html",
        rows=alerts.listing(None if status == "all" else status, kind),
        status=status,
        kind=kind,
        kinds=alerts.kinds(),
        statuses=alerts.STATUSES,
    )


def _alert_page(alert_id: int, code: int = 200, form: TriageAlertForm | None = None):
    alert = alerts.get(alert_id)
    return render_template(
        "admin/alert.html",
        alert=alert,
        notes=alerts.notes(alert_id),
        statuses=alerts.STATUSES,
        form=form or TriageAlertForm(formdata=None, status=alert.status),
    ), code


@bp.get("/alerts/<int:alert_id>")
@staff_required
def alert_detail(alert_id: int):
    return _alert_page(alert_id)


@bp.post("/alerts/<int:alert_id>")
@staff_required
@limiter.limit(ACTION_LIMIT)
def triage_alert(alert_id: int):
    form = TriageAlertForm()
    if form.validate_on_submit():
        status = AlertStatus(form.status.data) if form.status.data else None
        if settled(
            form,
            lambda: alerts.triage(current_user, alert_id, status, form.body.data),
            "Saved.",
        ):
            return redirect_to(url_for("admin.alert_detail", alert_id=alert_id))
    return _alert_page(alert_id, 422, form)
