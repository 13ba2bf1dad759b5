"""Command-line tools: `flask seed-demo`, `flask create-admin`, `flask worker`; `flask backup`
and `flask restore` live in cli_backup.py."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.errors import DomainError, ValidationFailed
from services import accounts, admin_users, demo
from services.demo import DEMO_DOMAIN, DEMO_PASSWORD

WORKER_RESTART_SECONDS = 5


def register(app: Flask) -> None:
    import cli_backup

    cli_backup.register(app)

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create a demo world (an admin, 10 creators, 40 fans); safe to run again."""
        if current_app.config["APP_ENV"] == "production":
            raise click.ClickException("seed-demo refuses to run with APP_ENV=production.")
        created = demo.seed()
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
        """Check every ledger invariant (docs/ledger.md#invariants); exit 1 on any violation."""
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

        try:
            transfer = admin_users.support_adjust(email, amount, reason)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"Adjusted {email} by {amount:+,} credits (transfer {transfer.id}).")

    @ledger_cli.command("unfreeze")
    @click.argument("email")
    @click.option("--reason", required=True, help="Why the account is cleared; audited.")
    def ledger_unfreeze(email: str, reason: str) -> None:
        """Clear a wallet frozen by a chargeback, so the fan can buy and spend again."""

        try:
            admin_users.support_unfreeze(email, reason)
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

        from services.schedule import PERIODIC_JOBS
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
        periodic = PeriodicEnqueuer(app, PERIODIC_JOBS)
        if not burst:
            periodic.start()
        try:
            while True:
                connection = worker_connection(app)
                queue = Queue(app.config["RQ_QUEUE"], connection=connection)
                worker = Worker([queue], connection=connection)
                try:
                    worker.work(with_scheduler=True, burst=burst)
                except (RedisConnectionError, RedisTimeoutError):
                    if burst:
                        raise
                if burst or worker._stop_requested:  # done, or asked to stop (SIGTERM/SIGINT)
                    return
                # RQ quits its loop on some Redis errors instead of waiting them out: start over
                # once Redis answers (jobs lost meanwhile come back from the job outbox).
                logging.getLogger("amora.jobs").warning(
                    "worker lost Redis; starting again in %d s", WORKER_RESTART_SECONDS
                )
                time.sleep(WORKER_RESTART_SECONDS)
        finally:
            periodic.stop()
