"""SQLAlchemy tables. Importing this package registers every model with the metadata."""

from models.outbox import Outbox
from models.user import EmailToken, User, UserSession

__all__ = ["EmailToken", "Outbox", "User", "UserSession"]
