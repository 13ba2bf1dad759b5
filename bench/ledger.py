"""Throughput of concurrent ledger spends on PostgreSQL, compared with pgbench on the same server.

Usage: .venv/bin/python bench/ledger.py [--clients 8] [--processes 1] [--seconds 10] [--warmup 3]
           [--hot-buckets N] [--fans 200] [--creators 20] [--pg-admin-url URL] [--profile]

Creates two throwaway databases on the server of --pg-admin-url: one migrated and filled with
fans (with paid orders) and creators, one initialised by `pgbench -i -s 10`. Then --clients
threads each make tips (`ledger.spend` + commit) from a random fan to a random creator for
--seconds, and `pgbench -c <clients> -j 2 -T <seconds>` (TPC-B-like) runs on the other database.
Prints spends/s, latency, the ratio to pgbench tps (target ≥ 50 %) and the invariant check;
exits 1 when `ledger.verify()` finds a violation. Both databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
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

TARGET_RATIO = 0.50  # issue #25: half of pgbench
TPS_LINE = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# --- databases ------------------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def checkpoint(admin_url: str) -> None:
    """Flush the setup's dirty pages so that neither measured run pays for them."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute("CHECKPOINT")


def database_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def pgbench(admin_url: str, name: str, *arguments: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    command = ["pgbench", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    if url.username:
        command += ["-U", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    result = subprocess.run(
        [*command, *arguments, name], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(arguments)} failed:\n{result.stderr}")
    return result.stdout


def run_pgbench(admin_url: str, name: str, clients: int, seconds: int) -> float:
    output = pgbench(admin_url, name, "-c", str(clients), "-j", "2", "-T", str(seconds))
    match = TPS_LINE.search(output)
    if match is None:
        raise RuntimeError(f"no tps line in the pgbench output:\n{output}")
    return float(match.group(1))


# --- the ledger workload --------------------------------------------------------------------


def fill(app, fans: int, creators: int, credits: int) -> tuple[list[int], list[int]]:
    """System accounts first (as in production, they get the lowest ids), then people."""
    from extensions import db
    from services import ledger
    from testkit.ledger import paid_order
    from testkit.people import person

    with app.app_context():
        for bucket in range(app.config["LEDGER_HOT_BUCKETS"]):
            ledger.system_account("payments_clearing", bucket)
            ledger.system_account("platform_revenue", bucket)
        db.session.commit()
        creator_ids = []
        for _ in range(creators):
            creator = person("Creator", creator=True)
            ledger.user_account(creator.id, "earnings_pending")
            db.session.commit()
            creator_ids.append(creator.id)
        fan_ids = []
        for _ in range(fans):
            fan = person("Fan")
            paid_order(fan, credits)
            fan_ids.append(fan.id)
        db.session.remove()
    return fan_ids, creator_ids


class Profile:
    """Time spent in SQL statements, by the statement's first words (with --profile)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.time: dict[str, float] = collections.defaultdict(float)
        self.count: dict[str, int] = collections.defaultdict(int)
        self.local = threading.local()

    def install(self, engine) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            self.local.start = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            self.add(self.label(statement), time.perf_counter() - self.local.start)

    @staticmethod
    def label(statement: str) -> str:
        words = statement.split()
        verb = words[0].upper() if words else "?"
        if verb == "SELECT":
            table = words[words.index("FROM") + 1] if "FROM" in words else "?"
            where = " ".join(words[words.index("WHERE") + 1 :][:3]) if "WHERE" in words else ""
            return f"SELECT {table} WHERE {where}"
        if verb == "INSERT":
            return f"INSERT {words[2]}"
        if verb == "UPDATE":
            return f"UPDATE {words[1]}"
        return verb

    def add(self, label: str, seconds: float) -> None:
        with self.lock:
            self.time[label] += seconds
            self.count[label] += 1

    def report(self, spends: int, wall: float, clients: int) -> None:
        total = clients * wall
        print(f"\nSQL time per statement kind ({clients} clients × {wall:.1f} s = {total:.1f} s):")
        print(f"{'statement':<62} {'calls':>7} {'ms/call':>8} {'ms/spend':>9} {'share':>6}")
        for label, seconds in sorted(self.time.items(), key=lambda item: -item[1]):
            calls = self.count[label]
            print(
                f"{label[:62]:<62} {calls:7d} {seconds / calls * 1000:8.2f} "
                f"{seconds / max(spends, 1) * 1000:9.2f} {seconds / total:6.1%}"
            )


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, all) CPU ticks of the machine since boot, from /proc/stat (Linux only)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _pid_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def _backend_pids(app) -> list[int]:
    from sqlalchemy import text

    from extensions import db

    with app.app_context():
        pids = db.session.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
        db.session.remove()
    return list(pids)


class CpuMeter:
    """CPU used between start and stop: by the machine, by this process, by finished child
    processes (pgbench) and, when the server is local and readable, by the PostgreSQL backends
    serving the app's database."""

    def __init__(self, app=None) -> None:
        self.app = app
        self.wall = time.perf_counter()
        self.times = os.times()
        self.machine = _machine_ticks()
        self.backends = {pid: _pid_ticks(pid) for pid in _backend_pids(app)} if app else {}

    def stop(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.wall
        times = os.times()
        result: dict[str, float | None] = {
            "wall": wall,
            "cores": float(os.cpu_count() or 1),
            "process": times.user + times.system - self.times.user - self.times.system,
            "children": times.children_user
            + times.children_system
            - self.times.children_user
            - self.times.children_system,
            "machine": None,
            "backends": None,
        }
        machine = _machine_ticks()
        if machine and self.machine:
            busy, total = machine[0] - self.machine[0], machine[1] - self.machine[1]
            result["machine"] = busy / total * result["cores"] * wall if total else None
        if self.app is not None:
            used = 0
            for pid in set(self.backends) | set(_backend_pids(self.app)):
                end = _pid_ticks(pid)
                if end is None:
                    return result  # not readable (remote server?) or gone: no figure
                used += end - (self.backends.get(pid) or 0)
            result["backends"] = used / TICKS
        return result


def background_load(seconds: float = 1.0) -> float | None:
    """Cores busy on the machine while this script waits: other work skews every figure."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.stop()["machine"] / seconds if meter.machine else None


def describe_cpu(cpu: dict[str, float | None], operations: int, name: str) -> str:
    per = max(operations, 1)
    wall = cpu["wall"] or 1.0
    parts = []
    for label, key in (
        ("machine", "machine"),
        ("client process(es)", "process"),
        ("pgbench client", "children"),
        ("PostgreSQL backends", "backends"),
    ):
        if cpu[key] is not None and (key == "machine" or cpu[key] / wall >= 0.01):
            parts.append(
                f"{label} {cpu[key] / wall:.2f} cores = {cpu[key] / per * 1000:.2f} ms/{name}"
            )
    return f"  CPU ({cpu['cores']:.0f} cores): " + "; ".join(parts)


def run_spends(
    app,
    fan_ids,
    creator_ids,
    clients: int,
    seconds: float,
    profile: Profile | None,
    before_start=lambda: None,
):
    from extensions import db
    from services import ledger

    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: collections.Counter[str] = collections.Counter()
    errors_lock = threading.Lock()
    ready, go = threading.Barrier(clients + 1), threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        rng = random.Random(index)
        mine = latencies[index]
        with app.app_context():
            # Every client holds a connection at once before the clock starts, so that the
            # pool has them all open (and the backends are known, for the CPU figures).
            db.session.execute(db.select(1))
            ready.wait()
            db.session.commit()
            go.wait()
            n = 0
            while time.perf_counter() < deadline[0]:
                n += 1
                fan, creator = rng.choice(fan_ids), rng.choice(creator_ids)
                key = f"bench:{index}:{n}:{uuid.uuid4().hex[:8]}"
                began = time.perf_counter()
                try:
                    ledger.spend(fan, creator, rng.randint(1, 20), "tip", key)
                    if profile is not None:
                        commit_began = time.perf_counter()
                        profile.add("ledger.spend (call)", commit_began - began)
                    db.session.commit()
                    if profile is not None:
                        profile.add("COMMIT", time.perf_counter() - commit_began)
                except Exception as exc:  # counted and reported; the run goes on
                    db.session.rollback()
                    with errors_lock:
                        errors[type(exc).__name__] += 1
                    continue
                mine.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    before_start()  # other processes' clients are ready too
    meter = CpuMeter(app)
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    go.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = meter.stop()
    samples = [latency for mine in latencies for latency in mine]
    return samples, errors, wall, cpu


def run_spends_in_processes(
    config: dict,
    fan_ids,
    creator_ids,
    clients: int,
    processes: int,
    seconds: float,
    warmup: float = 0.0,
):
    """`run_spends` with the clients spread over `processes` forked processes (each its own app,
    engine and pool), as the production web processes of docs/deployment.md would spend. Each
    child reports its spends and its own CPU; the figures are summed."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    shares = [n for n in shares if n]
    start_together = context.Barrier(len(shares))

    def child(count: int) -> None:
        from app import create_app

        app = create_app(config)
        if warmup:
            run_spends(app, fan_ids, creator_ids, count, warmup, None)
        samples, errors, wall, cpu = run_spends(
            app, fan_ids, creator_ids, count, seconds, None, start_together.wait
        )
        results.put((samples, dict(errors), wall, cpu))

    children = [context.Process(target=child, args=(n,)) for n in shares]
    for one in children:
        one.start()
    try:
        reports = [results.get(timeout=seconds + 120) for _ in children]
    except Exception as exc:  # queue.Empty: a child died before reporting
        codes = [one.exitcode for one in children]
        raise SystemExit(f"a client process did not report (exit codes {codes})") from exc
    for one in children:
        one.join()
    samples = [latency for report in reports for latency in report[0]]
    errors: collections.Counter[str] = collections.Counter()
    for report in reports:
        errors.update(report[1])
    wall = max(report[2] for report in reports)
    cpus = [report[3] for report in reports]
    backends = [c["backends"] for c in cpus]
    cpu = {
        "wall": wall,
        "cores": cpus[0]["cores"],
        "process": sum(c["process"] for c in cpus),
        "children": None,
        "machine": max((c["machine"] or 0.0) for c in cpus) or None,
        # Each child reads every backend of the database: the same figure, not a share.
        "backends": None if None in backends else max(backends),
    }
    return samples, errors, wall, cpu


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="client processes the clients are spread over (2: the two web processes of "
        "docs/deployment.md, as pgbench's -j 2 runs two threads)",
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--warmup",
        type=float,
        default=3,
        help="seconds of spends first, not counted: the first spends create the hot buckets' "
        "rows and each connection prepares the statement",
    )
    parser.add_argument("--fans", type=int, default=200)
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--credits", type=int, default=100_000, help="credits bought per fan")
    parser.add_argument(
        "--hot-buckets", type=int, help="LEDGER_HOT_BUCKETS (default: the app's default)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="time SQL statements by kind (adds overhead; one process only). The spend's own "
        "statement runs on the driver cursor, unseen by SQLAlchemy's events: it is timed as "
        "the `ledger.spend` call",
    )
    args = parser.parse_args()
    if args.profile and args.processes > 1:
        parser.error("--profile measures one process: leave out --processes")

    from flask_migrate import upgrade

    from app import create_app
    from extensions import db
    from services import ledger

    suffix = uuid.uuid4().hex[:10]
    ledger_db, pgbench_db = f"amora_bench_{suffix}", f"amora_pgbench_{suffix}"
    created: list[str] = []
    try:
        for name in (ledger_db, pgbench_db):
            create_database(args.pg_admin_url, name)
            created.append(name)

        config = {
            "SQLALCHEMY_DATABASE_URI": database_url(args.pg_admin_url, ledger_db),
            "RATELIMIT_ENABLED": False,
            "EMBEDDED_SCHEDULER": False,
        }
        if args.hot_buckets is not None:
            config["LEDGER_HOT_BUCKETS"] = args.hot_buckets
        app = create_app(config)
        buckets = app.config["LEDGER_HOT_BUCKETS"]
        with app.app_context():
            upgrade()
        started = time.perf_counter()
        fan_ids, creator_ids = fill(app, args.fans, args.creators, args.credits)
        print(
            f"ledger database {ledger_db}: {len(fan_ids)} fans with {args.credits} credits, "
            f"{len(creator_ids)} creators, {buckets} hot bucket(s) "
            f"({time.perf_counter() - started:.1f} s)"
        )
        pgbench(args.pg_admin_url, pgbench_db, "-i", "-q", "-s", "10")
        print(f"pgbench database {pgbench_db}: initialised at scale 10")
        checkpoint(args.pg_admin_url)

        load = background_load()
        if load is not None:
            warning = ""
            if load > 0.2:
                warning = " — WARNING: something else is running, the figures are skewed"
            print(f"background load before the runs: {load:.2f} cores{warning}")

        profile = None
        if args.profile:
            profile = Profile()
            with app.app_context():
                profile.install(db.engine)
        if args.processes > 1:
            with app.app_context():
                db.engine.dispose()  # the children open their own connections
            samples, errors, wall, cpu = run_spends_in_processes(
                config,
                fan_ids,
                creator_ids,
                args.clients,
                args.processes,
                args.seconds,
                args.warmup,
            )
        else:
            if args.warmup:
                run_spends(app, fan_ids, creator_ids, args.clients, args.warmup, None)
            samples, errors, wall, cpu = run_spends(
                app, fan_ids, creator_ids, args.clients, args.seconds, profile
            )
        spends_per_s = len(samples) / wall
        print(
            f"\nledger.spend + commit, {args.clients} clients in {args.processes} process(es), "
            f"{wall:.1f} s: {len(samples)} spends, {spends_per_s:.0f} spends/s"
        )
        if samples:
            print(
                f"  latency p50 {percentile(samples, 0.5):.2f} ms, "
                f"p99 {percentile(samples, 0.99):.2f} ms"
            )
            print(describe_cpu(cpu, len(samples), "spend"))
        error_count = sum(errors.values())
        detail = ", ".join(f"{name} {count}" for name, count in errors.most_common())
        print(f"  errors: {error_count}" + (f" ({detail})" if detail else ""))
        if profile is not None:
            profile.report(len(samples), wall, args.clients)

        checkpoint(args.pg_admin_url)
        meter = CpuMeter()
        tps = run_pgbench(args.pg_admin_url, pgbench_db, args.clients, args.seconds)
        pgbench_cpu = meter.stop()
        print(f"\npgbench tpcb-like, -c {args.clients} -j 2 -T {args.seconds}: {tps:.0f} tps")
        print(describe_cpu(pgbench_cpu, round(tps * args.seconds), "transaction"))

        ratio = spends_per_s / tps if tps else 0.0
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(
            f"ratio spends/s ÷ pgbench tps: {ratio:.1%} ({verdict} the ≥ {TARGET_RATIO:.0%} target)"
        )

        with app.app_context():
            violations = ledger.verify()
            db.session.remove()
            db.engine.dispose()
        print(f"ledger.verify(): {len(violations)} violation(s)")
        for violation in violations[:20]:
            print(f"  {violation}")
        return 1 if violations else 0
    finally:
        for name in created:
            try:
                drop_database(args.pg_admin_url, name)
            except Exception as exc:  # report it, keep dropping the others
                print(f"could not drop {name}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
