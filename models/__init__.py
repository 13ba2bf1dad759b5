"""SQLAlchemy tables. Importing this package registers every model with the metadata."""

from models.alerts import Alert, AlertNote, AlertStatus, AuditLog, LedgerCheck, LedgerCheckStatus
from models.creator import (
    MassMessage,
    MassMessageStatus,
    Post,
    PostMedia,
    PostStatus,
    Subscription,
    SubscriptionStatus,
    Tip,
    Unlock,
)
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
    ReportStatus,
    Takedown,
    TakedownStatus,
)
from models.growth import Promotion, Referral, TrialLink, TrialUse
from models.jobs import BackgroundJob, BackgroundJobStatus
from models.ledger import Entry, LedgerAccount, Transfer
from models.media import MediaKind, MediaObject, MediaStatus
from models.messaging import Conversation, CreatorSettings, Message
from models.outbox import Outbox, OutboxStatus
from models.payments import Order, OrderStatus, PaymentEvent
from models.payouts import Payout, PayoutEvent, PayoutMethod, PayoutStatus
from models.random_chat import Call, CallStatus, RandomMessage, RandomSession
from models.security import Device, LoginAttempt, RecoveryCode, RiskEvent, UserDevice
from models.user import DataExport, DataExportStatus, EmailToken, User, UserSession, UserStatus

__all__ = [
    "AlertStatus",
    "LedgerCheckStatus",
    "MassMessageStatus",
    "PostStatus",
    "SubscriptionStatus",
    "ReportStatus",
    "TakedownStatus",
    "BackgroundJobStatus",
    "MediaKind",
    "MediaStatus",
    "OutboxStatus",
    "OrderStatus",
    "PayoutStatus",
    "CallStatus",
    "DataExportStatus",
    "UserStatus",
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
