"""Finishing a picture: region fixes and upscales, as runs of the engine. No torch, no UI.

Each is made of the engine's ordinary runs, so every guarantee of those holds here too: a region is an
"only masked" inpaint (the picture outside its blurred mask comes back byte for byte), an SD upscale
tile is an img2img. Progress counts the steps of all the runs together; a stop ends the whole finish.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from PIL import Image

from studio.errors import InputError
from studio.finish.regions import region_mask
from studio.finish.upscaling import Blender, lanczos, ramp_weights, tile_boxes, upscaled_size
from studio.prepare import render_size
from studio.progress import StepProgress
from studio.recipe import LANCZOS, MAX_SEED, Mode, Recipe, RegionRef

StepCallback = Callable[[StepProgress], None]
# The role of the map of a finish's tile ControlNet ("keep structure"): the picture being repainted, so it is
# made again from the picture on every run and never stored apart.
STRUCTURE_MAP = "control-0"


class Renderer(Protocol):
    """The engine's one run: `recipe.batch_size` pictures from a recipe and its images."""

    def generate(
        self,
        recipe: Recipe,
        *,
        image: Image.Image | None = None,
        mask: Image.Image | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        on_step: StepCallback | None = None,
        live: bool = False,
    ) -> list[Image.Image]: ...


class Enlarger(Protocol):
    """Upscalers by name: Lanczos and model files (studio/engine/upscalers.py)."""

    def names(self) -> list[str]: ...

    def upscale(
        self,
        picture: Image.Image,
        upscaler: str,
        factor: float,
        *,
        tile: int = 256,
        on_tile: Callable[[int, int], None] | None = None,
    ) -> Image.Image: ...

    def request_stop(self) -> None: ...


class LanczosOnly:
    """The upscalers of a studio started without an upscalers folder: Lanczos, built in."""

    def names(self) -> list[str]:
        return [LANCZOS]

    def upscale(
        self,
        picture: Image.Image,
        upscaler: str,
        factor: float,
        *,
        tile: int = 256,
        on_tile: Callable[[int, int], None] | None = None,
    ) -> Image.Image:
        if upscaler != LANCZOS:
            raise InputError(f"upscaler: {upscaler} needs an upscalers folder; this studio has Lanczos only")
        return lanczos(picture, upscaled_size(picture.size, factor))

    def request_stop(self) -> None:
        pass  # Lanczos takes a moment: nothing to stop


def region_recipe(recipe: Recipe, region: RegionRef, index: int) -> Recipe:
    """The inpaint that re-renders one region: its own prompt and settings, the fix's model and sampler.

    Region i runs with seed + i, as ADetailer seeds its detections, so two hands do not get the same noise.
    """
    return recipe.replace(
        regions=(),
        prompt=region.prompt or recipe.prompt,
        negative_prompt=region.negative_prompt or recipe.negative_prompt,
        denoising_strength=region.denoising_strength,
        mask_blur=region.mask_blur,
        inpaint_padding=region.padding,
        batch_size=1,
        seed=(recipe.seed + index) % (MAX_SEED + 1),
    )


def region_masks(recipe: Recipe, picture: Image.Image, painted: Mapping[str, Image.Image]) -> list[Image.Image]:
    """Each region's mask on `picture`; ValueError for a region outside it or a painted mask that is missing."""
    masks = []
    for number, region in enumerate(recipe.regions, start=1):
        strength = region.denoising_strength
        if strength > 0 and int(recipe.steps * strength) < 1:
            raise InputError(
                f"region {number}: strength {strength:g} of {recipe.steps} steps repaints nothing; raise the strength "
                f"to {math.ceil(100 / recipe.steps) / 100:g} or the steps to {math.ceil(1 / strength - 1e-9)}"
            )
        right, bottom = region.box[2], region.box[3]
        if right > picture.width or bottom > picture.height:
            raise InputError(
                f"region {number}: its box reaches {right},{bottom}, outside the "
                f"{picture.width}x{picture.height} picture; mark it again on this picture"
            )
        if region.mask and region.mask not in painted:
            raise InputError(f"region {number}: its painted mask {region.mask!r} is missing")
        mask = region_mask(region, picture.size, painted.get(region.mask) if region.mask else None)
        if mask.getbbox() is None:
            raise InputError(f"region {number}: its painted mask has no stroke inside its box; paint over the area")
        masks.append(mask)
    return masks


def fix_regions(
    engine: Renderer,
    recipe: Recipe,
    picture: Image.Image,
    masks: Sequence[Image.Image],
    on_step: StepCallback | None = None,
) -> Image.Image:
    """`picture` with each region of `recipe` re-rendered in turn, each seeing the fixes before it."""
    runs = [region_recipe(recipe, region, index) for index, region in enumerate(recipe.regions)]
    counter = _StepCounter(on_step, [_steps_of(run) for run in runs])
    fixed = picture.convert("RGB")
    # The tile map is the picture as the artist picked it, for every region: a replay makes the same map.
    structure = {STRUCTURE_MAP: fixed} if recipe.controls else None
    for index, (run, mask) in enumerate(zip(runs, masks, strict=True)):
        fixed = engine.generate(run, image=fixed, mask=mask, control_images=structure, on_step=counter.for_run(index))[
            0
        ]
    return fixed


def upscale(
    engine: Renderer,
    enlarger: Enlarger,
    recipe: Recipe,
    picture: Image.Image,
    on_step: StepCallback | None = None,
) -> Image.Image:
    """`picture` enlarged as `recipe.upscale` says; with `refine`, repainted tile by tile (SD upscale)."""
    settings = recipe.upscale
    assert settings is not None  # a turn only runs this for an upscale recipe
    enlarge_counter = _StepCounter(on_step, [1])
    enlarged = enlarger.upscale(
        picture,
        settings.upscaler,
        settings.factor,
        tile=settings.tile,
        on_tile=lambda done, total: enlarge_counter.report(0, done, total),
    )
    if not settings.refine:
        return enlarged
    tile = (recipe.width, recipe.height)
    boxes = tile_boxes(enlarged.size, tile, settings.overlap)
    tile_recipe = recipe.replace(upscale=None, batch_size=1, mode=Mode.IMG2IMG)
    counter = _StepCounter(on_step, [_steps_of(tile_recipe)] * len(boxes))
    blender = Blender(enlarged.size)
    for index, box in enumerate(boxes):
        crop = enlarged.crop(box)
        width, height = render_size(crop.size)
        repainted = engine.generate(
            tile_recipe.replace(width=width, height=height),
            image=crop,
            control_images={STRUCTURE_MAP: crop} if recipe.controls else None,
            on_step=counter.for_run(index),
        )[0]
        blender.add(repainted, box, ramp_weights(box, enlarged.size, settings.overlap))
    return blender.picture()


def _steps_of(recipe: Recipe) -> int:
    # img2img and inpaint run only the last `strength` part of the schedule, as diffusers counts it.
    return max(1, int(recipe.steps * recipe.denoising_strength)) if recipe.denoising_strength > 0 else 0


class _StepCounter:
    """Turns each run's own step numbers into one count over all runs, for a single progress bar."""

    def __init__(self, on_step: StepCallback | None, steps: Sequence[int]) -> None:
        self.on_step = on_step
        self.offsets = [sum(steps[:index]) for index in range(len(steps))]
        self.total = max(1, sum(steps))

    def for_run(self, index: int) -> StepCallback | None:
        if self.on_step is None:
            return None
        return lambda progress: self.report(index, progress.step, None, progress.preview)

    def report(self, index: int, step: int, total: int | None, preview: Image.Image | None = None) -> None:
        if self.on_step is None:
            return
        if total is not None:  # a count of its own (upscaler tiles): shown as it is
            self.on_step(StepProgress(step, total, preview))
            return
        self.on_step(StepProgress(min(self.total, self.offsets[index] + step), self.total, preview))
