"""gunicorn reads this file from the directory it starts in (the checkout): settings that hold
for every worker class. The worker class, workers and bind address are on the command line
(README, docs/deployment.md, `make run`)."""

import gc
import threading
import time


def post_worker_init(worker):
    """Under gevent, psycopg waits for PostgreSQL on gevent's hub directly
    (core/connections.py, `cooperative_postgres_waits`).

    Move everything the app has loaded by now (modules, templates, the app itself: some
    180,000 objects) out of the collector's sight. A full collection walks every tracked object;
    with them it stalled the process for 170–240 ms every few seconds under chat load, every
    open socket waiting (BENCHMARKS.md). They live as long as the process anyway.

    Then make full collections rare: one per FULL_COLLECTION_EVERY middle-generation collections
    (CPython's default is one per ten). A full collection walks every tracked object, and open
    sockets add about 180 each (900,000 with 5,000 open): at the default pace it stalled the
    process for 0.4–0.6 s every 20 s under chat load, every socket waiting, a p99 of 0.4–1.3 s.
    The young generations are collected as before, so most garbage goes as soon as it did; what
    reaches the old generation (a closed socket's reference cycles) waits for the next full
    collection, minutes away under load (BENCHMARKS.md).

    And collect the young generations on a schedule of their own (`_young_collections`)."""
    if worker.__class__.__module__.startswith("gunicorn.workers.ggevent"):
        from core.connections import cooperative_postgres_waits  # noqa: PLC0415

        cooperative_postgres_waits()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    threading.Thread(target=_young_collections, name="young-collections", daemon=True).start()


FULL_COLLECTION_EVERY = 1000


def _young_collections():
    """Collect the two young generations every YOUNG_COLLECTION_SECONDS, whatever the
    allocation count says.

    CPython collects the youngest generation when its allocations exceed its deallocations by
    700, and the middle one every tenth time. An open socket replaces what it keeps between
    wake-ups (its wait's timer, the account it read) each time it wakes: a new object for each
    old one freed, so the count hardly moves while the young generation fills with live
    objects. With 5,000 sockets under chat load a young collection came once in seconds and
    walked 50,000–80,000 objects: 30–100 ms with every socket waiting, the largest part of
    the chat's p99 (BENCHMARKS.md). Collected twice a second, each pass walks a few thousand
    (1–10 ms). Under gevent this thread is a greenlet; either way the collector holds the
    interpreter while it runs, as it would at an allocation."""
    while True:
        time.sleep(YOUNG_COLLECTION_SECONDS)
        gc.collect(1)


YOUNG_COLLECTION_SECONDS = 0.5


def post_request(worker, req, environ, resp):
    """Under gevent, let every other ready connection have its turn before this one reads its
    next request. gevent switches greenlets only when one would block; a keep-alive client that
    sends its next request at once is served again and again while others wait: under load,
    bare Flask answered at a p50 of 0.5 ms and a p99 of 1.5 s, some requests timing out. With
    this yield, p99 20 ms at the same throughput (BENCHMARKS.md, the pages entry)."""
    if worker.__class__.__module__.startswith("gunicorn.workers.ggevent"):
        import gevent  # noqa: PLC0415 (only the gevent worker has it loaded)

        gevent.sleep(0)
