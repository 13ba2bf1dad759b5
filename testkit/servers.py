"""Servers of our own, started on a free port and killed at will: the fault tests and the outage
drill (bench/outage.py) kill Redis in the middle of their work."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis as redis_lib

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A Redis server which may be killed (SIGKILL, like a crash or an OOM kill) and started
    again on the same port. It keeps nothing on disk, so it always comes back empty."""

    def __init__(self, port: int | None = None, *, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        output = subprocess.DEVNULL
        if self.log is not None:
            output = self.log.open("a")
            output.write(f"\n--- start at {time.strftime('%H:%M:%S')}\n")
            output.flush()
        try:
            self.process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        finally:
            if self.log is not None:
                output.close()
        client = redis_lib.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis_lib.RedisError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"our Redis on port {self.port} did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def keys(self, pattern: str) -> list[bytes]:
        return redis_lib.Redis.from_url(self.url).keys(pattern)
