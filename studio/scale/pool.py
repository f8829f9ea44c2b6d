"""Several engines behind the one the studio talks to: one per GPU (`--gpus`), each with its own lane.

A run takes the first engine free, in the order runs arrive, preferring one that already holds the model the run
names (a model is loaded on an engine when a run needs it there, as a single engine does). Runs of different sessions
go in parallel, each on one engine; two runs never share an engine. The pool is an `Engine` itself
(studio/services/models.py), so nothing above it knows how many engines there are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from studio.errors import GenerationStopped, WorkerLost
from studio.progress import RUN_OWNER
from studio.recipe import Recipe
from studio.services.models import Engine

T = TypeVar("T")


@dataclass(frozen=True)
class Placement:
    """What one engine of the pool holds and does, for the Model panel."""

    name: str  # "cuda:0", "cpu", ...
    model: str | None
    busy: bool
    runs: int  # runs it has taken since the studio started


class EnginePool:
    """Engines taken one run at a time, first come first served; an `Engine` to the rest of the studio.

    `names`: each engine's device, as the Model panel shows it. The first engine is the pool's own: the model
    the artist loads is loaded there at once (the others load it when a run needs it), and training and other
    work that holds a lane run there (`first`)."""

    def __init__(self, engines: Sequence[Engine], names: Sequence[str] | None = None) -> None:
        if not engines:
            raise ValueError("a pool needs at least one engine")
        self.engines = list(engines)
        self.names = list(names or [f"engine {number}" for number in range(1, len(engines) + 1)])
        self._free = list(self.engines)
        self._queue: list[tuple[object, str | None]] = []  # the runs waiting, oldest first: a ticket and whose
        self._cancelled: set[object] = set()
        self._busy: dict[int, tuple[str | None, Engine]] = {}  # whose run each running thread carries, and where
        self._runs = {id(engine): 0 for engine in self.engines}
        self._changed = threading.Condition()

    @property
    def first(self) -> Engine:
        return self.engines[0]

    # --- the Engine protocol --------------------------------------------------------------------

    def generate(self, recipe: Recipe, **options: Any) -> list:
        """The pictures of `recipe` from the first free engine. An engine lost mid-run (a Ray worker that died:
        WorkerLost) leaves the pool, and the run is tried once more on another; nothing of the lost run is kept."""
        for attempt in (1, 2):
            with self.engine_for(recipe.model) as engine:
                try:
                    return engine.generate(recipe, **options)
                except WorkerLost:
                    self._retire(engine)
                    if attempt == 2 or not self.engines:
                        raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def request_stop(self, owner: str | None = None) -> None:
        """Stop `owner`'s runs (a session folder), running or waiting for an engine; None: every run in progress."""
        with self._changed:
            if owner is not None:
                self._cancelled |= {ticket for ticket, whose in self._queue if whose == owner}
            running = [engine for whose, engine in self._busy.values() if owner is None or whose == owner]
            self._changed.notify_all()
        for engine in running:
            engine.request_stop(owner)

    def runs_ahead(self, owner: str | None) -> int | None:
        """Waiting for an engine: the runs in line before `owner`'s, and those running. Holding one: what waits in
        that engine's own line before it (a load, a training)."""
        with self._changed:
            held = [engine for whose, engine in self._busy.values() if whose == owner]
            place = next((place for place, (_, whose) in enumerate(self._queue) if whose == owner), None)
            if not held:  # (with a run of `owner`'s under way, the asker may be that run: never say it waits)
                return None if place is None else place + len(self._busy)
        return next((ahead for engine in held if (ahead := engine.runs_ahead(owner)) is not None), None)

    def load(self, model: str) -> None:
        self.first.load(model)

    @property
    def model(self) -> str | None:
        return self.first.model

    @property
    def family(self) -> str | None:
        return self.first.family

    @property
    def speed(self) -> str:
        """The first engine's speed, and what each engine holds now ("cuda:1: sdxl-base (running)")."""
        if len(self.engines) == 1:
            return self.first.speed
        held = "; ".join(
            f"{place.name}: {place.model or 'no model yet'}{' (running)' if place.busy else ''}"
            for place in self.placements()
        )
        return f"{self.first.speed} · {len(self.engines)} engines, {held}"

    @property
    def model_note(self) -> str | None:
        return self.first.model_note

    def take_speed_notice(self) -> str | None:
        notices = [engine.take_speed_notice() for engine in self.engines]
        return next((notice for notice in notices if notice), None)

    def warm_up(self, recipe: Recipe) -> None:
        self.each(lambda engine: engine.warm_up(recipe))

    # --- the pool's own -------------------------------------------------------------------------

    @contextmanager
    def engine_for(self, model: str | None = None) -> Iterator[Engine]:
        """Hold a free engine (waiting in line for one), preferring one that holds `model`."""
        ticket, owner = object(), RUN_OWNER.get()
        with self._changed:
            self._queue.append((ticket, owner))
            while (
                self.engines and ticket not in self._cancelled and (self._queue[0][0] is not ticket or not self._free)
            ):
                self._changed.wait()
            self._queue.remove((ticket, owner))
            self._changed.notify_all()
            if not self.engines:
                raise WorkerLost("every engine of the pool has stopped answering; restart the studio")
            if ticket in self._cancelled:
                self._cancelled.discard(ticket)
                raise GenerationStopped("stopped before it started")
            engine = next((e for e in self._free if model is not None and e.model == model), self._free[0])
            self._free.remove(engine)
            self._busy[threading.get_ident()] = (owner, engine)
            self._runs[id(engine)] += 1
            self._changed.notify_all()
        try:
            yield engine
        finally:
            with self._changed:
                del self._busy[threading.get_ident()]
                if engine in self.engines:  # a retired engine does not come back
                    self._free.append(engine)
                self._changed.notify_all()

    def _retire(self, engine: Engine) -> None:
        with self._changed:
            index = self.engines.index(engine)
            del self.engines[index], self.names[index]
            self._changed.notify_all()

    def each(self, work: Callable[[Engine], T]) -> list[T]:
        """`work` on every engine, one after the other (a warm-up, a model everyone needs)."""
        return [work(engine) for engine in self.engines]

    def placements(self) -> list[Placement]:
        """What each engine holds and whether it is running now, in the pool's order."""
        with self._changed:
            busy = {id(engine) for _, engine in self._busy.values()}
        return [
            Placement(name, engine.model, id(engine) in busy, self._runs[id(engine)])
            for name, engine in zip(self.names, self.engines, strict=True)
        ]
