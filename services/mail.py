"""Mail: every message is recorded in the Outbox first, then delivered by a job.

Delivery goes through SMTP when `SMTP_URL` is set (smtp://user:pass@host:port, or smtps:// for
implicit TLS; smtp:// upgrades with STARTTLS when the server offers it). Without it, the
message is printed to the log so a local user can click the link, and marked `logged`.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template

from core import clock
from extensions import db
from models import Outbox, OutboxStatus, User
from workers.queue import enqueue

log = logging.getLogger("amora.mail")


def send(user: User | None, to_email: str, kind: str, subject: str, template: str, **ctx) -> Outbox:
    """Record a message (rendered from `templates/mail/<template>.txt`) and queue its delivery.

    Call inside the service's transaction: delivery starts only once it commits.
    """

    body = render_template(f"mail/{template}.txt", user=user, **ctx)
    message = Outbox(
        user_id=user.id if user else None,
        to_email=to_email,
        kind=kind,
        subject=subject,
        body=body,
    )
    db.session.add(message)
    db.session.flush()
    enqueue(deliver, message.id)
    return message


def deliver(outbox_id: int) -> None:
    """Deliver one queued message; safe to run twice (a sent message is not sent again)."""
    message = db.session.get(Outbox, outbox_id)
    if message is None or message.status in (OutboxStatus.SENT, OutboxStatus.LOGGED):
        return
    message.attempts += 1
    smtp_url = current_app.config.get("SMTP_URL")
    try:
        if smtp_url:
            _send_smtp(smtp_url, message)
            message.status = OutboxStatus.SENT
        else:
            log.info(
                "mail to %s: %s\n%s\n%s", message.to_email, message.subject, message.body, "-" * 60
            )
            message.status = OutboxStatus.LOGGED
        message.sent_at = clock.now()
        message.error = None
    except (OSError, smtplib.SMTPException) as exc:
        message.error = f"{type(exc).__name__}: {exc}"
        db.session.commit()
        raise  # let RQ retry with backoff
    db.session.commit()


def _send_smtp(smtp_url: str, message: Outbox) -> None:
    parts = urlsplit(smtp_url)
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email.set_content(message.body)
    implicit_tls = parts.scheme == "smtps"
    port = parts.port or (465 if implicit_tls else 587)
    smtp_class = smtplib.SMTP_SSL if implicit_tls else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", port, timeout=20) as smtp:
        if not implicit_tls:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(email)
