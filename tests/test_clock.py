"""The test clock (core/clock.py): freezes made by several threads at once end cleanly."""

from __future__ import annotations

import datetime as dt
import threading

from core import clock

AT = dt.datetime(2026, 5, 1, 9)


def test_freezes_that_end_out_of_order_leave_the_clock_running():
    """Two threads freeze the clock, the first to start ends first: once both have ended the
    clock runs again (a clock left frozen would make every later test's times wrong)."""
    entered, first_done = threading.Event(), threading.Event()

    def first():
        with clock.frozen(AT):
            entered.set()
            second_in.wait(5)
        first_done.set()

    second_in = threading.Event()

    def second():
        entered.wait(5)
        with clock.frozen(AT + dt.timedelta(days=1)):
            second_in.set()
            first_done.wait(5)
            assert clock.now() == AT + dt.timedelta(days=1)  # still frozen: its own freeze

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert abs(clock.now() - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(seconds=5)


def test_nested_freezes_and_advance():
    with clock.frozen(AT):
        with clock.frozen(AT + dt.timedelta(hours=1)):
            clock.advance(dt.timedelta(minutes=5))
            assert clock.now() == AT + dt.timedelta(hours=1, minutes=5)
        assert clock.now() == AT
        clock.advance(dt.timedelta(seconds=1))
        assert clock.now() == AT + dt.timedelta(seconds=1)
