"""Always the latest, never a queue: one session's live runs, coalesced.

Every change the artist makes asks for a live run on the canvas as it is then. At most one runs at a time per
session; changes that arrive meanwhile replace one another, and when the run ends the newest of them runs next
(one follow-up, however many changes came). A change that was replaced before it ran gets nothing back, so
its caller shows nothing; a run's picture is returned to the change that asked for it, and pictures come back
in the order the changes were made, so an older picture is never shown over a newer one.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from studio.errors import GaveWay

Result = TypeVar("Result")


class LivePainter(Generic[Result]):
    """Coalesces one session's live runs. `paint(run)` is called once per change, from any thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._numbers = itertools.count(1)
        self._pending: int | None = None  # the newest change that has not started its run
        self._running = False
        self.runs = 0  # live runs started: what the coalescing saves shows in tests and benchmarks

    def paint(self, run: Callable[[], Result]) -> Result | None:
        """`run()`'s picture once the session's run before it ended; None if a newer change came first.

        A run that gave way to a pressed run (GaveWay) runs again after it, unless a newer change came.
        """
        with self._changed:
            number = self._pending = next(self._numbers)
            self._changed.notify_all()  # the change waiting before this one is replaced: it returns None
            if not self._wait_for_turn(number):
                return None
        try:
            while True:
                self.runs += 1
                try:
                    return run()
                except GaveWay:
                    with self._changed:
                        if self._pending is not None:
                            return None  # a newer change runs instead, from the newest canvas
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()

    def _wait_for_turn(self, number: int) -> bool:
        """Inside the lock: wait until the lane of this session is free; False if a newer change came first."""
        while True:
            if self._pending != number:
                return False
            if not self._running:
                self._running, self._pending = True, None
                return True
            self._changed.wait()


class LivePainters:
    """Every session's painter, by session folder (sessions are opened afresh for each call)."""

    def __init__(self) -> None:
        self._painters: dict[Path, LivePainter] = {}
        self._lock = threading.Lock()

    def for_session(self, folder: Path) -> LivePainter:
        with self._lock:
            return self._painters.setdefault(folder, LivePainter())
