"""SQLAlchemy tables. Importing this package registers every model with the metadata."""

from models.alerts import Alert, AlertNote, AuditLog, LedgerCheck
from models.creator import MassMessage, Post, PostMedia, Subscription, Tip, Unlock
from models.dating import (
    Block,
    Like,
    Match,
    MatchAnswer,
    Notification,
    Photo,
    Profile,
    ProfileInterest,
    Report,
    Takedown,
)
from models.growth import Promotion, Referral, TrialLink, TrialUse
from models.jobs import BackgroundJob
from models.ledger import Entry, LedgerAccount, Transfer
from models.media import MediaObject
from models.messaging import Conversation, CreatorSettings, Message
from models.outbox import Outbox
from models.payments import Order, PaymentEvent
from models.payouts import Payout, PayoutEvent, PayoutMethod
from models.random_chat import Call, RandomMessage, RandomSession
from models.security import Device, LoginAttempt, RecoveryCode, RiskEvent, UserDevice
from models.user import DataExport, EmailToken, User, UserSession

__all__ = [
    "Alert",
    "BackgroundJob",
    "AlertNote",
    "AuditLog",
    "Block",
    "Call",
    "Conversation",
    "DataExport",
    "CreatorSettings",
    "Like",
    "Match",
    "MatchAnswer",
    "MassMessage",
    "MediaObject",
    "Message",
    "Notification",
    "Photo",
    "Post",
    "Promotion",
    "RandomMessage",
    "RandomSession",
    "PostMedia",
    "Profile",
    "ProfileInterest",
    "Referral",
    "Report",
    "Subscription",
    "Takedown",
    "Tip",
    "Unlock",
    "Device",
    "EmailToken",
    "Entry",
    "LedgerAccount",
    "LedgerCheck",
    "LoginAttempt",
    "Order",
    "Outbox",
    "PaymentEvent",
    "Payout",
    "PayoutEvent",
    "PayoutMethod",
    "RecoveryCode",
    "RiskEvent",
    "Transfer",
    "TrialLink",
    "TrialUse",
    "User",
    "UserDevice",
    "UserSession",
]
