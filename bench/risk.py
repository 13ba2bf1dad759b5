"""Latency of inline login risk scoring (target: p95 < 5 ms).

Builds a populated database (users, devices shared by some accounts, sessions from shared IPs,
failed logins), then scores logins the way `accounts.log_in` does and times three steps:

* rules only: `risk.evaluate` (one statement reads every fact the login rules need);
* inline: the rules plus adding the RiskEvent to the login's transaction and flushing it (the
  login flushes it with its next statement). This is what scoring adds to a login, and what the
  target is about: the login's single commit stores the event with the session;
* inline + a commit of its own: for comparison with the earlier design, where scoring committed
  separately (a flush to disk per login; the login pays one commit either way).

Usage: .venv/bin/python bench/risk.py [--logins N] [--users N] [--database-url URL]
(on PostgreSQL, point it at a throwaway database: it creates the schema and fills it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="amora-bench-"))
os.environ.setdefault("APP_ENV", "test")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from core import clock
    from extensions import db
    from models import Device, LoginAttempt, User, UserDevice, UserSession
    from services import risk

    url = args.database_url or f"sqlite:///{os.environ['INSTANCE_DIR']}/risk.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EMBEDDED_SCHEDULER": False})
    rng = random.Random(7)
    with app.app_context():
        upgrade()
        now = clock.now()
        users = [
            User(
                email=f"u{i}@bench.example.com",
                password_hash="x",  # noqa: S106 (never used to log in)
                display_name=f"U{i}",
                date_of_birth=dt.date(1990, 1, 1),
                email_verified_at=now,
            )
            for i in range(args.users)
        ]
        db.session.add_all(users)
        db.session.flush()
        fingerprints = [hashlib.sha256(f"d{i}".encode()).hexdigest() for i in range(args.users)]
        device_rows = [Device(fingerprint=f) for f in fingerprints]
        db.session.add_all(device_rows)
        db.session.flush()
        for i, user in enumerate(users):
            # Most users have their own device; every tenth shares one with a few others.
            device = device_rows[i if i % 10 else (i // 50) * 50]
            db.session.add(UserDevice(user_id=user.id, device_id=device.id))
            ip = f"10.{i % 200}.{(i // 200) % 200}.1" if i % 7 else "203.0.113.50"
            db.session.add(
                UserSession(
                    user_id=user.id, token_hash=f"{i:064d}", ip=ip, created_at=now, last_seen_at=now
                )
            )
            for _ in range(rng.randrange(0, 3)):
                db.session.add(
                    LoginAttempt(email=user.email, ip=ip, succeeded=False, created_at=now)
                )
        db.session.commit()

        user_ids = [user.id for user in users]
        rules, inline, committed = [], [], []
        for _ in range(args.logins):
            i = rng.randrange(args.users)
            user = db.session.get(User, user_ids[i])  # loaded, as after the password check
            fingerprint = fingerprints[rng.randrange(args.users)]
            ip = "203.0.113.50" if i % 5 == 0 else f"10.{i % 200}.0.9"
            start = time.perf_counter()
            risk.evaluate(risk.Signals("login", user, ip=ip, fingerprint=fingerprint))
            rules.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            risk.assess_login(user, ip, fingerprint)  # rules + RiskEvent, no commit
            db.session.flush()
            stored = time.perf_counter()
            db.session.commit()
            inline.append((stored - start) * 1000)
            committed.append((time.perf_counter() - start) * 1000)
        dialect = db.engine.dialect.name
    print(f"login risk scoring on {dialect}, {args.users} users, {args.logins} logins")
    print(f"{'':<40} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, samples in (
        ("rules only", rules),
        ("inline: rules + RiskEvent (flushed)", inline),
        ("inline + a commit of its own (old design)", committed),
    ):
        print(
            f"{name:<40} {statistics.median(samples):8.2f} {percentile(samples, 0.95):8.2f} "
            f"{percentile(samples, 0.99):8.2f}"
        )
    worst = percentile(inline, 0.95)
    print(f"target p95 < 5 ms inline: {'met' if worst < 5 else 'NOT met'} ({worst:.2f} ms)")


if __name__ == "__main__":
    main()
