"""A run's progress reaches the page at most a few times a second (studio/ui/running.py): each update costs the
page a walk of its widgets, and a fast GPU makes twenty steps in a quarter of a second."""

from __future__ import annotations

import time

from studio.ui.running import PROGRESS_EVERY, QUIET, Finished, stream


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


def test_a_quiet_call_is_said_quiet_between_its_reports_and_never_instead_of_one():
    def waits_then_steps(on_step):
        time.sleep(0.35)  # waiting for the engine: nothing to report
        on_step("first")
        on_step("second")  # waits for its turn to be shown, longer than quiet_every: no QUIET in its place
        time.sleep(PROGRESS_EVERY * 3)
        return "done"

    shown = list(stream(waits_then_steps, quiet_every=0.05))
    first = shown.index("first")
    assert first >= 2 and all(item is QUIET for item in shown[:first])
    assert shown[first + 1] == "second"
    assert [item for item in shown if item is not QUIET] == ["first", "second", Finished("done")]
    assert QUIET not in list(stream(waits_then_steps))  # only when asked for
