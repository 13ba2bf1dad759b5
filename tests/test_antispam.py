"""Anti-spam (docs/security.md#anti-spam): near-duplicate texts to many people, contact details and
off-platform links from new accounts — scored, queued for review, and refused when they score
"block"."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core import clock
from extensions import db
from models import Alert, Message, RiskEvent
from services import antispam, messaging
from tests.dating_helpers import dater
from tests.test_messaging import creator


def test_normalizing_and_near_duplicates():
    assert antispam.normalize("Hi!! Check THIS out, Zoé") == "hi check this out zoe"
    assert antispam._similar(
        "hey you look amazing want to chat", "hey you look amazing want to chat today"
    )
    assert not antispam._similar("hello there", "what a lovely photo of your dog")


def test_a_personal_message_is_untouched(ctx):
    fan = dater("Fan")
    luna = creator(price=0)
    messaging.send(fan, luna.id, "Loved your hiking post, where was it?")
    assert (
        db.session.scalar(
            select(func.count()).select_from(RiskEvent).where(RiskEvent.kind == "message_burst")
        )
        == 0
    )


def test_new_accounts_sharing_links_are_queued_for_review(ctx):
    fan = dater("Fan")
    luna = creator(price=0)
    messaging.send(fan, luna.id, "hey add me on whatsapp +33 6 12 34 56 78")
    event = db.session.scalars(select(RiskEvent)).one()
    assert event.score == 45 and {r["reason"] for r in event.reasons} == {
        "New account sharing contact details or a link",
        "New account pushing an off-platform service",
    }
    assert db.session.scalars(select(Alert.kind)).all() == ["risk_message_burst"]


def test_the_same_text_to_many_people_is_refused_once_it_scores_block(ctx):
    spammer = dater("Spammer")
    targets = [creator(f"C{i}", price=0) for i in range(7)]
    text = "Hot pics at www.example-spam.com telegram me"
    sent = 0
    with pytest.raises(antispam.SpamRefused):
        for target in targets:
            messaging.send(spammer, target.id, text)
            sent += 1
    # 4 copies are tolerated (scored), the fifth adds "same text to 4 others" (40) to the
    # link (25) and off-platform (20) points: 85 → block, and it is not stored.
    assert sent == 4
    assert db.session.scalar(select(func.count()).select_from(Message)) == 4
    assert (
        db.session.scalars(select(RiskEvent.decision).order_by(RiskEvent.id.desc())).first()
        == "block"
    )


def test_older_accounts_get_fewer_points(ctx):
    with clock.frozen(clock.now() - dt.timedelta(days=30)):
        veteran = dater("Veteran")
    luna = creator(price=0)
    messaging.send(veteran, luna.id, "my site is www.example.com")
    assert db.session.scalar(select(func.count()).select_from(RiskEvent)) == 0


def test_a_burst_sender_fills_one_alert_not_the_queue(ctx):
    """Every scored message keeps its RiskEvent, but the admin queue gets one open alert per
    sender, brought up to date; once it is resolved, the next scored message opens a new one."""
    fan = dater("Fan")
    targets = [creator(f"C{i}", price=0) for i in range(3)]
    for target in targets:
        messaging.send(fan, target.id, f"add me on whatsapp +33 6 12 34 56 7{target.id % 10}")
    events = db.session.scalar(select(func.count()).select_from(RiskEvent))
    alerts = db.session.scalars(select(Alert)).all()
    assert events == 3 and len(alerts) == 1
    assert alerts[0].detail["later messages scored"] == 2 and alerts[0].score == 45
    alerts[0].status = "resolved"
    db.session.commit()
    messaging.send(fan, targets[0].id, "my whatsapp is +33 6 12 34 56 99")
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 2
