"""Command-line tools: `flask seed-demo`, `flask create-admin`, `flask worker`; `flask backup`
and `flask restore` live in cli_backup.py."""

from __future__ import annotations

import datetime as dt
import logging
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from extensions import db
from models import User
from services import accounts, clock, passwords
from services.errors import DomainError, ValidationFailed

WORKER_RESTART_SECONDS = 5
DEMO_PASSWORD = "amora-demo-2026"  # noqa: S105 (the published demo login)
DEMO_DOMAIN = "demo.example.com"  # example.com: reserved for examples, yet valid email

CREATOR_NAMES = [
    "Luna Rivers",
    "Kai Morgan",
    "Sofia Marquez",
    "Jasper Lane",
    "Mira Chen",
    "Theo Blackwood",
    "Aria Patel",
    "Noah Sinclair",
    "Zara Okafor",
    "Elio Romano",
]
FAN_FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jay",
    "Kira",
    "Leo",
    "Maya",
    "Nico",
    "Olivia",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
FAN_LAST = ["Adams", "Brooks", "Carter", "Diaz", "Evans", "Fischer", "Garcia", "Hughes"]


def _demo_people() -> list[dict]:
    """The demo world, deterministic so that seeding twice changes nothing."""
    people = [
        {
            "email": f"admin@{DEMO_DOMAIN}",
            "name": "Ada Admin",
            "dob": dt.date(1985, 4, 12),
            "role": "admin",
            "creator": False,
        }
    ]
    for i, name in enumerate(CREATOR_NAMES, start=1):
        people.append(
            {
                "email": f"creator{i}@{DEMO_DOMAIN}",
                "name": name,
                "dob": dt.date(1988 + i % 10, 1 + i % 12, 1 + (i * 3) % 28),
                "role": "fan",
                "creator": True,
            }
        )
    for i in range(1, 41):
        first = FAN_FIRST[(i - 1) % len(FAN_FIRST)]
        last = FAN_LAST[(i * 7) % len(FAN_LAST)]
        people.append(
            {
                "email": f"fan{i}@{DEMO_DOMAIN}",
                "name": f"{first} {last[0]}.",
                "dob": dt.date(1975 + (i * 5) % 30, 1 + (i * 5) % 12, 1 + (i * 11) % 28),
                "role": "fan",
                "creator": False,
            }
        )
    return people


def seed_demo() -> int:
    """Create the demo accounts that do not exist yet; returns how many were created."""
    password_hash = passwords.hash_password(DEMO_PASSWORD)  # one hash: seeding stays fast
    existing = set(
        db.session.scalars(select(User.email).where(User.email.like(f"%@{DEMO_DOMAIN}")))
    )
    now = clock.now()
    created = 0
    for person in _demo_people():
        if person["email"] in existing:
            continue
        db.session.add(
            User(
                email=person["email"],
                password_hash=password_hash,
                display_name=person["name"],
                date_of_birth=person["dob"],
                role=person["role"],
                is_creator=person["creator"],
                creator_verified_at=now if person["creator"] else None,
                email_verified_at=now,
                created_at=now,
            )
        )
        created += 1
    db.session.commit()
    _seed_wallets()
    _seed_profiles()
    _seed_creators()
    return created


def _seed_wallets() -> None:
    """Demo fans who have never bought credits get a paid order (through the ledger, as the
    payment pipeline does) and tip a creator, so wallets, earnings and histories are alive."""
    from models import Order
    from services import ledger

    packs = current_app.config["CREDIT_PACKS"]
    creators = db.session.scalars(
        select(User)
        .where(User.email.like(f"creator%@{DEMO_DOMAIN}"), User.is_creator.is_(True))
        .order_by(User.id)
    ).all()
    fans = db.session.scalars(
        select(User)
        .where(
            User.email.like(f"fan%@{DEMO_DOMAIN}"),
            ~select(Order.id).where(Order.user_id == User.id).exists(),
        )
        .order_by(User.id)
    ).all()
    now = clock.now()
    for index, fan in enumerate(fans):
        pack = packs[index % min(2, len(packs))]
        order = Order(
            user_id=fan.id,
            provider="dev",
            pack_id=pack["id"],
            credits=pack["credits"],
            amount_minor=pack["prices"]["USD"],
            currency="USD",
            status="paid",
            paid_at=now,
        )
        db.session.add(order)
        db.session.flush()
        order.provider_order_id = f"devorder_{order.id}"
        order.provider_payment_id = f"devpay_{order.id}"
        ledger.grant_purchase(fan.id, order.credits, f"dev:devpay_{order.id}", order.id)
        if creators:
            creator = creators[index % len(creators)]
            ledger.spend(
                fan.id,
                creator.id,
                5 + index % 20,
                "tip",
                f"seed:tip:{fan.id}",
                reference=("user", creator.id),
            )
    db.session.commit()


DEMO_PLACES = [  # (latitude, longitude, label): most demo people near Paris and London
    (48.8566, 2.3522, "Paris, France"),
    (48.8566, 2.3522, "Paris, France"),
    (51.5074, -0.1278, "London, United Kingdom"),
    (52.5200, 13.4050, "Berlin, Germany"),
    (40.7128, -74.0060, "New York City, United States"),
]
DEMO_INTERESTS = [
    "hiking",
    "jazz",
    "cooking",
    "board games",
    "travel",
    "photography",
    "yoga",
    "cinema",
    "running",
    "books",
    "techno",
    "museums",
]
DEMO_BIOS = [
    "Weekend hiker, weekday coffee snob. Looking for someone to get lost with.",
    "I cook too much pasta and I am always looking for people to share it with.",
    "Museums in the morning, jazz at night. Tell me your favourite record.",
    "New in town, curious about everything. Let's find the best bakery together.",
]


def _seed_profiles() -> None:
    """Dating profiles, places and a few answers for demo people who have none yet."""
    import random

    from models import Profile
    from services import matching, profiles

    people = db.session.scalars(
        select(User)
        .where(
            User.email.like(f"%@{DEMO_DOMAIN}"),
            User.role == "fan",
            ~select(Profile.user_id).where(Profile.user_id == User.id).exists(),
        )
        .order_by(User.id)
    ).all()
    questions = list(matching.bank().values())[:15]
    for index, user in enumerate(people):
        rng = random.Random(user.email)  # the same world every time
        gender = ("woman", "man", "nonbinary")[index % 3 if index % 7 else 2]
        lat, lon, _ = DEMO_PLACES[index % len(DEMO_PLACES)]
        profile = profiles.ensure(user)
        profile.gender = gender
        profile.seeking = "woman,man,nonbinary"
        profile.bio = DEMO_BIOS[index % len(DEMO_BIOS)]
        db.session.commit()
        profiles.set_location_coordinates(
            user, lat + rng.uniform(-0.15, 0.15), lon + rng.uniform(-0.2, 0.2)
        )
        profiles.set_interests(user, ", ".join(rng.sample(DEMO_INTERESTS, 3)))
        for question in questions[: 8 + index % 8]:
            choices = len(question.choices)
            mine = rng.randrange(choices)
            accepted = sorted({mine, rng.randrange(choices)})
            matching.answer(user, question.id, mine, accepted, rng.choice([1, 10, 10, 50, 250]))
        user.last_active_at = clock.now() if index % 4 == 0 else None
    db.session.commit()


DEMO_HEADLINES = [
    "Film photography from the road",
    "Plant-based recipes, weekly",
    "Yoga flows and behind the scenes",
    "Street portraits, Paris and beyond",
    "Synths, sketches and studio days",
]


def _demo_image(seed: str) -> bytes:
    """A colourful abstract picture, the same for the same seed."""
    import io
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    base = tuple(rng.randrange(40, 200) for _ in range(3))
    image = Image.new("RGB", (960, 720), base)
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y, r = rng.randrange(960), rng.randrange(720), rng.randrange(40, 260)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _seed_creators() -> None:
    """Demo creators without settings get prices, a vault, posts of each kind, subscribers and
    an unlock, all through the services."""
    import secrets

    from models import CreatorSettings, MediaObject
    from services import media, posts, subscriptions
    from services.errors import DomainError

    creators = db.session.scalars(
        select(User)
        .where(
            User.email.like(f"creator%@{DEMO_DOMAIN}"),
            User.is_creator.is_(True),
            ~select(CreatorSettings.user_id).where(CreatorSettings.user_id == User.id).exists(),
        )
        .order_by(User.id)
    ).all()
    fans = db.session.scalars(
        select(User).where(User.email.like(f"fan%@{DEMO_DOMAIN}")).order_by(User.id)
    ).all()
    for index, creator in enumerate(creators):
        db.session.add(
            CreatorSettings(
                user_id=creator.id,
                headline=DEMO_HEADLINES[index % len(DEMO_HEADLINES)],
                subscription_price=(30, 50, 0, 90)[index % 4],
                message_price=(5, 0, 10)[index % 3],
                call_price=(20, 40)[index % 2],
                bundle_3_bps=(1000, 0)[index % 2],
                bundle_12_bps=(2500, 0)[index % 2],
            )
        )
        db.session.commit()
        photos = []
        for n in range(3):
            data = _demo_image(f"{creator.email}:{n}")
            key = f"u/{creator.id}/vault/{secrets.token_hex(12)}.jpg"
            media.storage().write(key, data, "image/jpeg")
            obj = MediaObject(
                user_id=creator.id,
                purpose="vault",
                key=key,
                content_type="image/jpeg",
                max_bytes=media.MAX_VAULT_BYTES,
                size=len(data),
                status="uploaded",
            )
            db.session.add(obj)
            db.session.commit()
            media.process(obj.id)
            photos.append(obj.id)
        name = creator.display_name
        posts.create(
            creator, {"body": f"Hi, I am {name}. Welcome!", "visibility": "public"}, [photos[0]]
        )
        posts.create(
            creator,
            {"body": "This week's set, for my subscribers.", "visibility": "subscribers"},
            [photos[1]],
        )
        ppv = posts.create(
            creator,
            {
                "body": "The full series, unedited.",
                "visibility": "ppv",
                "price": str(15 + 5 * index),
            },
            [photos[2]],
        )
        for fan in fans[index * 3 : index * 3 + 3]:
            try:
                subscriptions.subscribe(fan, creator.id)
                if index % 2 == 0:
                    posts.unlock(fan, ppv.id)
            except DomainError:  # a demo fan short of credits simply does not subscribe
                db.session.rollback()


def register(app: Flask) -> None:
    import cli_backup

    cli_backup.register(app)

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create a demo world (an admin, 10 creators, 40 fans); safe to run again."""
        if current_app.config["APP_ENV"] == "production":
            raise click.ClickException("seed-demo refuses to run with APP_ENV=production.")
        created = seed_demo()
        click.echo(f"Demo data: {created} accounts created." if created else "Demo data: present.")
        click.echo(f"Demo logins (password {DEMO_PASSWORD}):")
        click.echo(f"  admin    admin@{DEMO_DOMAIN}")
        click.echo(f"  creator  creator1@{DEMO_DOMAIN} … creator10@{DEMO_DOMAIN}")
        click.echo(f"  fan      fan1@{DEMO_DOMAIN} … fan40@{DEMO_DOMAIN}")

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--name", default="Admin", show_default=True, help="Display name.")
    @click.option(
        "--password",
        envvar="ADMIN_PASSWORD",
        help="Password for a new account (prompted when not given; env ADMIN_PASSWORD).",
    )
    def create_admin_command(email: str, name: str, password: str | None) -> None:
        """Make EMAIL an admin: promote that account, or create it (verified)."""
        if password is None and accounts.find_by_email(email) is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user, created = accounts.create_admin(email, password, name)
        except ValidationFailed as exc:
            raise click.ClickException(exc.message) from exc
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        verb = "Created" if created else "Promoted"
        click.echo(f"{verb} admin {user.email} (id {user.id}).")

    ledger_cli = AppGroup("ledger", help="Inspect and correct the credits ledger.")
    app.cli.add_command(ledger_cli)

    @ledger_cli.command("verify")
    def ledger_verify() -> None:
        """Check every ledger invariant (SPEC §6); exit 1 on any violation."""
        from services import ledger

        violations = ledger.verify()
        for violation in violations:
            click.echo(str(violation))
        if violations:
            raise SystemExit(f"{len(violations)} ledger violation(s).")
        click.echo("Ledger OK: every invariant holds.")

    @ledger_cli.command("balance")
    @click.argument("email")
    def ledger_balance(email: str) -> None:
        """Print a user's balances."""
        from services import ledger

        user = accounts.find_by_email(email)
        if user is None:
            raise click.ClickException(f"No account for {email}.")
        for kind, amount in ledger.balances(user.id).items():
            click.echo(f"{kind:<20} {amount:>12,}")
        if ledger.is_frozen(user.id):
            click.echo("wallet is FROZEN (chargeback)")

    @ledger_cli.command("adjust", context_settings={"ignore_unknown_options": True})
    @click.argument("email")
    @click.argument("amount", type=int)
    @click.option("--reason", required=True, help="Why; stored on the transfer and audited.")
    def ledger_adjust(email: str, amount: int, reason: str) -> None:
        """Credit (positive AMOUNT) or debit (negative, e.g. -50) a wallet, with a reason."""
        from services import ledger

        try:
            transfer = ledger.support_adjust(email, amount, reason)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"Adjusted {email} by {amount:+,} credits (transfer {transfer.id}).")

    @ledger_cli.command("unfreeze")
    @click.argument("email")
    @click.option("--reason", required=True, help="Why the account is cleared; audited.")
    def ledger_unfreeze(email: str, reason: str) -> None:
        """Clear a wallet frozen by a chargeback, so the fan can buy and spend again."""
        from services import ledger

        try:
            ledger.support_unfreeze(email, reason)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"Unfroze the wallet of {email}.")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
    def worker_command(burst: bool) -> None:
        """Run the RQ worker with its scheduler and Amora's periodic jobs (needs REDIS_URL)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
        from rq import Queue, Worker

        from workers.queue import set_worker_app, worker_connection
        from workers.schedule import PeriodicEnqueuer

        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException(
                "REDIS_URL is not set: without Redis, jobs run inside the web process "
                "(make run) and no worker is needed."
            )
        logging.basicConfig(level=logging.INFO)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        set_worker_app(app)
        periodic = PeriodicEnqueuer(app)
        if not burst:
            periodic.start()
        try:
            while True:
                connection = worker_connection(app)
                queue = Queue(app.config["RQ_QUEUE"], connection=connection)
                worker = Worker([queue], connection=connection)
                try:
                    worker.work(with_scheduler=True, burst=burst)
                    return
                except (RedisConnectionError, RedisTimeoutError):
                    if burst:
                        raise
                    # RQ waits out a Redis outage while it waits for jobs, not everywhere else:
                    # start over once Redis answers (lost jobs come back from the job outbox).
                    logging.getLogger("amora.jobs").warning(
                        "worker lost Redis; starting again in %d s", WORKER_RESTART_SECONDS
                    )
                    time.sleep(WORKER_RESTART_SECONDS)
        finally:
            periodic.stop()
