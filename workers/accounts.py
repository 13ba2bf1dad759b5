"""Account lifecycle jobs (docs/security.md#your-data): building data exports, expiring them,
erasing accounts."""

from __future__ import annotations

from services import accounts, data_export, erasure


def send_password_reset(email: str) -> None:
    """Mail a reset link when the address has an account (looked up here, off the request)."""
    accounts.send_password_reset(email)


def build_export(export_id: int) -> str:
    """Build one "export my data" file, with progress the settings page shows."""
    return data_export.build_export(export_id)


def expire_exports() -> int:
    """Delete export files past their 7 days."""
    return data_export.expire_exports()


def erase_due_accounts() -> int:
    """Erase the accounts whose 7-day undo window has passed."""
    return erasure.erase_due_accounts()
