"""The pages of the navigation, over HTTP, against the documented production worker.

One gunicorn process with the gevent worker (docs/deployment.md) serves Amora on the demo world;
`wrk` (Debian's package `wrk`) loads one page at a time at --connections connections for
--seconds, logged in as the demo fan (the creator for the creator's pages). Bare Flask answering
"hello" (`bench/hello.py`) runs under the same worker in the same run, before and after the
pages; each page's ratio is its req/s over the mean of those two. Every request carries a
browser's `Accept` header, as a navigation to a page does (a whole page reads the navigation
bar's counts with its member: blueprints/navigation.py, load_member). Also printed: p50 and p99
latency, the server's CPU per request, and any answer that was not a 2xx (a page that redirects
to /login would measure the wrong thing, so it stops the run).

Target (BENCHMARKS.md): every page ≥ 10 % of bare Flask, p99 ≤ 100 ms, on SQLite and PostgreSQL.
The server runs as configured for production, rate limiter included (in memory here: no page
GET has a limit of its own, so nothing is counted, but its hooks run on every request).

A reloaded Discover page pages through the member's kept search (docs/dating.md#kept-searches):
after the first request every request here is one. `DISCOVER_STACK_SECONDS=0` in the environment
(passed on to the server) makes every request search afresh, as a member's first page does.

Usage: .venv/bin/python bench/pages.py [--database sqlite|postgres] [--seconds 10]
           [--connections 32] [--only discover-match,feed,...]
       .venv/bin/python bench/pages.py --profile discover-match [--requests 300]
           (in-process through the WSGI test client under cProfile: where the time goes)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="amora-bench-"))
os.environ.setdefault("APP_ENV", "development")  # this process seeds; the server is production

SECRET = "bench-secret-key-" + uuid.uuid4().hex
GUNICORN = ["--worker-class", "gevent", "--workers", "1", "--worker-connections", "1000"]


@dataclass
class Page:
    name: str
    path: str
    who: str  # "fan" or "creator"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    bad: int
    timeouts: int  # requests wrk gave up on (2 s): not in the latency figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def worker_pid(master: int) -> int:
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = (child / "status").read_text().split("PPid:\t")[1].split()[0]
                if ppid == str(master):
                    return int(child.name)
    raise RuntimeError("gunicorn has no worker")


@contextlib.contextmanager
def gunicorn(target: str, env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """(port, worker pid) of a gunicorn serving `target` until the block ends."""
    port = free_port()
    with log.open("a") as out:
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN, target],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310
                break
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP answer: it is up
                    break
                time.sleep(0.2)
        yield port, worker_pid(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Chromium's
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNIT_MS[unit]


def wrk(url: str, cookie: str | None, seconds: float, connections: int) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    command[1:1] = ["-H", f"Accept: {ACCEPT}"]  # as a browser navigating to a page
    if cookie:
        command[1:1] = ["-H", f"Cookie: session={cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(0) if errors else "",
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def measure(name, url, cookie, pid, seconds, connections) -> Result:
    wrk(url, cookie, min(2.0, seconds), connections)  # warm-up: pools, caches, JIT of templates
    before = _ticks(pid)
    run = wrk(url, cookie, seconds, connections)
    cpu_ms = (_ticks(pid) - before) / os.sysconf("SC_CLK_TCK") * 1000 / max(run["requests"], 1)
    if run["errors"]:
        print(f"  {name}: {run['errors']}", flush=True)
    return Result(name, run["rps"], run["p50"], run["p99"], cpu_ms, run["bad"], run["timeouts"])


# --- the world ----------------------------------------------------------------------------------


def database_url(kind: str, pg_admin_url: str, stack: contextlib.ExitStack) -> str:
    if kind == "sqlite":
        return f"sqlite:///{os.environ['INSTANCE_DIR']}/bench.db"
    import psycopg

    name = f"amora_bench_pages_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    base = pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def build_world(url: str) -> tuple[object, dict[str, str], list[Page]]:
    """The demo world, a signed session cookie for the demo fan and creator, and the pages to
    measure."""
    from flask_migrate import upgrade
    from sqlalchemy import or_, select

    from app import create_app
    from extensions import db
    from models import Conversation, User
    from services import demo, messaging, sessions
    from services.demo import DEMO_DOMAIN

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "EMBEDDED_SCHEDULER": False}
    )
    with app.app_context():
        upgrade()
        demo.seed()
        fan = db.session.scalars(select(User).where(User.email == f"fan1@{DEMO_DOMAIN}")).one()
        creator = db.session.scalars(
            select(User).where(User.email == f"creator1@{DEMO_DOMAIN}")
        ).one()
        talk = db.session.scalars(
            select(Conversation).where(
                or_(Conversation.user_a_id == fan.id, Conversation.user_b_id == fan.id)
            )
        ).first()
        if talk is None:
            messaging.send(fan, creator.id, "Hello from the benchmark")
            other = creator.id
        else:
            other = talk.user_b_id if talk.user_a_id == fan.id else talk.user_a_id
        serializer = app.session_interface.get_signing_serializer(app)
        cookies = {}
        for who, person in (("fan", fan), ("creator", creator)):
            raw = sessions.start_session(person, "127.0.0.1", "bench/pages")
            cookies[who] = serializer.dumps(
                {"_user_id": str(person.id), "sid": raw, "_fresh": True, "csrf_token": "x"}
            )
        pages = [
            *[Page(f"discover-{s}", f"/discover?sort={s}", "fan") for s in demo_sorts()],
            Page("matches", "/matches", "fan"),
            Page("feed", "/feed", "fan"),
            Page("creator-page", f"/creators/{creator.id}", "fan"),
            Page("messages", "/messages", "fan"),
            Page("conversation", f"/messages/{other}", "fan"),
            Page("wallet", "/wallet", "fan"),
            Page("earnings", "/creator", "creator"),
            Page("settings", "/settings", "fan"),
        ]
        db.engine.dispose()
    return app, cookies, pages


def demo_sorts() -> tuple[str, ...]:
    from services.discover import SORTS

    return SORTS


# --- modes --------------------------------------------------------------------------------------


def over_http(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    with contextlib.ExitStack() as stack:
        url = database_url(args.database, args.pg_admin_url, stack)
        _app, cookies, pages = build_world(url)
        if args.only:
            pages = [p for p in pages if p.name in args.only.split(",")]
        log = Path(os.environ["INSTANCE_DIR"]) / "server.log"
        print(f"server log: {log}", flush=True)
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "APP_ENV": "production",
            "EMBEDDED_SCHEDULER": "0",
        }
        seconds, conns = args.seconds, args.connections
        results: list[Result] = []
        with gunicorn("bench.hello:app", {}, log) as (port, pid):
            results.append(
                measure("bare Flask", f"http://127.0.0.1:{port}/", None, pid, seconds, conns)
            )
        with gunicorn("app:create_app()", {**env, "BASE_URL": "http://127.0.0.1"}, log) as (
            port,
            pid,
        ):
            for page in pages:
                check = urllib.request.Request(
                    f"http://127.0.0.1:{port}{page.path}",
                    headers={"Cookie": f"session={cookies[page.who]}", "Accept": ACCEPT},
                )
                with urllib.request.urlopen(check) as answer:  # noqa: S310
                    if answer.url != check.full_url:
                        sys.exit(f"{page.name}: redirected to {answer.url}")
                result = measure(page.name, check.full_url, cookies[page.who], pid, seconds, conns)
                results.append(result)
                print(f"  {page.name}: {result.rps:.0f} req/s", flush=True)
        with gunicorn("bench.hello:app", {}, log) as (port, pid):
            results.append(
                measure("bare Flask", f"http://127.0.0.1:{port}/", None, pid, seconds, conns)
            )
    reference = (results[0].rps + results[-1].rps) / 2
    print(
        f"\n{args.database}, wrk -t2 -c{conns} -d{seconds}s, gunicorn {' '.join(GUNICORN)}; "
        f"bare Flask {results[0].rps:.0f} → {results[-1].rps:.0f} req/s"
    )
    header = ("page", "req/s", "ratio", "p50 ms", "p99 ms", "CPU ms", "non-2xx", "timeouts")
    print(f"{header[0]:<18}" + "".join(f"{h:>9}" for h in header[1:]))
    for r in results:
        print(
            f"{r.name:<18} {r.rps:9.0f} {r.rps / reference:9.1%} {r.p50_ms:9.2f} "
            f"{r.p99_ms:9.2f} {r.cpu_ms:9.2f} {r.bad:9d} {r.timeouts:9d}"
        )
    missed = [r.name for r in results[1:-1] if r.rps / reference < 0.10 or r.p99_ms > 100 or r.bad]
    print(
        "target (≥ 10 % of bare Flask, p99 ≤ 100 ms):",
        "met" if not missed else f"missed by {', '.join(missed)}",
    )


def in_process(args: argparse.Namespace) -> None:
    """One page through the WSGI test client under cProfile: the top functions by own and
    cumulative time."""
    import cProfile
    import pstats

    with contextlib.ExitStack() as stack:
        url = database_url(args.database, args.pg_admin_url, stack)
        app, cookies, pages = build_world(url)
        page = next(p for p in pages if p.name == args.profile)
        app.config.update(RATELIMIT_ENABLED=False)
        client = app.test_client()
        client.set_cookie("session", cookies[page.who])
        client.environ_base["HTTP_ACCEPT"] = ACCEPT
        for _ in range(30):
            assert client.get(page.path).status_code == 200
        start = time.perf_counter()
        for _ in range(args.requests):
            client.get(page.path)
        plain = (time.perf_counter() - start) / args.requests * 1000
        start = time.perf_counter()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            client.get(page.path)
        profiler.disable()
        took = (time.perf_counter() - start) / args.requests * 1000
        with app.app_context():
            from extensions import db

            db.engine.dispose()
    print(f"{page.name}: {plain:.2f} ms per request, {took:.2f} ms under the profiler")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", help="comma-separated page names")
    parser.add_argument("--profile", help="a page name: profile it in-process instead")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    (in_process if args.profile else over_http)(args)


if __name__ == "__main__":
    main()
