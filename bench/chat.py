"""Real-time chat under load: one gunicorn process (the gevent worker, the documented production
setup of docs/deployment.md; `--gunicorn` runs another, such as the threaded worker with
`--threads` sized for the sockets) with PostgreSQL and Redis, N WebSocket clients logged in as
real users, paid fan → creator messages sent at a fixed rate (each charged through the ledger).

Messages go the way a live conversation page sends them: as "send" frames over the fan's open
socket (`--over socket`, the default), or as htmx POSTs (`--over http`, the page without its
socket; at most --senders requests in flight). Open loop: message i is due at i / rate seconds
whatever the server's pace.

Reports delivery latency (the sender writes the frame or starts the request → the recipient's
socket receives the event, so time queued in the server counts) p50/p99/max, messages lost
(stored rows never delivered), the server's RSS and the CPU used during the run by the server,
the load generator, PostgreSQL, Redis and other processes. Target: p99 ≤ 100 ms, nothing lost.

The load generator is one asyncio event loop (aiohttp) in this process, separate from the
server: all sockets and all senders. Its garbage collector is off while it measures (a pause of
its own would count as the server's latency); the collections it made anyway are printed.

Usage: .venv/bin/python bench/chat.py [--clients 500] [--rate 200] [--seconds 60] [--idle 60]
           [--over socket|http] [--warmup 5] [--senders 32] [--threads N+64]
           [--gunicorn "OPTIONS"] [--redis-url URL] [--partners 3] [--processes 1|2]

--warmup seconds are sent first, at the same rate, and not counted: a server just started
fills its database pool. Creators start with their earnings account open, as creator mode
opens it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="amora-bench-"))
os.environ.setdefault("APP_ENV", "test")
# docs/deployment.md, one process. The threaded worker, for comparison:
#   --gunicorn "--worker-class gthread --workers 1 --threads {threads} --timeout 120"
GUNICORN = "--worker-class gevent --workers 1 --worker-connections 10000 --timeout 120"
SECRET = "bench-secret-key-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


@dataclass
class Load:
    received: dict[int, float] = field(default_factory=dict)  # message id → arrival (epoch s)
    sent_at: dict[int, float] = field(default_factory=dict)  # message id → sent (epoch s)
    sent: int = 0
    unsent: int = 0  # due but not started (http) or not answered (socket) by the end
    errors: list = field(default_factory=list)
    elapsed: float = 0.0
    sockets: int = 0
    pauses: list = field(default_factory=list)  # (generation, ms): the load generator's own


class CollectorPauses:
    """The load generator's garbage collections while it measures: a pause here holds back
    both the frames it should write and the events it should read, and would count as the
    server's latency. Recorded so a run can tell (and printed with the figures)."""

    def __init__(self, into: list) -> None:
        self.into, self.began = into, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.into.append((info["generation"], (time.perf_counter() - self.began) * 1000))


async def run_load(
    ports: dict[int, int],
    cookies: dict[int, tuple[str, str]],
    creator_ids: list[int],
    fan_ids: list[int],
    rate: float,
    seconds: float,
    senders: int,
    over: str = "socket",
    warmup: float = 0.0,
    on_start=lambda: None,
    partners: int = 3,
    idle: float = 0.0,
    on_idle=lambda begin: None,
) -> Load:
    """All sockets and all senders on one asyncio event loop (one thread): the load generator
    must not compete with the server for the two cores with a thread per socket."""
    import aiohttp

    load = Load()
    stop = asyncio.Event()
    ready = 0
    all_ready = asyncio.Event()
    everyone = creator_ids + fan_ids
    sockets: dict[int, object] = {}
    frames_sent: dict[str, float] = {}  # ref → when the frame was written
    answered = asyncio.Event()
    all_sent = asyncio.Event()  # every frame is written: the last answer ends the run

    # Per-request cookies; the jar must not mix them up.
    connector = aiohttp.TCPConnector(limit=0)
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:

        async def listen(user_id: int) -> None:
            nonlocal ready
            async with http.ws_connect(
                f"ws://127.0.0.1:{ports[user_id]}/ws",
                headers={"Cookie": f"session={cookies[user_id][0]}"},
                autoping=True,
                max_msg_size=0,
            ) as ws:
                sockets[user_id] = ws
                await ws.send_str(json.dumps({"type": "hello", "last_id": 0}))
                stop_wait = asyncio.ensure_future(stop.wait())
                while True:
                    receive = asyncio.ensure_future(ws.receive())
                    done, _ = await asyncio.wait(
                        {receive, stop_wait}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if receive not in done:
                        receive.cancel()
                        return
                    try:
                        msg = receive.result()
                    except (aiohttp.ClientError, ConnectionError) as exc:  # closed under it
                        load.errors.append(f"socket of {user_id} closed: {exc!r}")
                        return
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        load.errors.append(f"socket of {user_id} closed: {msg.type!r}")
                        return
                    event = json.loads(msg.data)
                    kind = event.get("type")
                    if kind == "ready":
                        ready += 1
                        if ready == len(everyone):
                            all_ready.set()
                    elif kind == "message" and event.get("recipient_id") == user_id:
                        load.received.setdefault(event["id"], time.time())
                    elif kind == "sent":
                        load.sent += 1
                        load.sent_at[event["id"]] = frames_sent.pop(event["ref"])
                        if not frames_sent and all_sent.is_set():
                            answered.set()
                    elif kind == "send_error":
                        frames_sent.pop(event["ref"], None)
                        load.errors.append(event.get("error"))

        listeners = []
        for user_id in everyone:  # paced like page loads: the server limits connect bursts
            listeners.append(asyncio.create_task(listen(user_id)))
            await asyncio.sleep(0.002)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_ready.wait(), 30)
        load.sockets = ready
        print(f"{ready} sockets open and caught up", flush=True)
        if idle:  # every socket open, nothing sent: what keeping them open costs
            on_idle(True)
            await asyncio.sleep(idle)
            on_idle(False)

        rng = random.Random(7)
        # Each fan chats with `partners` creators, as fans of a few creators do. (A fan who
        # writes to 15 or more people within 10 minutes is scored by anti-spam on every message,
        # and each score is stored with an alert: that measures the spam path, not chat.)
        partners_of = {
            fan: rng.sample(creator_ids, min(partners, len(creator_ids))) for fan in fan_ids
        }
        in_flight = asyncio.Semaphore(senders)

        async def frame(i: int, fan: int, creator: int) -> None:
            ref = str(i)
            frames_sent[ref] = time.time()
            try:
                await sockets[fan].send_str(
                    json.dumps(
                        {
                            "type": "send",
                            "to": creator,
                            "body": f"hi {uuid.uuid4().hex[:8]}",
                            "ref": ref,
                        }
                    )
                )
            except (aiohttp.ClientError, ConnectionError) as exc:  # the server closed it
                frames_sent.pop(ref, None)
                load.errors.append(f"socket of {fan} closed before a send: {exc!r}")

        async def post(i: int, fan: int, creator: int) -> None:
            cookie, token = cookies[fan]
            try:
                async with in_flight:
                    if time.monotonic() >= deadline:  # never sent: the server fell behind
                        load.unsent += 1
                        return
                    started_at = time.time()
                    async with http.post(
                        f"http://127.0.0.1:{ports[fan]}/messages/{creator}",
                        data={"body": f"hi {uuid.uuid4().hex[:8]}", "csrf_token": token},
                        headers={"Cookie": f"session={cookie}", "HX-Request": "true"},
                        timeout=aiohttp.ClientTimeout(total=10),
                    ) as response:
                        page = await response.text()
                        if response.status == 200:
                            load.sent += 1
                            load.sent_at[int(re.search(r'id="msg-(\d+)"', page)[1])] = started_at
                        else:
                            load.errors.append(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                load.errors.append(repr(exc))

        send = frame if over == "socket" else post
        deadline = 0.0

        async def blast(length: float, first: int) -> None:
            """Open loop for `length` seconds: message i is due at started + i / rate."""
            nonlocal deadline
            posts = []
            started = time.monotonic()
            deadline = started + length
            all_sent.clear()
            answered.clear()
            for i in range(int(rate * length)):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                fan = rng.choice(fan_ids)
                creator = rng.choice(partners_of[fan])
                posts.append(asyncio.create_task(send(first + i, fan, creator)))
            await asyncio.gather(*posts)
            all_sent.set()
            if over == "socket" and frames_sent:  # wait for the answers, as for a request
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(answered.wait(), 10)
            load.elapsed = time.monotonic() - started

        if warmup:
            await blast(warmup, 10**9)
            await asyncio.sleep(1)
            print(f"warmed up: {load.sent} messages in {warmup:.0f} s, not counted", flush=True)
            load.sent, load.sent_at, load.errors = 0, {}, []
        # No collection in the load generator while it measures: with 5,000 sockets a full one
        # took 0.6 s and a middle one up to 80 ms, every frame and event of the moment held
        # back and counted as the server's latency. The run's garbage waits a minute.
        gc.collect()
        gc.disable()
        watch = CollectorPauses(load.pauses)
        gc.callbacks.append(watch)
        try:
            on_start()
            await blast(seconds, 0)
            load.unsent = len(frames_sent)
            await asyncio.sleep(3)  # grace for the last deliveries
        finally:
            gc.enable()
            gc.callbacks.remove(watch)
        stop.set()
        await asyncio.gather(*listeners, return_exceptions=True)
    return load


def _ticks(pid: str) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_snapshot() -> dict[str, tuple[int, str, str]]:
    """pid → (CPU ticks so far, parent pid, command line) for every process on the machine."""
    snapshot = {}
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                ppid = (child / "status").read_text().split("PPid:\t")[1].split()[0]
                cmd = (child / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                snapshot[child.name] = (_ticks(child.name), ppid, cmd)
            except (OSError, IndexError, ValueError):
                pass
    return snapshot


def cpu_by_role(
    before: dict, after: dict, server_pids: list[int], database: str, seconds: float
) -> dict[str, float]:
    """Cores used during the run by the server, the load generator, PostgreSQL (this bench's
    database), Redis and everything else (other people's work on the machine)."""
    hz = os.sysconf("SC_CLK_TCK")
    roles = dict.fromkeys(("server", "load generator", "postgres", "redis", "other"), 0.0)
    for pid, (ticks, ppid, cmd) in after.items():
        used = (ticks - before[pid][0]) if pid in before else ticks
        if pid in {str(p) for p in server_pids} or ppid in {str(p) for p in server_pids}:
            role = "server"
        elif pid == str(os.getpid()):
            role = "load generator"
        elif cmd.startswith("postgres: ") and f" {database} " in cmd:
            role = "postgres"
        elif "redis-server" in cmd:
            role = "redis"
        else:
            role = "other"
        roles[role] += used / hz / seconds
    return roles


def server_rss_kb(server_pids: list[int]) -> int:
    """RSS of the gunicorn workers (the masters' children), summed."""
    total = 0
    for pid, (_, ppid, _cmd) in cpu_snapshot().items():
        if ppid in {str(p) for p in server_pids}:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0])
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200, help="paid messages per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--threads", type=int, default=0, help="{threads} in --gunicorn (default N+64)"
    )
    parser.add_argument(
        "--gunicorn",
        default=GUNICORN,
        help="gunicorn options (default: the documented production configuration)",
    )
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--over", choices=("socket", "http"), default="socket")
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds sent first at the rate, not counted"
    )
    parser.add_argument(
        "--partners", type=int, default=3, help="creators each fan writes to (at random)"
    )
    parser.add_argument("--senders", type=int, default=32, help="HTTP requests in flight, max")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="servers sharing the database and Redis; with 2, the fans' sockets are on one and "
        "the creators' on the other, so that every message crosses processes through Redis",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=60,
        help="seconds with every socket open and nothing sent, measured before the load "
        "(session checks every 30 s and pings every 25 s: two rounds of each); 0 skips",
    )
    args = parser.parse_args()

    import psycopg
    import requests
    from flask_migrate import upgrade
    from itsdangerous import URLSafeTimedSerializer

    from app import create_app
    from core import clock
    from extensions import db
    from models import CreatorSettings, Message, RiskEvent, User
    from services import ledger, sessions

    name = f"amora_bench_chat_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base_url = args.pg_admin_url.rsplit("/", 1)[0]
    database_url = f"{base_url}/{name}".replace("postgresql://", "postgresql+psycopg://")
    servers: list[subprocess.Popen] = []
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
                # As creator mode opens it (services/creators.py): with 2,500 creators, their
                # first earnings creating it on the way made the first 10–15 s the slowest.
                ledger.user_account(creator.id, "earnings_pending")
            db.session.commit()
            for fan in fans:
                ledger.adjust(fan.id, 1_000_000, "chat benchmark", None, f"bench:{fan.id}")
            db.session.commit()
            serializer = app.session_interface.get_signing_serializer(app)
            csrf = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token")
            for person in people:
                raw = sessions.start_session(person, "127.0.0.1", "bench")
                token = uuid.uuid4().hex
                cookie = serializer.dumps(
                    {"_user_id": str(person.id), "sid": raw, "_fresh": True, "csrf_token": token}
                )
                cookies[person.id] = (cookie, csrf.dumps(token))
            creator_ids = [c.id for c in creators]
            fan_ids = [f.id for f in fans]
            db.engine.dispose()

        threads = args.threads or args.clients + 64  # a thread per socket
        server_ports = [free_port() for _ in range(args.processes)]
        for number, port in enumerate(server_ports):
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": args.redis_url,
                "SECRET_KEY": SECRET,
                "APP_ENV": "production",
                "RATELIMIT_ENABLED": "0",
                "BASE_URL": f"http://127.0.0.1:{port}",
            }
            if args.processes > 1:  # both pools within a stock PostgreSQL's 100 connections
                env.update(DATABASE_POOL_SIZE="30", DATABASE_POOL_OVERFLOW="15")
            log_path = Path(os.environ["INSTANCE_DIR"]) / f"server{number}.log"
            print(f"server log: {log_path}", flush=True)
            servers.append(
                subprocess.Popen(
                    [
                        str(ROOT / ".venv/bin/gunicorn"),
                        "--bind",
                        f"127.0.0.1:{port}",
                        *shlex.split(args.gunicorn.replace("{threads}", str(threads))),
                        "app:create_app()",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log_path.open("w"),
                    stderr=subprocess.STDOUT,
                )
            )
        for port in server_ports:
            for _ in range(100):
                try:
                    requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.2)
        # One process: everyone on it. Two: fans on the first, creators on the second.
        ports = {fan_id: server_ports[0] for fan_id in fan_ids}
        ports.update({creator_id: server_ports[-1] for creator_id in creator_ids})
        server_pids = [server.pid for server in servers]

        cpu_before, wall = {}, 0.0
        rss_before_sockets = server_rss_kb(server_pids)
        idle_figures: dict = {}

        def idle_phase(begin: bool) -> None:
            if begin:
                idle_figures["rss_kb"] = server_rss_kb(server_pids)
                idle_figures["cpu"], idle_figures["at"] = cpu_snapshot(), time.monotonic()
            else:
                idle_figures["cores"] = cpu_by_role(
                    idle_figures["cpu"],
                    cpu_snapshot(),
                    server_pids,
                    name,
                    time.monotonic() - idle_figures["at"],
                )

        def measure_from_now() -> None:
            nonlocal cpu_before, wall
            cpu_before, wall = cpu_snapshot(), time.monotonic()

        load = asyncio.run(
            run_load(
                ports,
                cookies,
                creator_ids,
                fan_ids,
                args.rate,
                args.seconds,
                args.senders,
                args.over,
                args.warmup,
                measure_from_now,
                args.partners,
                args.idle,
                idle_phase,
            )
        )
        cpu = cpu_by_role(cpu_before, cpu_snapshot(), server_pids, name, time.monotonic() - wall)
        rss_kb = server_rss_kb(server_pids)
        received, sent_ok, errors, elapsed = load.received, load.sent, load.errors, load.elapsed

        with app.app_context():
            stored = {m.id: m.created_at for m in db.session.query(Message).all()}
            violations = ledger.verify()
            scored = db.session.query(RiskEvent).filter_by(kind="message_burst").count()
            db.engine.dispose()
        latencies = [
            (received[mid] - load.sent_at[mid]) * 1000
            for mid in stored
            if mid in received and mid in load.sent_at
        ]
        # As earlier entries measured it: from the row's creation on the server.
        server_side = [
            (received[mid] - ts.replace(tzinfo=dt.UTC).timestamp()) * 1000  # naive UTC
            for mid, ts in stored.items()
            if mid in received and mid in load.sent_at
        ]
        lost = len([mid for mid in stored if mid not in received])
        print(
            f"clients {args.clients}, target {args.rate:.0f} msg/s for {args.seconds:.0f} s, "
            f"sent over {args.over}, each fan to {args.partners} creators"
            + (
                ", fans and creators on two processes (every delivery crosses through Redis)"
                if args.processes == 2
                else ""
            )
        )
        print(
            f"sent {sent_ok} ({sent_ok / elapsed:.0f}/s), not sent in time {load.unsent}, "
            f"errors {len(errors)}, "
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
        print(
            f"  (from the row's creation: p50 {statistics.median(server_side):.1f}  "
            f"p99 {percentile(server_side, 0.99):.1f})"
        )
        # Where the slowest 1 % spent their time: before the row was created (the frame read,
        # waiting for a connection and a send turn, the checks) or after (the charge, the
        # commit, the broker, the recipient's socket).
        split = sorted(
            (
                (received[mid] - load.sent_at[mid]) * 1000,
                (ts.replace(tzinfo=dt.UTC).timestamp() - load.sent_at[mid]) * 1000,
            )
            for mid, ts in stored.items()
            if mid in received and mid in load.sent_at
        )[-max(1, len(latencies) // 100) :]
        before = statistics.median(b for _, b in split)
        print(
            f"  slowest 1 %: median {statistics.median(t for t, _ in split):.0f} ms, of which "
            f"{before:.0f} before the row's creation"
        )
        start = min(load.sent_at.values())
        windows: dict[int, list[float]] = {}
        for mid in stored:
            if mid in received and mid in load.sent_at:
                window = int((load.sent_at[mid] - start) // 5)
                windows.setdefault(window, []).append((received[mid] - load.sent_at[mid]) * 1000)
        print(
            "  p99 per 5 s of sending: "
            + " ".join(f"{percentile(w, 0.99):.0f}" for _, w in sorted(windows.items()))
        )
        if "rss_kb" in idle_figures:
            grown = idle_figures["rss_kb"] - rss_before_sockets
            print(
                f"server RSS {rss_before_sockets / 1024:.0f} MiB before the sockets, "
                f"{idle_figures['rss_kb'] / 1024:.0f} MiB with {load.sockets} open: "
                f"{grown / max(1, load.sockets):.0f} KiB per socket"
            )
        if "cores" in idle_figures:
            idle_cores = idle_figures["cores"]
            print(
                f"idle for {args.idle:.0f} s with {load.sockets} sockets open (session checks, "
                f"pings): server {idle_cores['server']:.3f} cores, postgres "
                f"{idle_cores['postgres']:.3f}, redis {idle_cores['redis']:.3f} "
                f"(target: server ≤ 0.1 core)"
            )
        print(
            f"load generator's garbage collections while sending: {len(load.pauses)} "
            f"(longest {max((ms for _, ms in load.pauses), default=0):.1f} ms)"
        )
        print(
            f"server RSS {rss_kb / 1024:.0f} MiB; ledger violations {len(violations)}; "
            f"messages scored by anti-spam {scored}"
        )
        print(
            "CPU during the run (cores): "
            + ", ".join(f"{role} {cores:.2f}" for role, cores in cpu.items())
        )
        if cpu["other"] >= 0.1:
            print("other processes used ≥ 10% of a core: rerun for figures to keep")
        print(
            f"target p99 ≤ 100 ms and 0 lost: "
            f"{'met' if percentile(latencies, 0.99) <= 100 and lost == 0 else 'NOT met'}"
        )
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
