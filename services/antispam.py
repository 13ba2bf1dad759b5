"""Anti-spam for messages (docs/security.md#anti-spam): new accounts that send the same or near-same
text to many people, or push contact details and off-platform links early, are scored, slowed and
queued for review. A message that scores "block" is refused before it is stored."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from core import clock
from core.errors import DomainError
from extensions import db
from models import User
from services import messaging_sql, risk

NEW_ACCOUNT = dt.timedelta(days=7)
DUPLICATE_WINDOW = dt.timedelta(hours=1)
BURST_WINDOW = dt.timedelta(minutes=10)

LINK = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(com|net|org|io|me|ly|link|app)\b)", re.I)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
PHONE = re.compile(r"(\+?\d[\d\s().-]{7,}\d)")
OFF_PLATFORM = re.compile(
    r"\b(whats\s?app|telegram|snap(chat)?|kik|signal|cash\s?app|venmo|"
    r"onlyfans|paypal)\b",
    re.I,
)


class SpamRefused(DomainError):
    status = 429


def normalize(text: str) -> str:
    """Lower-case letters only, accents folded: "Hi!! Check THIS" ≈ "hi check this"."""
    folded = unicodedata.normalize("NFKD", text).casefold()
    return " ".join(re.sub(r"[^a-z ]+", " ", folded).split())


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    words_a, words_b = set(a.split()), set(b.split())
    if not words_a or not words_b:
        return False
    return len(words_a & words_b) / len(words_a | words_b) >= 0.8


def check(sender: User, recipient_id: int, body: str) -> None:
    """Score this message before it is stored; raise SpamRefused when it must not go out.
    Caller commits (the RiskEvent and alert are part of its transaction, or of the refusal)."""
    now = clock.now()
    new_account = now - sender.created_at < NEW_ACCOUNT
    reasons = []
    if new_account and (LINK.search(body) or EMAIL.search(body) or PHONE.search(body)):
        reasons.append((25, "New account sharing contact details or a link"))
    if new_account and OFF_PLATFORM.search(body):
        reasons.append((20, "New account pushing an off-platform service"))
    recent = messaging_sql.recent_messages(
        db.session.connection(), sender.id, now - DUPLICATE_WINDOW, now - BURST_WINDOW
    )
    mine = normalize(body)
    if mine and len(mine) >= 12:
        copies = {
            r for r, text, _ in recent if r != recipient_id and _similar(normalize(text), mine)
        }
        if len(copies) >= 4:
            reasons.append(
                (
                    40 if new_account else 20,
                    f"Same text sent to {len(copies)} other people within an hour",
                )
            )
    burst = recent[0][2] if recent else 0
    if burst >= 15:
        reasons.append((30, f"Messages to {burst} people in 10 minutes"))
    if not reasons:
        return
    assessment = risk.record(
        risk.Signals("message_burst", sender, now=now),
        [{"rule": "antispam", "points": p, "reason": r} for p, r in reasons],
    )
    if assessment.decision == "block":
        db.session.commit()  # keep the evidence; the message itself is not stored
        raise SpamRefused(
            "This message looks like spam, so it was not sent. Our team will review it; "
            "write something personal, without links or contact details."
        )
