"""Domain errors. Services raise them; blueprints turn them into messages and 4xx responses."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `message` is safe to show to the user; `status` is the HTTP status."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Input broke a rule; `errors` maps field names to messages."""

    status = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
