"""gunicorn.conf.py: what every web worker does once it has started, checked in a process of its
own (it freezes the garbage collector's view of everything loaded, which a test run must not)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A worker that has started and then does nothing for 1.2 s: no allocations, so CPython's own
# trigger never fires; the worker's young collections must come anyway, about twice a second.
WORKER = textwrap.dedent(
    """
    import gc, importlib.util, sys, time

    spec = importlib.util.spec_from_file_location("worker_settings", sys.argv[1])
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)

    class Worker:  # the threaded worker's kind: no gevent here
        pass

    seen = []
    settings.post_worker_init(Worker())
    gc.callbacks.append(lambda phase, info: phase == "stop" and seen.append(info["generation"]))
    time.sleep(1.2)
    print(gc.get_freeze_count() > 0, gc.get_threshold()[2], seen.count(1), seen.count(2))
    """
)


def test_a_started_worker_collects_its_young_generations_on_a_schedule():
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(ROOT / "gunicorn.conf.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    frozen, full_every, middle, full = done.stdout.split()
    assert frozen == "True"  # what the app loaded is out of the collector's sight
    assert int(full_every) == 1000
    assert 2 <= int(middle) <= 3  # 0.5 s apart, with nothing allocated meanwhile
    assert int(full) == 0  # the old generation is left to the allocation count
