"""gunicorn reads this file from the directory it starts in (the checkout): settings that hold
for every worker class. The worker class, workers and bind address are on the command line
(README, docs/deployment.md, `make run`)."""

import gc


def post_worker_init(worker):
    """Move everything the app has loaded by now (modules, templates, the app itself: some
    180,000 objects) out of the collector's sight. A full collection walks every tracked object;
    with them it stalled the process for 170–240 ms every few seconds under chat load, every
    open socket waiting (BENCHMARKS.md). They live as long as the process anyway."""
    gc.collect()
    gc.freeze()
