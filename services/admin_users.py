"""Admin → Users: find anyone, see everything about them in one place, act on them.

Each action is one transaction with an audit row naming the admin; the user is told what
happened where it concerns them (a status reason, a notification).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select

from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    Alert,
    Device,
    LoginAttempt,
    Order,
    Payout,
    Profile,
    RecoveryCode,
    Report,
    RiskEvent,
    Role,
    Transfer,
    User,
    UserDevice,
    UserSession,
    UserStatus,
    VerificationRequest,
)
from services import accounts, audit, ledger, sessions
from services.input import parse_id

MAX_ADJUSTMENT = 1_000_000
REASON_MAX = 300  # a status or adjustment reason an admin types (the forms' maximum length)
WHOLE_CREDITS = "A whole number of credits, + or −."
ADJUSTMENT_REASON = "Say why (it is kept with the transfer)."


def search(query: str, limit: int = 50) -> list[User]:
    """By id, email, name, an IP seen at login, or a device hash (a prefix of 8+ characters)."""
    text = (query or "").strip()
    if not text:
        return list(db.session.scalars(select(User).order_by(User.id.desc()).limit(limit)))
    conditions = [
        func.lower(User.email).contains(text.lower()),
        func.lower(User.display_name).contains(text.lower()),
    ]
    if (user_id := parse_id(text)) is not None:
        conditions.append(User.id == user_id)
    ip_users = (
        select(UserSession.user_id)
        .where(UserSession.ip == text)
        .union(
            select(LoginAttempt.user_id).where(
                LoginAttempt.ip == text, LoginAttempt.user_id.is_not(None)
            ),
            select(UserDevice.user_id).where(UserDevice.last_ip == text),
        )
    )
    conditions.append(User.id.in_(ip_users))
    if len(text) >= 8 and all(c in "0123456789abcdef" for c in text.lower()):
        device_users = (
            select(UserDevice.user_id)
            .join(Device, Device.id == UserDevice.device_id)
            .where(Device.fingerprint.startswith(text.lower()))
        )
        conditions.append(User.id.in_(device_users))
    return list(
        db.session.scalars(select(User).where(or_(*conditions)).order_by(User.id).limit(limit))
    )


@dataclass
class Dossier:
    user: User
    profile: Profile | None
    balances: dict[str, int]
    frozen: bool
    history: list
    orders: list[Order]
    payouts: list[Payout]
    devices: list[tuple[Device, UserDevice]]
    sessions: list[UserSession]
    risk: list[RiskEvent]
    linked: list[tuple[User, str]] = field(default_factory=list)
    reports_against: list[Report] = field(default_factory=list)
    reports_by: list[Report] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    verifications: list[VerificationRequest] = field(default_factory=list)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such user.")
    return user


def linked_accounts(user_id: int, limit: int = 30) -> list[tuple[User, str]]:
    """Other accounts that used one of this user's devices or IP addresses."""
    devices = select(UserDevice.device_id).where(UserDevice.user_id == user_id)
    ips = (
        select(UserSession.ip)
        .where(UserSession.user_id == user_id, UserSession.ip.is_not(None))
        .union(select(UserDevice.last_ip).where(UserDevice.user_id == user_id))
    )
    by_device = set(
        db.session.scalars(
            select(UserDevice.user_id).where(
                UserDevice.device_id.in_(devices), UserDevice.user_id != user_id
            )
        )
    )
    by_ip = set(
        db.session.scalars(
            select(UserSession.user_id).where(
                UserSession.ip.in_(ips), UserSession.user_id != user_id
            )
        )
    )
    ids = list(by_device | by_ip)[:limit]
    users = db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id))
    return [
        (u, " and ".join(w for w, s in (("device", by_device), ("IP", by_ip)) if u.id in s))
        for u in users
    ]


def _latest(column, user_id: int, limit: int = 20) -> list:
    """The newest `limit` rows of column's table whose `column` is user_id."""
    model = column.class_
    return list(
        db.session.scalars(
            select(model).where(column == user_id).order_by(model.id.desc()).limit(limit)
        )
    )


def dossier(user_id: int) -> Dossier:
    user = get_user(user_id)
    devices = db.session.execute(
        select(Device, UserDevice)
        .join(UserDevice, UserDevice.device_id == Device.id)
        .where(UserDevice.user_id == user_id)
        .order_by(UserDevice.last_seen_at.desc())
    ).all()
    return Dossier(
        user=user,
        profile=db.session.get(Profile, user_id),
        balances=ledger.balances(user_id),
        frozen=ledger.is_frozen(user_id),
        history=ledger.history(user_id, "wallet", limit=15),
        orders=_latest(Order.user_id, user_id),
        payouts=_latest(Payout.creator_id, user_id),
        devices=[(device, link) for device, link in devices],
        sessions=_latest(UserSession.user_id, user_id),
        risk=_latest(RiskEvent.user_id, user_id),
        linked=linked_accounts(user_id),
        reports_against=_latest(Report.reported_user_id, user_id),
        reports_by=_latest(Report.reporter_id, user_id),
        alerts=_latest(Alert.user_id, user_id),
        verifications=_latest(VerificationRequest.user_id, user_id),
    )


# --- actions ------------------------------------------------------------------------------------


def _not_self(admin: User, user: User) -> None:
    if admin.id == user.id:
        raise DomainError("Use another admin account to act on your own.")
    if not admin.outranks(user):
        raise NotAllowed("Only an admin acts on a moderator's or an admin's account.")


def set_status(admin: User, user_id: int, status: UserStatus, reason: str) -> User:
    """Suspend, ban or reactivate, with a reason the user sees."""
    user = get_user(user_id)
    _not_self(admin, user)
    accounts.set_status(user, status, reason, actor_id=admin.id)
    return user


def force_logout(admin: User, user_id: int) -> int:
    """End every session of the user (their sockets close within a second)."""
    user = get_user(user_id)
    if not admin.outranks(user) and admin.id != user.id:
        raise NotAllowed("Only an admin acts on a moderator's or an admin's account.")
    count = sessions.revoke_all_sessions(user, "logged out by an admin")
    audit.record(
        "account.force_logout", actor_id=admin.id, target=("user", user.id), sessions=count
    )
    db.session.commit()
    return count


def reset_two_factor(admin: User, user_id: int) -> None:
    """The user lost their authenticator and recovery codes: 2FA off, they enrol again."""
    user = get_user(user_id)
    _not_self(admin, user)
    if not user.has_2fa:
        raise DomainError("This account has no two-factor authentication to reset.")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    sessions.revoke_all_sessions(user, "2FA reset by an admin")
    audit.record("2fa.reset", actor_id=admin.id, target=("user", user.id))
    db.session.commit()


def adjust_credits(admin: User, user_id: int, credits: int, reason: str) -> None:
    """A support adjustment of the user's wallet by `credits` (+ or −), through the ledger
    (audited)."""
    user = get_user(user_id)
    if credits == 0 or abs(credits) > MAX_ADJUSTMENT:
        raise ValidationFailed({"amount": f"Between 1 and {MAX_ADJUSTMENT:,} credits, + or −."})
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise ValidationFailed({"reason": ADJUSTMENT_REASON})
    transfer = ledger.adjust(
        user.id, credits, reason, admin.id, f"adjustment:{secrets.token_hex(12)}"
    )
    audit.record(
        "ledger.adjust",
        actor_id=admin.id,
        target=("user", user.id),
        note=reason,
        amount=credits,
        transfer_id=transfer.id,
    )
    db.session.commit()


def unfreeze_wallet(admin: User, user_id: int, reason: str) -> None:
    user = get_user(user_id)
    support_unfreeze(user.email, reason, actor_id=admin.id)


def set_adult_content(staff: User, user_id: int, adult: bool) -> User:
    """Mark a creator's content adult (or not): where an age check is required, only viewers who
    passed one see it (docs/identity.md#age-assurance). Staff's mark is theirs to lift: the
    creator's own switch cannot."""
    user = get_user(user_id)
    if not user.is_creator:
        raise DomainError("Only a creator's content is marked adult.")
    if user.adult_content == adult and user.adult_by_staff == adult:
        raise DomainError("It is marked so already.")
    user.adult_content = user.adult_by_staff = adult
    audit.record("creator.adult_content", actor_id=staff.id, target=("user", user.id), adult=adult)
    db.session.commit()
    return user


ASSIGNABLE_ROLES = {Role.FAN: "Member", Role.MODERATOR: "Moderator"}


def set_role(admin: User, user_id: int, role: str) -> User:
    """Make a member a moderator, or a moderator a member again (admins are made with
    `flask users create-admin`). A role is read with the member on every request: it holds
    at once."""
    user = get_user(user_id)
    _not_self(admin, user)
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": "Choose Member or Moderator."})
    if user.role == Role.ADMIN:
        raise DomainError("An admin stays an admin here: use the command line.")
    if user.is_gone:
        raise DomainError(f"This account is {user.status}.")
    if user.role == role:
        raise DomainError(f"This account is a {ASSIGNABLE_ROLES[Role(role)].lower()} already.")
    before, user.role = user.role, role
    audit.record(
        "user.role", actor_id=admin.id, target=("user", user.id), before=before, after=role
    )
    db.session.commit()
    return user


def support_adjust(email: str, amount: int, reason: str, actor_id: int | None = None) -> Transfer:
    """`flask ledger adjust` and the admin console: an audited adjustment, one transaction."""
    user = accounts.find_by_email(email)
    if user is None:
        raise NotFound(f"No account for {email}.")
    transfer = ledger.adjust(
        user.id, amount, reason, actor_id, f"adjustment:{secrets.token_hex(12)}"
    )
    audit.record(
        "ledger.adjust",
        actor_id=actor_id,
        target=("user", user.id),
        note=reason.strip(),
        amount=amount,
        transfer_id=transfer.id,
    )
    db.session.commit()
    return transfer


def support_unfreeze(email: str, reason: str, actor_id: int | None = None) -> None:
    """Clear a chargeback freeze (audited), one transaction."""
    user = accounts.find_by_email(email)
    if user is None:
        raise NotFound(f"No account for {email}.")
    if not (reason or "").strip():
        raise DomainError("Give a reason.")
    if not ledger.is_frozen(user.id):
        raise DomainError(f"The wallet of {email} is not frozen.")
    balance = ledger.wallet_balance(user.id)
    if balance < 0:
        # Invariant 3 (docs/ledger.md#invariants): a wallet is below zero only while frozen.
        raise DomainError(
            f"The wallet of {email} is at {balance} credits. It stays frozen until it is back "
            f"to zero: adjust it by +{-balance} first (with the reason)."
        )
    ledger.unfreeze(user.id)
    audit.record(
        "ledger.unfreeze", actor_id=actor_id, target=("user", user.id), note=reason.strip()
    )
    db.session.commit()
