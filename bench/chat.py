"""Real-time chat under load: one gunicorn process (gthread, the documented production setup)
with PostgreSQL and Redis, N WebSocket clients, paid messages at a fixed rate.

Reports delivery latency (message stored on the server → event received by the recipient's
socket) p50/p99, messages lost, and the server's RSS. Target: p99 ≤ 100 ms, nothing lost.

Usage: .venv/bin/python bench/chat.py [--clients 500] [--rate 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="amora-bench-"))
os.environ.setdefault("APP_ENV", "test")
SECRET = "bench-secret-key-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200, help="paid messages per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=0, help="gunicorn threads (default 2×N)")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    import psycopg
    import requests
    import simple_websocket
    from flask_migrate import upgrade
    from itsdangerous import URLSafeTimedSerializer

    from app import create_app
    from extensions import db
    from models import CreatorSettings, Message, User
    from services import accounts, clock, ledger

    name = f"amora_bench_chat_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base_url = args.pg_admin_url.rsplit("/", 1)[0]
    database_url = f"{base_url}/{name}".replace("postgresql://", "postgresql+psycopg://")
    server = None
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SECRET_KEY": SECRET,
                "EMBEDDED_SCHEDULER": False,
            }
        )
        half = args.clients // 2
        cookies: dict[int, tuple[str, str]] = {}
        with app.app_context():
            upgrade()
            now = clock.now()
            people = [
                User(
                    email=f"{'c' if i < half else 'f'}{i}@bench.example.com",
                    password_hash="x",  # noqa: S106 (never used to log in)
                    display_name=f"P{i}",
                    date_of_birth=now.date().replace(year=1990),
                    is_creator=i < half,
                    email_verified_at=now,
                )
                for i in range(args.clients)
            ]
            db.session.add_all(people)
            db.session.flush()
            creators, fans = people[:half], people[half:]
            for creator in creators:
                db.session.add(CreatorSettings(user_id=creator.id, message_price=1))
            db.session.commit()
            for fan in fans:
                ledger.adjust(fan.id, 1_000_000, "chat benchmark", None, f"bench:{fan.id}")
            db.session.commit()
            serializer = app.session_interface.get_signing_serializer(app)
            csrf = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token")
            for person in people:
                raw = accounts.start_session(person, "127.0.0.1", "bench")
                token = uuid.uuid4().hex
                cookie = serializer.dumps(
                    {"_user_id": str(person.id), "sid": raw, "_fresh": True, "csrf_token": token}
                )
                cookies[person.id] = (cookie, csrf.dumps(token))
            creator_ids = [c.id for c in creators]
            fan_ids = [f.id for f in fans]
            db.engine.dispose()

        port = free_port()
        threads = args.threads or 2 * args.clients + 64
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "SECRET_KEY": SECRET,
            "APP_ENV": "production",
            "RATELIMIT_ENABLED": "0",
            "BASE_URL": f"http://127.0.0.1:{port}",
        }
        log_path = Path(tempfile.gettempdir()) / "amora-bench-chat-server.log"
        log_file = log_path.open("w")
        print(f"server log: {log_path}", flush=True)
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                "1",
                "--threads",
                str(threads),
                "--timeout",
                "120",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)

        received: dict[int, float] = {}
        received_lock = threading.Lock()
        stop = threading.Event()
        sockets = []

        def listen(user_id: int) -> None:
            ws = simple_websocket.Client.connect(
                f"ws://127.0.0.1:{port}/ws", headers={"Cookie": f"session={cookies[user_id][0]}"}
            )
            sockets.append(ws)
            ws.send(json.dumps({"type": "hello", "last_id": 0}))
            while not stop.is_set():
                try:
                    raw = ws.receive(timeout=0.5)
                except simple_websocket.ConnectionClosed:
                    return
                if raw is None:
                    continue
                event = json.loads(raw)
                if event.get("type") == "message" and event.get("recipient_id") == user_id:
                    with received_lock:
                        received.setdefault(event["id"], time.time())

        listeners = [
            threading.Thread(target=listen, args=(uid,), daemon=True)
            for uid in creator_ids + fan_ids
        ]
        for thread in listeners:
            thread.start()
            time.sleep(0.002)
        time.sleep(2)
        print(f"{len(sockets)} sockets open", flush=True)

        sent_ok, errors = [], []

        def sender(worker: int, workers: int) -> None:
            http = requests.Session()
            interval = workers / args.rate
            deadline = time.monotonic() + args.seconds
            next_at = time.monotonic() + worker * interval / workers
            rng = random.Random(worker)
            while time.monotonic() < deadline:
                fan = rng.choice(fan_ids)
                creator = rng.choice(creator_ids)
                cookie, token = cookies[fan]
                try:
                    response = http.post(
                        f"http://127.0.0.1:{port}/messages/{creator}",
                        data={"body": f"hi {uuid.uuid4().hex[:8]}", "csrf_token": token},
                        headers={"Cookie": f"session={cookie}", "HX-Request": "true"},
                        timeout=10,
                    )
                    (sent_ok if response.status_code == 200 else errors).append(
                        response.status_code
                    )
                except requests.RequestException as exc:
                    errors.append(str(exc))
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

        workers = 32
        senders = [threading.Thread(target=sender, args=(i, workers)) for i in range(workers)]
        started = time.monotonic()
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        elapsed = time.monotonic() - started
        time.sleep(3)  # grace for the last deliveries
        rss_kb = 0
        for child in Path("/proc").iterdir():
            if child.name.isdigit():
                try:
                    status = (child / "status").read_text()
                    if f"PPid:\t{server.pid}\n" in status:
                        rss_kb = int(status.split("VmRSS:")[1].split()[0])
                except (OSError, IndexError, ValueError):
                    pass
        stop.set()

        with app.app_context():
            stored = {m.id: m.created_at for m in db.session.query(Message).all()}
            violations = ledger.verify()
            db.engine.dispose()
        latencies = [
            (received[mid] - ts.replace(tzinfo=dt.UTC).timestamp()) * 1000  # naive UTC
            for mid, ts in stored.items()
            if mid in received
        ]
        lost = len([mid for mid in stored if mid not in received])
        print(f"clients {args.clients}, target {args.rate:.0f} msg/s for {args.seconds:.0f} s")
        print(
            f"sent {len(sent_ok)} ({len(sent_ok) / elapsed:.0f}/s), errors {len(errors)}, "
            f"stored {len(stored)}, delivered {len(latencies)}, lost {lost}"
        )
        if errors:
            print("first errors:", errors[:5])
        if not latencies:
            raise SystemExit("nothing was delivered")
        print(
            f"delivery latency ms: p50 {statistics.median(latencies):.1f}  "
            f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}"
        )
        print(f"server RSS {rss_kb / 1024:.0f} MiB; ledger violations {len(violations)}")
        print(
            f"target p99 ≤ 100 ms and 0 lost: "
            f"{'met' if percentile(latencies, 0.99) <= 100 and lost == 0 else 'NOT met'}"
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
