"""Command-line tools, one group per concept: `flask users …`, `flask demo …`, `flask ledger …`,
`flask keys …` and `flask worker`; `flask backup` and `flask restore` live in cli_backup.py.
Each command parses its arguments, calls one service function and prints the outcome."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue

import cli_backup
from core.errors import DomainError
from core.sealed import Keyring
from services import accounts, admin_users, demo, identity, ledger
from services.schedule import PERIODIC_JOBS
from workers.queue import JobWorker, set_worker_app, worker_connection
from workers.schedule import PeriodicEnqueuer

WORKER_RESTART_SECONDS = 5


def register(app: Flask) -> None:
    for command in (users, demo_world, ledger_cli, keys, worker_command):
        app.cli.add_command(command)
    cli_backup.register(app)


# --- flask keys --------------------------------------------------------------------------------

keys = AppGroup("keys", help="The master keys that seal identity documents (docs/identity.md).")


@keys.command("new")
@click.argument("key_id", default="k1")
def new_key(key_id: str) -> None:
    """Print a new master key as SEALING_KEYS takes it (put it first to make it current)."""
    line = f"{key_id}:{Keyring.new_key()}"
    Keyring.parse(line)  # the id must be one the keyring accepts
    click.echo(line)


@keys.command("rotate")
@with_appcontext
def rotate_keys() -> None:
    """Re-wrap every file's data key under the current (first) master key of SEALING_KEYS."""
    rotation = identity.rotate_keys()
    done, current = rotation.rewrapped, identity.keyring().current
    click.echo(f"Re-wrapped {done} data key{'s' if done != 1 else ''} under {current}.")
    if rotation.unreadable:
        ids = ", ".join(map(str, rotation.unreadable[:20]))
        click.echo(
            f"{len(rotation.unreadable)} file(s) wrapped by a key not in SEALING_KEYS were left "
            f"as they are (sealed file ids {ids}): keep their old key.",
            err=True,
        )
        raise SystemExit(1)


# --- flask users ------------------------------------------------------------------------------

users = AppGroup("users", help="Manage accounts.")


@users.command("create-admin")
@click.argument("email")
@click.option("--name", default="Admin", show_default=True, help="Display name.")
@click.option(
    "--password",
    envvar="ADMIN_PASSWORD",
    help="Password for a new account (prompted when not given; env ADMIN_PASSWORD).",
)
def create_admin(email: str, name: str, password: str | None) -> None:
    """Make EMAIL an admin: promote that account, or create it (verified)."""
    if password is None and accounts.find_by_email(email) is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, created = accounts.create_admin(email, password, name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    verb = "Created" if created else "Promoted"
    click.echo(f"{verb} admin {user.email} (id {user.id}).")


# --- flask demo -------------------------------------------------------------------------------

demo_world = AppGroup("demo", help="The demo world (services/demo/).")


@demo_world.command("seed")
def seed_demo() -> None:
    """Create the demo world (an admin, a moderator, 10 creators, 40 fans); safe to run
    again."""
    try:
        created = demo.seed()
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Demo data: {created} accounts created." if created else "Demo data: present.")
    click.echo(f"Demo logins (password {demo.DEMO_PASSWORD}):")
    for role, addresses in demo.logins():
        click.echo(f"  {role:<8} {addresses}")


# --- flask ledger -----------------------------------------------------------------------------

ledger_cli = AppGroup("ledger", help="Inspect and correct the credits ledger.")


@ledger_cli.command("verify")
def ledger_verify() -> None:
    """Check every ledger invariant (docs/ledger.md#invariants); exit 1 on any violation."""
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


# --- flask worker -----------------------------------------------------------------------------


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run the RQ worker with its scheduler and Amora's periodic jobs (needs REDIS_URL)."""

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
        _work(app, burst)
    finally:
        periodic.stop()


def _work(app: Flask, burst: bool) -> None:
    while True:
        connection = worker_connection(app)
        queue = Queue(app.config["RQ_QUEUE"], connection=connection)
        worker = JobWorker([queue], connection=connection)
        try:
            worker.work(with_scheduler=True, burst=burst)
        except (RedisConnectionError, RedisTimeoutError):
            if burst:
                raise
        if burst or worker._stop_requested:  # done, or asked to stop (SIGTERM/SIGINT)
            return
        # RQ quits its loop on some Redis errors instead of waiting them out: start over once
        # Redis answers (jobs lost meanwhile come back from the job outbox).
        logging.getLogger("amora.jobs").warning(
            "worker lost Redis; starting again in %d s", WORKER_RESTART_SECONDS
        )
        time.sleep(WORKER_RESTART_SECONDS)
