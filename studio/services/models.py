"""The one engine the whole studio shares: which model is loaded, what new forms start from, speed, and stop."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from studio.access.offered import Offered
from studio.finish.runs import Enlarger, LanczosOnly, Renderer
from studio.recipe import Recipe
from studio.sizes import Sampling, sampling_for_new_family, size_for_new_family


class Engine(Renderer, Protocol):
    """What the studio needs from studio.engine.Engine (kept abstract so that no module above it needs torch):
    its one run (`generate`, see studio.finish.runs.Renderer), and stopping and loading."""

    def request_stop(self, owner: str | None = None) -> None:
        """Stop `owner`'s run (a session folder, studio.progress.RUN_OWNER; None: whoever's)."""
        ...

    def runs_ahead(self, owner: str | None) -> int | None:
        """How many runs (or loads, or trainings) the engine takes before `owner`'s waiting run, the one it runs now
        included; None when nothing of `owner`'s waits, or while a run of `owner`'s is under way (two tabs of one
        session share an owner, and a run under way must never be told that it waits)."""
        ...

    def load(self, model: str) -> None: ...

    @property
    def model(self) -> str | None: ...

    @property
    def family(self) -> str | None:
        """The loaded model's family, "SD 1.5" or "SDXL" (read from its files)."""
        ...

    @property
    def speed(self) -> str:
        """Fast (compiled) or eager, and why, in the artist's words."""
        ...

    def take_speed_notice(self) -> str | None:
        """Once: why the fast path turned itself off during a run (None when it did not)."""
        ...

    @property
    def model_note(self) -> str | None:
        """What the artist should know of the loaded model beyond its family (a Fill model's limits), or None."""
        ...

    def warm_up(self, recipe: Recipe) -> None:
        """Compile the fast path's kernels for `recipe`'s size ahead of the artist's first run (nothing when eager)."""
        ...


class Models:
    """The engine and the upscalers, app-wide: one model loaded at a time, for every session.

    `defaults` is what a new form (or an API request that leaves fields out) starts from; loading a model in
    the window moves it there, at a size the model's family suits.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        defaults: Recipe | None = None,
        upscalers: Enlarger | None = None,
        offered: Offered | None = None,
    ) -> None:
        self.engine = engine
        # Upscaler models from the upscalers folder (studio/engine/upscalers.py); None: Lanczos only.
        self.upscalers: Enlarger = upscalers or LanczosOnly()
        # Shared (--share, --listen): the models a request may name; None locally, where paths work.
        self.offered = offered
        self._defaults = defaults or Recipe()
        self._lock = threading.Lock()
        self._stops: dict[str | None, float] = {}  # when Stop was last pressed, by whose runs it was for

    @property
    def defaults(self) -> Recipe:
        return self._defaults

    def load(self, model: str) -> None:
        """Load `model` (raises ModelError with advice); new recipes default to it, at a size its family suits.

        Where the fast path is on, the new model is compiled here, at the defaults' size (seconds from the
        disk cache, about a minute the first time), not in the artist's next run."""
        if self.offered is not None:
            self.offered.check_model(model)
        with self._lock:
            old_family = self.family
            self.engine.load(model)
            old_size = (self._defaults.width, self._defaults.height)
            (width, height), _ = size_for_new_family(old_size, old_family, self.family)
            defaults = self._defaults
            sampling, _ = sampling_for_new_family(
                Sampling(defaults.sampler, defaults.scheduler, defaults.cfg_scale), old_family, self.family
            )
            self._defaults = defaults.replace(
                model=model,
                width=width,
                height=height,
                sampler=sampling.sampler,
                scheduler=sampling.scheduler,
                cfg_scale=sampling.cfg_scale,
            )
        self.engine.warm_up(self._defaults)

    def prepare(self, model: str) -> None:
        """Load `model` for callers that name it in each request (the A1111 API); the window's defaults stay."""
        if self.offered is not None:
            self.offered.check_model(model)
        self.engine.load(model)

    def stop(self, owner: str | None = None) -> None:
        """Stop `owner`'s run (a session folder; None: whoever's) at its next step, or before it starts if it waits;
        an upscaler stops at its next tile. A job of many runs (a grid) sees it between runs (`stop_asked`)."""
        self._stops[owner] = time.monotonic()
        self.engine.request_stop(owner)
        self.upscalers.request_stop()

    def runs_ahead(self, owner: str) -> int | None:
        """How many runs come before `owner`'s (a session folder) in the engine's line (None: it is not in it)."""
        return self.engine.runs_ahead(owner)

    def stop_asked(self, owner: str | None, since: float) -> bool:
        """Whether Stop was pressed for `owner` (or for everyone) after `since` (time.monotonic())."""
        return max(self._stops.get(owner, -1.0), self._stops.get(None, -1.0)) > since

    def upscaler_names(self) -> list[str]:
        """The upscalers an upscale can name: Lanczos, then the upscalers folder's model files."""
        return self.upscalers.names()

    @property
    def model(self) -> str | None:
        return self.engine.model

    @property
    def family(self) -> str | None:
        return self.engine.family

    @property
    def speed(self) -> str:
        return self.engine.speed

    def take_speed_notice(self) -> str | None:
        return self.engine.take_speed_notice()

    @property
    def model_note(self) -> str | None:
        return self.engine.model_note
