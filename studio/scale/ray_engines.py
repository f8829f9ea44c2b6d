"""Engines on a Ray cluster (`--ray ADDRESS`): one actor per GPU, each a studio engine in its own process.

The window, the history and the files stay on the machine that serves the window: an actor gets a run's recipe
and pictures, and gives back the pictures it made; the session writes them, as for an engine of its own. Each actor
is an `Engine` here (`RayEngine`), so the pool (studio/scale/pool.py) spreads runs over them as over local GPUs.
An actor that dies mid-run raises `WorkerLost`: the pool tries the run once more on another engine, and nothing of
the lost run is recorded. Ray is imported only when a cluster is asked for.
"""

from __future__ import annotations

from typing import Any

from studio.errors import WorkerLost
from studio.progress import RUN_OWNER, StepProgress
from studio.recipe import Recipe

# How often the serving side asks a worker for its run's latest step (a preview in the window's progress line).
STEP_POLL_SECONDS = 0.1


class EngineWorker:
    """The actor's side: a studio engine (studio.engine.factory.make_engine) in the worker's process."""

    def __init__(self, options: dict[str, Any]) -> None:
        import torch

        from studio.engine.factory import make_engine

        torch.set_num_threads(int(options.pop("threads", 0)) or torch.get_num_threads())
        self.engine = make_engine(**options)
        self._latest: tuple[int, StepProgress] | None = None  # the run's last step, numbered: what is new

    def load(self, model: str) -> tuple[str | None, str | None, str]:
        self.engine.load(model)
        return self.describe()

    def describe(self) -> tuple[str | None, str | None, str]:
        return self.engine.model, self.engine.family, self.engine.speed

    def generate(self, recipe: Recipe, images: dict[str, Any], owner: str | None, live: bool, report: bool) -> list:
        RUN_OWNER.set(owner)  # the serving side's session: its Stop reaches this run
        control = {role: picture for role, picture in images.items() if role not in ("image", "mask")}
        self._latest = None

        def stepped(progress: StepProgress) -> None:
            self._latest = ((self._latest[0] if self._latest else 0) + 1, progress)

        return self.engine.generate(
            recipe,
            image=images.get("image"),
            mask=images.get("mask"),
            control_images=control,
            on_step=stepped if report else None,
            live=live,
        )

    def latest_step(self) -> tuple[int, StepProgress] | None:
        """The running run's last step (its number in the run, and the step with its preview), asked for while
        it runs: the actor takes two calls at once."""
        return self._latest

    def request_stop(self, owner: str | None) -> None:
        self.engine.request_stop(owner)


class RayEngine:
    """The serving side's handle on one actor: an `Engine` (studio/services/models.py) whose runs happen there."""

    def __init__(self, actor: Any, name: str) -> None:
        import ray

        self._ray = ray
        self._actor = actor
        self.name = name
        self._model, self._family, self._speed = ray.get(actor.describe.remote())

    def generate(self, recipe: Recipe, *, image=None, mask=None, control_images=None, on_step=None, live=False):
        """The actor's pictures for `recipe`; while it runs, its latest step (with its preview) goes to `on_step`
        every STEP_POLL_SECONDS, and Stop reaches it."""
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

        images = dict(control_images or {}) | {
            role: picture for role, picture in (("image", image), ("mask", mask)) if picture is not None
        }
        try:
            running = self._actor.generate.remote(recipe, images, RUN_OWNER.get(), live, on_step is not None)
            seen, finished = 0, False
            while on_step is not None and not finished:
                finished = bool(self._ray.wait([running], timeout=STEP_POLL_SECONDS)[0])
                # Once more when it has finished: the last step reaches the window even from a run shorter than
                # a poll (the engine is this run's until it returns here).
                latest = self._ray.get(self._actor.latest_step.remote())
                if latest is not None and latest[0] > seen:
                    seen = latest[0]
                    on_step(latest[1])
            pictures = self._ray.get(running)
        except RayTaskError as error:  # the engine's own refusal or failure: as if it ran here
            raise error.cause from None
        except (RayActorError, ActorDiedError, ActorUnavailableError) as error:
            raise WorkerLost(f"the engine on {self.name} stopped answering ({type(error).__name__})") from error
        self._model, self._family, self._speed = self._ray.get(self._actor.describe.remote())
        return pictures

    def runs_ahead(self, owner: str | None) -> int | None:
        """None: a run waits in the pool's line (studio/scale/pool.py), which hands each actor one run at a time."""
        return None

    def request_stop(self, owner: str | None = None) -> None:
        self._actor.request_stop.remote(owner)  # the actor takes it between steps (it runs two calls at once)

    def load(self, model: str) -> None:
        from ray.exceptions import RayTaskError

        try:
            self._model, self._family, self._speed = self._ray.get(self._actor.load.remote(model))
        except RayTaskError as error:
            raise error.cause from None

    @property
    def model(self) -> str | None:
        return self._model

    @property
    def family(self) -> str | None:
        return self._family

    @property
    def speed(self) -> str:
        return self._speed

    @property
    def model_note(self) -> str | None:
        return None

    def take_speed_notice(self) -> str | None:
        return None

    def warm_up(self, recipe: Recipe) -> None:
        return None


def ray_engines(
    count: int, options: dict[str, Any], *, gpus_each: float = 1.0, cpus_each: float = 1.0
) -> list[RayEngine]:
    """`count` engines as actors on the Ray cluster this process is connected to (`ray.init` first), each
    holding `gpus_each` GPUs (0 for CPU actors) and made with `make_engine(**options)` in its own process."""
    import ray

    worker = ray.remote(num_gpus=gpus_each, num_cpus=cpus_each, max_concurrency=2, max_restarts=0)(  # pyright: ignore[reportCallIssue]
        EngineWorker
    )
    actors = [worker.remote(dict(options)) for _ in range(count)]  # pyright: ignore[reportAttributeAccessIssue]
    return [RayEngine(actor, f"ray worker {number}") for number, actor in enumerate(actors, start=1)]
