"""A run's progress reaches the page at most a few times a second (studio/ui/running.py): each update costs the
page a walk of its widgets, and a fast GPU makes twenty steps in a quarter of a second."""

from __future__ import annotations

import time

from studio.ui.running import PROGRESS_EVERY, Finished, stream


def test_steps_faster_than_the_page_shows_the_first_and_then_the_result():
    def quick(on_step):
        for step in range(50):
            on_step(step)
        return "done"

    shown = list(stream(quick))
    assert shown[0] == 0 and shown[-1] == Finished("done")
    assert len(shown) <= 5  # not fifty updates (a stalled machine may let a few more through)


def test_slow_steps_are_each_shown_and_a_waiting_step_shows_when_its_turn_comes():
    def slow(on_step):
        for step in range(3):
            on_step(step)
            time.sleep(PROGRESS_EVERY * 1.5)
        return "done"

    assert list(stream(slow)) == [0, 1, 2, Finished("done")]

    def burst_then_pause(on_step):
        on_step("first")
        on_step("newest")  # comes before the page may be updated again: waits, then shows
        time.sleep(PROGRESS_EVERY * 3)
        return "done"

    assert list(stream(burst_then_pause)) == ["first", "newest", Finished("done")]
