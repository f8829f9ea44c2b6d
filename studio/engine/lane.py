"""The one GPU lane: runs hold it one at a time, the artist's own runs before live ones.

A live run (live painting: a picture that follows each brush stroke) is a guess the artist looks at for a
moment; a run the artist pressed a button for is what they wait for. So the lane serves runs in the order they
asked, except that every pressed run goes before every live run, and a live run in progress gives way at its
next step as soon as a pressed run is waiting (`Lane.wanted`). Live runs of several sessions take turns in the
order they asked, so two artists painting live through one studio interleave fairly.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from studio.errors import GaveWay, GenerationStopped

Result = TypeVar("Result")


class Lane:
    """A first-come lock with two classes of runs: pressed (foreground) and live."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._holder: str | None = None  # whose run holds the lane (studio.progress.RUN_OWNER)
        self._tickets = itertools.count()
        self._waiting: dict[int, bool] = {}  # ticket -> live; dicts keep the order the tickets were taken in
        self._owners: dict[int, str | None] = {}  # ticket -> whose run waits with it
        self._cancelled: set[int] = set()

    @contextlib.contextmanager
    def hold(self, *, live: bool = False, owner: str | None = None) -> Iterator[None]:
        """Hold the lane for one run (or a load, or training), waiting for the runs ahead of this one. A run
        cancelled while it waits (`cancel`) raises GenerationStopped when its turn comes, without running."""
        with self._changed:
            ticket = next(self._tickets)
            self._waiting[ticket], self._owners[ticket] = live, owner
            try:
                self._changed.wait_for(lambda: ticket in self._cancelled or (not self._held and self._next() == ticket))
            finally:
                del self._waiting[ticket], self._owners[ticket]
                self._changed.notify_all()
            if ticket in self._cancelled:
                self._cancelled.discard(ticket)
                raise GenerationStopped("stopped before it started")
            self._held, self._holder = True, owner
        try:
            yield
        finally:
            with self._changed:
                self._held, self._holder = False, None
                self._changed.notify_all()

    def cancel(self, owner: str | None) -> bool:
        """Cancel `owner`'s waiting runs, and say whether the run holding the lane is one of theirs (`owner`
        None: whether anything holds it; nothing waiting is cancelled, as Stop always did)."""
        with self._changed:
            if owner is not None:
                self._cancelled |= {ticket for ticket, whose in self._owners.items() if whose == owner}
            self._changed.notify_all()
            return self._held and (owner is None or self._holder == owner)

    @property
    def waiting(self) -> list[str | None]:
        """Whose runs wait for the lane, in the order they will run (None: a load or training)."""
        with self._changed:
            return list(self._owners.values())

    def ahead(self, owner: str | None) -> int | None:
        """How many runs come before `owner`'s first waiting one, the one holding the lane included (None: nothing
        of `owner`'s waits)."""
        with self._changed:
            if self._held and self._holder == owner:
                # A run of `owner`'s holds the lane: which of its runs asks (its own, or another tab's that waits)
                # cannot be told apart by owner, and "waiting" must never be said of a run under way.
                return None
            order = self._turn_order()
            place = next((place for place, ticket in enumerate(order) if self._owners[ticket] == owner), None)
            return None if place is None else place + int(self._held)

    @property
    def wanted(self) -> bool:
        """Whether a pressed run is waiting: a live run in progress stops at its next step for it."""
        with self._changed:
            return any(not live for live in self._waiting.values())

    def _turn_order(self) -> list[int]:
        """The waiting tickets in the order they get the lane: pressed runs first, then live ones, each oldest first."""
        pressed = [ticket for ticket, live in self._waiting.items() if not live]
        return pressed + [ticket for ticket, live in self._waiting.items() if live]

    def _next(self) -> int:
        """The ticket whose turn it is."""
        return self._turn_order()[0]


class Halt:
    """Why a run stops before its last step: Stop pressed, or (a live run) a pressed run waiting for the lane."""

    def __init__(self, stop: threading.Event, lane: Lane | None) -> None:
        self._stop = stop
        self._lane = lane  # only for a live run
        self._gave_way = False

    @property
    def halted(self) -> bool:
        if self._lane is not None and not self._gave_way and self._lane.wanted:
            self._gave_way = True
        return self._gave_way or self._stop.is_set()

    def raise_if_halted(self) -> None:
        if self._gave_way:
            raise GaveWay("a live run gave way to a run the artist pressed")
        if self._stop.is_set():
            raise GenerationStopped("stopped")


class Worker:
    """One thread for every run, whichever of the server's threads asked for it.

    The window's handlers run on a pool of threads. PyTorch keeps per thread what a run builds around itself:
    on a GPU, the fast path's CUDA graphs (recorded again, with a memory pool of their own, on each new thread);
    on a CPU, a team of OpenMP threads that keeps spinning for a while after each run, slowing the next run on
    another thread (measured by bench/bench_live.py: a live picture took twice as long). One worker keeps one of each.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[], Result]) -> Result:
        """`work()` on the worker thread (the caller holds the lane, so it is the only work waiting)."""
        if threading.current_thread() is self._thread:
            return work()
        with self._started:
            if self._executor is None:  # started at the first run, not when the engine is made
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-engine")
                self._thread = self._executor.submit(threading.current_thread).result()
        return self._executor.submit(work).result()
