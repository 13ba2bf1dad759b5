"""What Amora holds about a member, area by area (docs/security.md#your-data): what "Export my
data" writes about it, and what erasing the account does to it.

`REGISTRY` lists every area. `data_export.export_data` walks it to build the export file (each
area adds its keys, in this order), and `erasure.erase_account` walks it, in the same order, inside
one transaction: first every area's files are deleted from storage, then each area erases or
anonymises its rows. An area whose rows point at another area's rows comes before it (photos,
messages and mass messages lose their media before the media rows go).

Every table belongs to exactly one area (`tests/test_personal_data.py` checks it), and an area
either exports or says why it does not, and either erases or says what it keeps and why. A new
table is therefore added here, or the test fails.
"""

from __future__ import annotations

from models import (
    Alert,
    AlertNote,
    Appeal,
    AuditLog,
    BackgroundJob,
    Block,
    Call,
    Conversation,
    CoPerformer,
    CreatorSettings,
    DataExport,
    Device,
    EmailToken,
    Entry,
    LedgerAccount,
    LedgerCheck,
    Like,
    LoginAttempt,
    MassMessage,
    Match,
    MatchAnswer,
    MediaObject,
    Message,
    Notification,
    Order,
    Outbox,
    PaymentEvent,
    Payout,
    PayoutEvent,
    PayoutMethod,
    Photo,
    Post,
    PostMedia,
    Profile,
    ProfileInterest,
    Promotion,
    RandomMessage,
    RandomSession,
    RecoveryCode,
    Referral,
    Report,
    RiskEvent,
    SealedFile,
    Subscription,
    Takedown,
    Tip,
    Transfer,
    TrialLink,
    TrialUse,
    Unlock,
    User,
    UserDevice,
    UserSession,
    VerificationRequest,
)
from services.personal_data import account, creator, dating, identity
from services.personal_data.base import ERASED_MESSAGE, Area, Erasure, deleting

__all__ = ["ERASED_MESSAGE", "REGISTRY", "Area", "Erasure"]

_BOOKS = "the books: never deleted; they point at the pseudonymous account"

# In the export file's order, which is also the erasure's (see the module's docstring).
REGISTRY: list[Area] = [
    Area(
        "account",
        (User,),
        export=account.export_account,
        erase=account.anonymise_account,
        kept='the row stays as "Deleted member", deleted-<id>@deleted.invalid, with a random '
        "password and no 2FA (it can never log in): the ledger, orders and payouts point at it; "
        "its balances stay where they are (credits and earnings left are forfeited)",
    ),
    Area(
        "profile",
        (Profile, ProfileInterest),
        export=dating.export_profile,
        erase=deleting(ProfileInterest.user_id, Profile.user_id),
    ),
    Area(
        "dating",
        (Photo, MatchAnswer, Like, Match, Block),
        export=dating.export_dating,
        files=dating.photo_files,
        erase=deleting(
            Photo.user_id,
            MatchAnswer.user_id,
            Like.liker_id,
            Like.liked_id,
            Match.user_a_id,
            Match.user_b_id,
            Block.blocker_id,
            Block.blocked_id,
        ),
    ),
    Area(
        "messages",
        (Message, Conversation),
        export=dating.export_messages,
        erase=dating.erase_messages,
        kept="conversations and message rows stay: the other person keeps what they wrote, and "
        "payments point at messages; the member's own messages keep only ERASED_MESSAGE, "
        "without attachment or price",
    ),
    Area(
        "creator",
        (CreatorSettings, Post, PostMedia, MediaObject, MassMessage),
        export=creator.export_creator,
        files=creator.media_files,
        erase=creator.erase_creator,
        kept="posts stay soft-deleted (status 'deleted', text cleared) because unlocks point at "
        "them; mass messages keep only ERASED_MESSAGE; every uploaded file and its row goes",
    ),
    Area(
        "payments",
        (Subscription, Tip, Unlock, Order, PaymentEvent),
        export=creator.export_payments,
        erase=creator.erase_payments,
        kept=f"{_BOOKS}; subscriptions both ways end now; notes on tips the member sent are "
        "cleared",
    ),
    Area(
        "payouts",
        (PayoutMethod, Payout, PayoutEvent),
        export=creator.export_payouts,
        erase=lambda erasure: creator.wipe_payout_methods(erasure.user_id, erasure.now),
        kept=f"payouts and their events are {_BOOKS}; payout methods are removed and their "
        "details wiped, except one an open payout will still be paid to (wiped once it is done)",
    ),
    Area(
        "ledger",
        (LedgerAccount, Transfer, Entry),
        export=creator.export_ledger,
        kept=f"{_BOOKS} (docs/ledger.md)",
    ),
    Area(
        "sessions and devices",
        (UserSession, UserDevice, Device),
        export=account.export_sessions,
        erase=account.erase_sessions,
        kept="sessions stay revoked, without IP address or browser, until housekeeping deletes "
        "them; a device row names no account once its links are gone",
    ),
    Area(
        "notifications",
        (Notification,),
        export=dating.export_notifications,
        erase=deleting(Notification.user_id, Notification.actor_id),
    ),
    Area(
        "reports",
        (Report,),
        export=dating.export_reports,
        kept="reports filed by or about the member stay, for safety investigations",
    ),
    Area(
        "data exports",
        (DataExport,),
        files=account.data_export_files,
        erase=deleting(DataExport.user_id),
        not_exported="the exports themselves",
    ),
    Area(
        "identity checks",
        (VerificationRequest, SealedFile, CoPerformer, Appeal),
        export=identity.export_identity,
        files=identity.sealed_files,
        erase=identity.erase_identity,
        kept="each request's facts (kind, document type, who decided what and when) stay, "
        "without files, as the compliance record of the decision; documents and selfies go; "
        "co-performer records of the member's own items go with their releases; where the "
        "member was tagged, the row stays without them (the other creator's record); appeals "
        "go",
    ),
    Area(
        "sign-in secrets",
        (EmailToken, RecoveryCode),
        erase=deleting(EmailToken.user_id, RecoveryCode.user_id),
        not_exported="one-time secrets, stored only as hashes",
    ),
    Area(
        "login attempts and mail",
        (LoginAttempt, Outbox),
        erase=account.erase_by_address,
        not_exported="security and delivery records: the throttle's login attempts, and the "
        "mail sent to the member, who received it",
    ),
    Area(
        "safety records",
        (RiskEvent, AuditLog, Alert, AlertNote, Takedown),
        not_exported="staff records about accounts, not the member's own data",
        kept="for safety and fraud investigations: risk events, alerts and the audit log "
        "(only ever inserted), and copyright notices as their claimant filed them",
    ),
    Area(
        "random chat",
        (RandomSession, RandomMessage),
        not_exported="not part of the export: transcripts are short-lived",
        kept="transcripts stay so that a report carries them, until housekeeping drops them "
        "after random_chat.TRANSCRIPT_DAYS; the pairings hold no content",
    ),
    Area(
        "paid calls",
        (Call,),
        not_exported="what a call cost is in the ledger history",
        kept="no content; its holds and charges are ledger transfers, kept with the books",
    ),
    Area(
        "growth",
        (TrialLink, TrialUse, Promotion, Referral),
        not_exported="a creator's offers and who used them, no personal content",
        kept="no personal content; a trial is once per fan and creator, and referral earnings "
        "are paid through the ledger",
    ),
    Area(
        "operations",
        (BackgroundJob, LedgerCheck),
        not_exported="plumbing: queued jobs and ledger check runs",
        kept="a queued job's arguments (ids, or the address typed into the reset form) until "
        "the job is done and forgotten (workers.jobs.KEEP_DONE); no personal data otherwise",
    ),
]
