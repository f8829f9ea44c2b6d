"""A fake engine for wiring tests: the studio's `Engine` protocol (studio/services/models.py) without a model (as Krita AI Diffusion's mock client).

It checks its inputs with the real engine's `check_inputs`, reports every step, stops when asked, and
paints each picture one flat colour drawn from the recipe and the picture's seed: the same recipe gives
the same pictures, another seed another colour. An inpaint keeps every pixel outside the mask. Tests
that claim something about real pixels (samplers, masks, LoRAs, control) use the tiny engine instead.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from PIL import Image, ImageChops

from studio.engine.engine import Engine
from studio.errors import GenerationStopped, ModelError
from studio.progress import StepProgress
from studio.recipe import Mode, Recipe


class FakeEngine:
    def __init__(self, model: str = "tiny") -> None:
        self._model: str | None = model
        self._stop = threading.Event()
        self._lane = threading.Lock()  # one run at a time, as the real engine's lane
        self.runs: list[Recipe] = []  # every recipe that ran, in order

    @property
    def model(self) -> str | None:
        return self._model

    @property
    def family(self) -> str | None:
        """Fakes of both families: a model named like fake/sdxl-... is SDXL."""
        if self._model is None:
            return None
        return "SDXL" if self._model.startswith("fake/sdxl") or self._model == "tiny-sdxl" else "SD 1.5"

    @property
    def speed(self) -> str:
        return "eager: a fake engine"

    def take_speed_notice(self) -> str | None:
        return None

    @property
    def model_note(self) -> str | None:
        return None

    def warm_up(self, recipe: Recipe) -> None:
        pass  # a fake engine runs eagerly

    def load(self, model: str) -> None:
        if model not in ("tiny", "tiny-sdxl") and not model.startswith("fake/"):
            raise ModelError(f"{model} is not in the local Hugging Face cache; try --model tiny")
        self._model = model

    def request_stop(self, owner: str | None = None) -> None:
        self._stop.set()

    def runs_ahead(self, owner: str | None) -> int | None:
        return None  # runs never wait here: each starts at once

    def generate(
        self,
        recipe: Recipe,
        *,
        image: Image.Image | None = None,
        mask: Image.Image | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        on_step: Callable[[Any], None] | None = None,
        live: bool = False,
    ) -> list[Image.Image]:
        Engine.check_inputs(recipe, image, mask, control_images)
        with self._lane:
            return self._run(recipe, image, mask, on_step)

    def _run(self, recipe: Recipe, image, mask, on_step) -> list[Image.Image]:
        self.load(recipe.model)
        self._stop.clear()
        for step in range(recipe.steps):
            if self._stop.is_set():
                raise GenerationStopped("stopped")
            if on_step is not None:
                on_step(StepProgress(step + 1, recipe.steps, None))
        self.runs.append(recipe)
        size = image.size if image is not None else (recipe.width, recipe.height)
        variation_seeds = recipe.variation_seeds() or [None] * recipe.batch_size
        pictures = [
            Image.new("RGB", size, _colour(recipe, seed, variation))
            for seed, variation in zip(recipe.seeds(), variation_seeds, strict=True)
        ]
        if image is not None and recipe.denoising_strength == 0:
            return [image.convert("RGB") for _ in pictures]
        if recipe.mode is Mode.INPAINT:
            pictures = [Image.composite(picture, image.convert("RGB"), mask.convert("L")) for picture in pictures]
        elif recipe.mode is Mode.IMG2IMG:
            pictures = [ImageChops.blend(image.convert("RGB"), p, recipe.denoising_strength) for p in pictures]
        return pictures


def _colour(recipe: Recipe, seed: int, variation: int | None) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{recipe.to_json()}|{seed}|{variation}".encode()).digest()
    return digest[0], digest[1], digest[2]


class GatedEngine(FakeEngine):
    """The fake engine, each run waiting for the test to let it through: progress is read between cells."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Semaphore(0)
        self.waiting = threading.Event()

    def generate(self, recipe: Recipe, **kwargs):
        self.waiting.set()
        if not self.gate.acquire(timeout=30):
            raise AssertionError("the test never let the run through")
        return super().generate(recipe, **kwargs)
