"""The Redis outage drill: Redis killed for a minute under load, on one machine.

The Hardening issue's bar: "With Redis killed for a minute under load: 0 × 5xx on any endpoint,
0 jobs lost, everything back without a restart." This script sets up the production shape with
its own servers, drives steady mixed traffic over HTTP and WebSockets, kills Redis in the middle
(and the worker once), and checks the bar:

1. its own Redis (`redis-server --port <free port> --save "" --appendonly no`: it restarts
   empty) and its own PostgreSQL database `amora_outage_<random>` on --pg-admin-url's server,
   migrated with `flask db upgrade` and dropped at the end;
2. gunicorn with the gevent worker as docs/deployment.md runs it (2 processes) and one
   `flask worker`, with rate limits on and `TRUST_PROXY_HOPS=1` (as behind nginx), so that
   each simulated browser has its own address in `X-Forwarded-For`. APP_ENV is `development`
   with an explicit SECRET_KEY: the drill buys credits through the `dev` payment provider
   (signed webhooks), which production refuses, and production's secure-only cookies would not
   travel over the plain-HTTP loopback anyway. Nothing else differs (config.py: HSTS, and
   `flask demo seed` being allowed);
3. a small world made through the services and HTTP: creators with PPV posts, fans with a
   dating profile and credits bought through a signed dev-provider webhook, accounts to log in
   with; every address confirmed through the link of its verification mail;
4. --seconds of load: fans read pages (discover, wallet, feed, messages, a creator), send paid
   messages, tip, unlock PPV posts and buy credits (a signed webhook, sometimes delivered twice,
   or the dev checkout, whose webhook a job delivers); anonymous visitors sign up, log in with
   right and wrong passwords and ask for password resets; browsers open /ws and wait for
   "ready"; /healthz is read every second. Redis gets SIGKILL at --kill-at and comes back empty
   at --restart-at; the worker gets SIGKILL at --kill-worker-at and is started again;
5. then it waits (up to --drain seconds) for the job outbox to empty: jobs lost with Redis are
   dispatched again by the sweeper (every 30 s) once their two-minute lease is over.

It reports requests per endpoint and status class before / during / after the outage, every
5xx and transport error with samples, jobs written / done / pending / failed, mail rows
delivered, orders paid, `flask ledger verify`, /healthz, and whether rate limits are back in
Redis (LIMITS* keys in the restarted Redis). The exit status is 1 when any bar is missed.

Usage: .venv/bin/python bench/outage.py [--seconds 150] [--kill-at 30] [--restart-at 90]
           [--kill-worker-at 120] [--fans 24] [--drain 240] [--keep-logs]

Run it alone (`flock -x /tmp/amora-bench.lock …` on shared machines): it takes about
six minutes and both cores.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.servers import OwnRedis, free_port  # noqa: E402 (after the path to the project)

PASSWORD = "outage-drill-2026"  # noqa: S105 (the drill's own throwaway accounts)
DOMAIN = "outage.example.com"
SECRET = "outage-drill-secret-" + uuid.uuid4().hex
# docs/deployment.md, as on a 2-vCPU host.
GUNICORN = [
    "--worker-class",
    "gevent",
    "--workers",
    "2",
    "--worker-connections",
    "2000",
    "--timeout",
    "60",
    "--graceful-timeout",
    "30",
]
PHASES = ("before", "during", "after")
CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {seconds:.0f} s")


# --- the servers --------------------------------------------------------------------------------


class Servers:
    """Redis, the web process and the worker, each a child of this script, each logging to a
    file in the run's directory."""

    def __init__(self, workdir: Path, env: dict[str, str], redis_port: int, web_port: int):
        self.workdir, self.env = workdir, env
        self.web_port = web_port
        self.redis = OwnRedis(redis_port, log=workdir / "redis.log")
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.starts: collections.Counter[str] = collections.Counter()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.starts[name] += 1
        log = (self.workdir / f"{name}.log").open("a")
        log.write(f"\n--- start {self.starts[name]} at {time.strftime('%H:%M:%S')}\n")
        log.flush()
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches RQ's work horse too
        )

    def start_redis(self) -> None:
        self.starts["redis"] += 1
        self.redis.start()

    def start_web(self) -> None:
        self.web = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                *GUNICORN,
                "app:create_app()",
            ],
        )
        wait_for_port(self.web_port, 60)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", [sys.executable, "-m", "flask", "worker"])

    @staticmethod
    def kill(proc: subprocess.Popen | None) -> None:
        """SIGKILL to the process's group (ours: it was started in a session of its own)."""
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for proc in (self.web, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.kill(proc)
        self.redis.kill()


def flask_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# --- the world ----------------------------------------------------------------------------------


@dataclass
class Member:
    id: int
    email: str
    ip: str
    cookie: str = ""
    csrf: str = ""


@dataclass
class World:
    creators: list[Member]
    fans: list[Member]
    logins: list[Member]  # accounts the anonymous visitors log in to
    ppv_posts: list[int]


def seed(app, base: str, creators: int, fans: int, logins: int) -> World:
    """Accounts through `accounts.sign_up` (which mails the verification link) confirmed over
    HTTP through that link; creators' PPV posts through `posts.create`; fans' profiles through
    `profiles`; sessions as a login starts them (`sessions.start_session`)."""
    import requests
    from itsdangerous import URLSafeTimedSerializer

    from core import clock
    from extensions import db
    from models import CreatorSettings, Outbox, User
    from services import accounts, posts, profiles, sessions
    from services.demo.images import abstract, store_upload

    serializer = app.session_interface.get_signing_serializer(app)
    csrf = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token")
    world = World([], [], [], [])
    with app.app_context():
        made: list[tuple[str, Member]] = []
        for kind, count in (("creator", creators), ("fan", fans), ("login", logins)):
            for i in range(count):
                email = f"{kind}{i}@{DOMAIN}"
                user = accounts.sign_up(
                    email,
                    PASSWORD,
                    f"{kind.title()} {i}",
                    dt.date(1990 + i % 10, 1 + i % 12, 1 + i % 28),
                    ip="127.0.0.1",
                    user_agent="outage-drill",
                )
                ip = f"10.{1 + len(made) // 250}.{len(made) % 250}.1"
                made.append((kind, Member(user.id, email, ip)))
        for kind, member in made:  # the link in the verification mail, clicked
            body = db.session.scalar(
                db.select(Outbox.body).where(
                    Outbox.user_id == member.id, Outbox.kind == "verify_email"
                )
            )
            token = re.search(r"/verify/([\w-]+)", body)[1]
            answer = requests.get(f"{base}/verify/{token}", allow_redirects=False, timeout=30)
            assert answer.status_code in (302, 303), (member.email, answer.status_code)
            getattr(world, kind + "s").append(member)
        rng = random.Random(1)
        for n, member in enumerate(world.creators):
            user = db.session.get(User, member.id)
            assert user.email_verified, user.email
            user.is_creator = True
            user.creator_verified_at = clock.now()
            db.session.add(CreatorSettings(user_id=user.id, message_price=2, subscription_price=30))
            db.session.commit()
            photos = [store_upload(user, "vault", abstract(f"{n}:{k}")).id for k in range(3)]
            posts.create(user, body="Hello from the drill.", visibility="public")
            for photo in photos:
                post = posts.create(
                    user, body="A set for the drill.", visibility="ppv", price=5, media_ids=[photo]
                )
                world.ppv_posts.append(post.id)
        for member in world.fans:
            user = db.session.get(User, member.id)
            profile = profiles.ensure(user)
            profile.gender = rng.choice(("woman", "man", "nonbinary"))
            profile.seeking = "woman,man,nonbinary"
            db.session.commit()
            profiles.set_location_coordinates(
                user, 48.85 + rng.uniform(-0.1, 0.1), 2.35 + rng.uniform(-0.1, 0.1)
            )
            raw = sessions.start_session(user, member.ip, "outage-drill")
            token = uuid.uuid4().hex
            member.cookie = serializer.dumps(
                {"_user_id": str(user.id), "sid": raw, "_fresh": True, "csrf_token": token}
            )
            member.csrf = csrf.dumps(token)
        db.session.remove()
        db.engine.dispose()
    return world


def anonymous_cookie(app) -> tuple[str, str]:
    """A visitor's session cookie with a CSRF token, and the token for the form."""
    from itsdangerous import URLSafeTimedSerializer

    token = uuid.uuid4().hex
    cookie = app.session_interface.get_signing_serializer(app).dumps({"csrf_token": token})
    return cookie, URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token").dumps(token)


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Tally:
    started: float = 0.0
    kill_at: float = 0.0
    restart_at: float = 0.0
    counts: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    failures: list = field(default_factory=list)  # (t, label, status or error, excerpt)
    health: list = field(default_factory=list)  # (t, status)
    paid_orders: set = field(default_factory=set)  # orders whose payment was accepted
    events: list = field(default_factory=list)  # (t, what happened)
    latencies: dict = field(default_factory=lambda: collections.defaultdict(list))  # phase → ms

    def now(self) -> float:
        return time.monotonic() - self.started

    def phase(self, t: float) -> str:
        return "before" if t < self.kill_at else "during" if t < self.restart_at else "after"

    def record(
        self, label: str, t: float, status: int | None, excerpt: str = "", ms: float | None = None
    ) -> None:
        if ms is not None:
            self.latencies[self.phase(t)].append(ms)
        if status is None:
            kind = "error"
        elif status == 101:  # a socket that opened and said "ready"
            kind = "2xx"
        else:
            kind = f"{status // 100}xx"
        self.counts[label][(self.phase(t), kind)] += 1
        if status is None or status >= 500:
            self.failures.append((round(t, 1), label, status, excerpt[:300]))


class Load:
    def __init__(self, http, base: str, app, world: World, tally: Tally, sign, prices: dict):
        self.http, self.base, self.app, self.world = http, base, app, world
        self.tally, self.sign, self.prices = tally, sign, prices
        self.stop = asyncio.Event()

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        *,
        ip: str,
        cookie: str = "",
        data=None,
        headers: dict | None = None,
    ) -> tuple[int | None, str, dict]:
        import aiohttp

        sent = {"X-Forwarded-For": ip, **(headers or {})}
        if cookie:
            sent["Cookie"] = f"session={cookie}"
        t = self.tally.now()
        try:
            async with self.http.request(
                method,
                self.base + path,
                data=data,
                headers=sent,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                text = await response.text(errors="replace")
                ms = (self.tally.now() - t) * 1000
                self.tally.record(label, t, response.status, text, ms)
                return response.status, text, dict(response.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.record(label, t, None, repr(exc))
            return None, "", {}

    # A fan's browser: reading and paying.

    async def fan(self, me: Member, rng: random.Random) -> None:
        actions = [
            (self.page, 30),
            (self.message, 14),
            (self.tip, 8),
            (self.unlock, 8),
            (self.buy, 4),
        ]
        functions, weights = zip(*actions, strict=True)
        while not self.stop.is_set():
            await rng.choices(functions, weights)[0](me, rng)
            await asyncio.sleep(rng.uniform(0.2, 0.8))

    async def page(self, me: Member, rng: random.Random) -> None:
        creator = rng.choice(self.world.creators).id
        label, path = rng.choice(
            [
                ("GET /discover", "/discover"),
                ("GET /wallet", "/wallet"),
                ("GET /feed", "/feed"),
                ("GET /messages", "/messages"),
                ("GET /creators/<id>", f"/creators/{creator}"),
                ("GET /messages/<id>", f"/messages/{creator}"),
            ]
        )
        await self.call(label, "GET", path, ip=me.ip, cookie=me.cookie)

    async def message(self, me: Member, rng: random.Random) -> None:
        creator = rng.choice(self.world.creators).id
        await self.call(
            "POST /messages/<id>",
            "POST",
            f"/messages/{creator}",
            ip=me.ip,
            cookie=me.cookie,
            data={"body": f"hello {uuid.uuid4().hex[:8]}", "csrf_token": me.csrf},
            headers={"HX-Request": "true"},
        )

    async def tip(self, me: Member, rng: random.Random) -> None:
        creator = rng.choice(self.world.creators).id
        await self.call(
            "POST /creators/<id>/tip",
            "POST",
            f"/creators/{creator}/tip",
            ip=me.ip,
            cookie=me.cookie,
            data={
                "amount": str(rng.randint(1, 5)),
                "note": "for the drill",
                "target_type": "profile",
                "token": uuid.uuid4().hex,
                "csrf_token": me.csrf,
            },
            headers={"HX-Request": "true"},
        )

    async def unlock(self, me: Member, rng: random.Random) -> None:
        post = rng.choice(self.world.ppv_posts)
        await self.call(
            "POST /posts/<id>/unlock",
            "POST",
            f"/posts/{post}/unlock",
            ip=me.ip,
            cookie=me.cookie,
            data={"csrf_token": me.csrf},
            headers={"HX-Request": "true"},
        )

    async def buy(self, me: Member, rng: random.Random, pack: str = "pack-100") -> int | None:
        """An order, paid by a signed webhook straight from "the provider" (sometimes delivered
        twice) or through the dev checkout, whose webhook a job delivers."""
        status, _, headers = await self.call(
            "POST /wallet/orders",
            "POST",
            "/wallet/orders",
            ip=me.ip,
            cookie=me.cookie,
            data={"pack_id": pack, "provider": "dev", "csrf_token": me.csrf},
        )
        found = re.search(r"/wallet/orders/(\d+)/dev", headers.get("Location", ""))
        if status != 303 or not found:
            return None
        order_id = int(found[1])
        if rng.random() < 0.3:
            status, _, _ = await self.call(
                "POST /wallet/orders/<id>/dev",
                "POST",
                f"/wallet/orders/{order_id}/dev",
                ip=me.ip,
                cookie=me.cookie,
                data={"outcome": "pay", "csrf_token": me.csrf},
            )
            if status == 303:
                self.tally.paid_orders.add(order_id)
            return order_id
        body = json.dumps(
            {
                "id": f"evt_drill_{uuid.uuid4().hex[:16]}",
                "type": "payment.succeeded",
                "order_id": order_id,
                "payment_id": f"devpay_{order_id}",
                "amount_minor": self.prices[pack],
                "currency": "USD",
            },
            sort_keys=True,
        ).encode()
        for _ in range(2 if rng.random() < 0.2 else 1):
            status, _, _ = await self.call(
                "POST /webhooks/dev",
                "POST",
                "/webhooks/dev",
                ip="198.51.100.7",  # the provider's address
                data=body,
                headers={"Content-Type": "application/json", "X-Amora-Signature": self.sign(body)},
            )
            if status == 200:
                self.tally.paid_orders.add(order_id)
        return order_id

    # An anonymous visitor: the endpoints an attacker hammers, each from a fresh address.

    async def visitor(self, rng: random.Random) -> None:
        actions = [(self.sign_up, 3), (self.log_in, 5), (self.forgot, 3)]
        functions, weights = zip(*actions, strict=True)
        while not self.stop.is_set():
            await rng.choices(functions, weights)[0](rng)
            await asyncio.sleep(rng.uniform(0.5, 1.5))

    def _visitor_ip(self, rng: random.Random) -> str:
        return f"203.0.{rng.randrange(113, 114)}.{rng.randrange(1, 255)}"

    async def sign_up(self, rng: random.Random) -> None:
        cookie, token = anonymous_cookie(self.app)
        await self.call(
            "POST /signup",
            "POST",
            "/signup",
            ip=self._visitor_ip(rng),
            cookie=cookie,
            data={
                "email": f"new-{uuid.uuid4().hex[:12]}@{DOMAIN}",
                "display_name": "New Member",
                "date_of_birth": "1994-06-15",
                "password": f"Plum-harbour-{uuid.uuid4().hex[:10]}",
                "csrf_token": token,
            },
        )

    async def log_in(self, rng: random.Random) -> None:
        cookie, token = anonymous_cookie(self.app)
        member = rng.choice(self.world.logins)
        right = rng.random() < 0.5
        await self.call(
            "POST /login (right)" if right else "POST /login (wrong)",
            "POST",
            "/login",
            ip=self._visitor_ip(rng),
            cookie=cookie,
            data={
                "email": member.email,
                "password": PASSWORD if right else "not-the-password-1",
                "csrf_token": token,
            },
        )

    async def forgot(self, rng: random.Random) -> None:
        cookie, token = anonymous_cookie(self.app)
        email = (
            rng.choice(self.world.logins).email
            if rng.random() < 0.5
            else f"nobody-{uuid.uuid4().hex[:8]}@{DOMAIN}"
        )
        await self.call(
            "POST /forgot",
            "POST",
            "/forgot",
            ip=self._visitor_ip(rng),
            cookie=cookie,
            data={"email": email, "csrf_token": token},
        )

    # Chat pages opening their socket.

    async def sockets(self, rng: random.Random) -> None:
        import aiohttp

        while not self.stop.is_set():
            me = rng.choice(self.world.fans)
            t = self.tally.now()
            try:
                async with self.http.ws_connect(
                    f"{self.base.replace('http', 'ws', 1)}/ws",
                    headers={"Cookie": f"session={me.cookie}", "X-Forwarded-For": me.ip},
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                ) as ws:
                    await ws.send_str(json.dumps({"type": "hello", "last_id": 0}))
                    ready = await self._wait_ready(ws, 10)
                    self.tally.record("WS /ws", t, 101 if ready else None, "no ready in 10 s")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._read(ws), rng.uniform(1, 4))
            except aiohttp.WSServerHandshakeError as exc:
                self.tally.record("WS /ws", t, exc.status, exc.message)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.tally.record("WS /ws", t, None, repr(exc))
            await asyncio.sleep(rng.uniform(0.2, 1.0))

    @staticmethod
    async def _wait_ready(ws, seconds: float) -> bool:
        import aiohttp

        async def ready() -> bool:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return False
                if json.loads(msg.data).get("type") == "ready":
                    return True
            return False

        try:
            return await asyncio.wait_for(ready(), seconds)
        except TimeoutError:
            return False

    @staticmethod
    async def _read(ws) -> None:
        async for _ in ws:
            pass

    async def watch_health(self) -> None:
        while not self.stop.is_set():
            status, text, _ = await self.call("GET /healthz", "GET", "/healthz", ip="127.0.0.1")
            with contextlib.suppress(ValueError):
                state = json.loads(text)["status"] if status else "unreachable"
                if not self.tally.health or self.tally.health[-1][1] != state:
                    self.tally.health.append((round(self.tally.now(), 1), state))
            await asyncio.sleep(1)


async def run_load(args, base: str, app, world: World, servers: Servers, sign, prices) -> Tally:
    import aiohttp

    tally = Tally(kill_at=args.kill_at, restart_at=args.restart_at)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        load = Load(http, base, app, world, tally, sign, prices)
        tally.started = time.monotonic()
        tasks = [asyncio.create_task(load.watch_health())]
        for n, fan in enumerate(world.fans[: args.fans]):
            tasks.append(asyncio.create_task(load.fan(fan, random.Random(n))))
        for n in range(args.visitors):
            tasks.append(asyncio.create_task(load.visitor(random.Random(1000 + n))))
        for n in range(args.sockets):
            tasks.append(asyncio.create_task(load.sockets(random.Random(2000 + n))))

        async def at(t: float, what: str, action) -> None:
            await asyncio.sleep(max(0.0, t - tally.now()))
            await asyncio.to_thread(action)
            tally.events.append((round(tally.now(), 1), what))
            print(f"t={tally.now():5.1f} s  {what}", flush=True)

        chaos = [
            at(args.kill_at, "Redis killed (SIGKILL)", servers.redis.kill),
            at(args.restart_at, "Redis started again, empty", servers.start_redis),
        ]
        if args.kill_worker_at:
            chaos.append(
                at(
                    args.kill_worker_at,
                    "worker killed (SIGKILL) and started again",
                    lambda: (servers.kill(servers.worker), servers.start_worker()),
                )
            )
        chaos_tasks = [asyncio.create_task(c) for c in chaos]
        await asyncio.sleep(args.seconds)
        load.stop.set()
        await asyncio.gather(*chaos_tasks)
        await asyncio.gather(*tasks)
    tally.events.append((round(tally.now(), 1), "load stopped"))
    return tally


# --- the report ---------------------------------------------------------------------------------


def print_requests(tally: Tally) -> tuple[int, int]:
    """The table of requests; returns (5xx, transport errors)."""
    print(
        f"\nrequests by endpoint, phase (before < {tally.kill_at:.0f} s ≤ during < "
        f"{tally.restart_at:.0f} s ≤ after) and status class:"
    )
    header = f"{'endpoint':<30}" + "".join(f"{p:>26}" for p in PHASES)
    print(header)
    print(" " * 30 + "".join(f"{'2xx 3xx 4xx 5xx err':>26}" for _ in PHASES))
    totals = collections.Counter()
    for label in sorted(tally.counts):
        row = tally.counts[label]
        cells = []
        for phase in PHASES:
            cells.append(" ".join(f"{row[(phase, kind)]:>3}" for kind in CLASSES))
            for kind in CLASSES:
                totals[(phase, kind)] += row[(phase, kind)]
        print(f"{label:<30}" + "".join(f"{c:>26}" for c in cells))
    cells = [" ".join(f"{totals[(p, k)]:>3}" for k in CLASSES) for p in PHASES]
    print(f"{'all':<30}" + "".join(f"{c:>26}" for c in cells))
    errors_5xx = sum(totals[(p, "5xx")] for p in PHASES)
    transport = sum(totals[(p, "error")] for p in PHASES)
    requests = sum(totals.values())
    print(f"{requests} requests; 5xx {errors_5xx}; transport errors {transport}")
    for phase in PHASES:
        ms = sorted(tally.latencies[phase])
        if ms:
            print(
                f"  HTTP latency {phase:<6}: p50 {ms[len(ms) // 2]:.0f} ms, "
                f"p95 {ms[int(len(ms) * 0.95)]:.0f} ms, max {ms[-1]:.0f} ms ({len(ms)} answers)"
            )
    for sample in tally.failures[:10]:
        print("  failure:", sample)
    return errors_5xx, transport


def job_report(database_url: str) -> dict:
    import psycopg

    with psycopg.connect(database_url) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM background_jobs GROUP BY status").fetchall()
        )
        by_path = conn.execute(
            "SELECT path, status, count(*), sum(dispatches) FROM background_jobs "
            "GROUP BY path, status ORDER BY path, status"
        ).fetchall()
        redispatched = conn.execute(
            "SELECT count(*) FROM background_jobs WHERE dispatches > 0"
        ).fetchone()[0]
        stuck = conn.execute(
            "SELECT id, path, status, attempts, dispatches, last_error FROM background_jobs "
            "WHERE status <> 'done' ORDER BY id LIMIT 10"
        ).fetchall()
        mail = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    return {
        "statuses": statuses,
        "by_path": by_path,
        "redispatched": redispatched,
        "stuck": stuck,
        "mail": mail,
    }


def pending_jobs(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM background_jobs WHERE status = 'pending'"
        ).fetchone()[0]


def orders_not_paid(database_url: str, order_ids: set[int]) -> list:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, status FROM orders WHERE id = ANY(%s) AND status <> 'paid'",
            (sorted(order_ids),),
        ).fetchall()


def main() -> None:  # noqa: PLR0915 (one drill, read top to bottom)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=150, help="length of the load")
    parser.add_argument("--kill-at", type=float, default=30, help="Redis gets SIGKILL (s)")
    parser.add_argument("--restart-at", type=float, default=90, help="Redis starts again (s)")
    parser.add_argument(
        "--kill-worker-at", type=float, default=120, help="worker SIGKILL + restart (s; 0: never)"
    )
    parser.add_argument("--fans", type=int, default=24, help="fans browsing and paying at once")
    parser.add_argument("--visitors", type=int, default=2, help="anonymous visitors at once")
    parser.add_argument("--sockets", type=int, default=4, help="chat pages opening /ws at once")
    parser.add_argument("--creators", type=int, default=6)
    parser.add_argument("--drain", type=float, default=240, help="seconds to wait for jobs")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    args = parser.parse_args()

    import psycopg
    import redis as redis_client

    workdir = Path(tempfile.mkdtemp(prefix="amora-outage-"))
    name = f"amora_outage_{uuid.uuid4().hex[:8]}"
    database_url = f"{args.pg_admin_url.rsplit('/', 1)[0]}/{name}"
    redis_port, web_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FLASK_APP": "app:create_app",
        "INSTANCE_DIR": str(workdir / "instance"),
        "APP_ENV": "development",  # the dev payment provider (see the docstring)
        "SECRET_KEY": SECRET,
        "DEV_PAYMENTS": "1",
        "RATELIMIT_ENABLED": "1",
        "TRUST_PROXY_HOPS": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BASE_URL": base,
    }
    for key in ("SMTP_URL", "S3_BUCKET", "STRIPE_SECRET_KEY", "RAZORPAY_KEY_ID"):
        env.pop(key, None)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    busy = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True).returncode == 0
    print(f"run directory {workdir}; database {name}; Redis :{redis_port}; web :{web_port}")
    if busy:
        print("note: pytest is running on this machine: latencies are not for keeping")

    with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    servers = Servers(workdir, env, redis_port, web_port)
    failed: list[str] = []
    try:
        migrated = flask_command(env, "db", "upgrade")
        if migrated.returncode:
            raise SystemExit(f"flask db upgrade failed:\n{migrated.stderr[-2000:]}")
        servers.start_redis()
        servers.start_worker()
        servers.start_web()

        from app import create_app
        from services.payments.dev import sign

        app = create_app()
        started = time.monotonic()
        world = seed(app, base, args.creators, max(args.fans, 4), 6)
        prices = {p["id"]: p["prices"]["USD"] for p in app.config["CREDIT_PACKS"]}

        def signed(body: bytes) -> str:
            with app.app_context():
                return sign(body)

        async def first_credits() -> None:
            import aiohttp

            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
                load = Load(http, base, app, world, Tally(started=time.monotonic()), signed, prices)
                rng = random.Random(0)
                for fan in world.fans:
                    order = None
                    while order is None or order not in load.tally.paid_orders:
                        order = await load.buy(fan, rng, "pack-1000")

        asyncio.run(first_credits())
        print(
            f"seeded {len(world.creators)} creators ({len(world.ppv_posts)} PPV posts), "
            f"{len(world.fans)} fans with 1000 credits bought by webhook, "
            f"{len(world.logins)} accounts to log in to, in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        load_before = Path("/proc/loadavg").read_text().split()[0]
        tally = asyncio.run(run_load(args, base, app, world, servers, signed, prices))

        print(f"\ndrill: {args.seconds:.0f} s of load, load average before {load_before}")
        for t, what in tally.events:
            print(f"  t={t:6.1f} s  {what}")
        print("  /healthz: " + ", ".join(f"{state} from t={t:.0f} s" for t, state in tally.health))
        errors_5xx, transport = print_requests(tally)
        if errors_5xx:
            failed.append(f"{errors_5xx} × 5xx")
        if transport:
            failed.append(f"{transport} transport errors")

        drain_started = time.monotonic()
        left = pending_jobs(database_url)
        while left and time.monotonic() - drain_started < args.drain:
            time.sleep(5)
            left = pending_jobs(database_url)
        print(f"\njob outbox drained in {time.monotonic() - drain_started:.0f} s ({left} pending)")
        jobs = job_report(database_url)
        written = sum(jobs["statuses"].values())
        done = jobs["statuses"].get("done", 0)
        print(
            f"jobs written {written}, done {done}, pending {jobs['statuses'].get('pending', 0)}, "
            f"failed {jobs['statuses'].get('failed', 0)}; "
            f"{jobs['redispatched']} dispatched again by the sweeper"
        )
        for path, status, count, dispatches in jobs["by_path"]:
            print(f"  {path:<45} {status:<8} {count:>5}  (re-dispatches {dispatches or 0})")
        for row in jobs["stuck"]:
            print("  not done:", row)
        if done != written:
            failed.append(f"{written - done} jobs not done")
        delivered = sum(n for s, n in jobs["mail"].items() if s in ("sent", "logged"))
        mail_rows = sum(jobs["mail"].values())
        print(f"mail: {mail_rows} rows, {delivered} delivered ({jobs['mail']})")
        if delivered != mail_rows:
            failed.append(f"{mail_rows - delivered} mails not delivered")
        unpaid = orders_not_paid(database_url, tally.paid_orders)
        print(f"orders whose payment was accepted: {len(tally.paid_orders)}; not paid: {unpaid}")
        if unpaid:
            failed.append(f"{len(unpaid)} accepted payments not credited")

        verify = flask_command(env, "ledger", "verify")
        print(f"flask ledger verify: exit {verify.returncode}: {verify.stdout.strip()[-300:]}")
        if verify.returncode:
            failed.append("ledger verify failed")

        import requests

        health = requests.get(f"{base}/healthz", timeout=10).json()
        print(f"/healthz now: {health['status']} ({health.get('redis')})")
        if health["status"] != "ok":
            failed.append(f"/healthz says {health['status']}")
        limits = redis_client.Redis(port=redis_port).keys("LIMITS*")
        print(f"rate limits back in Redis: {len(limits)} LIMITS* keys in the restarted Redis")
        if not limits:
            failed.append("rate limits did not go back to Redis")
        print(f"servers started: {dict(servers.starts)}; gunicorn never restarted")
        print("\n" + ("BAR MET" if not failed else "BAR NOT MET: " + "; ".join(failed)))
    finally:
        servers.stop_all()
        with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.keep_logs or failed:
            print(f"logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
