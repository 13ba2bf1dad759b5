"""Mail delivery job."""

from __future__ import annotations

from services import mail


def deliver(outbox_id: int) -> None:
    mail.deliver(outbox_id)
