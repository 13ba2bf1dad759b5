"""Latency of the most visited pages through the full WSGI stack (no network).

Usage: .venv/bin/python bench/pages.py [--requests N] [--database-url URL]
Creates a throwaway SQLite database (or uses --database-url, which it migrates and fills).
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from services import demo
    from services.demo import DEMO_DOMAIN, DEMO_PASSWORD

    url = args.database_url or f"sqlite:///{os.environ['INSTANCE_DIR']}/bench.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "EMBEDDED_SCHEDULER": False,
        }
    )
    with app.app_context():
        upgrade()
        demo.seed()
    client = app.test_client()
    client.post("/login", data={"email": f"fan1@{DEMO_DOMAIN}", "password": DEMO_PASSWORD})
    anonymous = app.test_client()
    cases = {
        "GET / (anonymous)": lambda: anonymous.get("/"),
        "GET / (logged in)": lambda: client.get("/"),
        "GET /settings": lambda: client.get("/settings"),
        "GET /healthz": lambda: anonymous.get("/healthz"),
    }
    print(f"{'page':<22} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    for name, call in cases.items():
        for _ in range(20):
            call()
        samples = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = call()
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (name, response.status_code)
        print(
            f"{name:<22} {statistics.median(samples):8.2f} {percentile(samples, 0.95):8.2f} "
            f"{1000 / statistics.mean(samples):8.0f}"
        )


if __name__ == "__main__":
    main()
