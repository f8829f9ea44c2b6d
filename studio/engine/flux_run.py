"""Steps 3 and 4 of `Engine.generate` on a Flux.1 model: the arguments studio/engine/flux.py makes, through
diffusers' own Flux pipelines (and their hires fix's second pass)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from PIL import Image

from studio.engine.flux import (
    control_arguments,
    cropped,
    fitted,
    flux_arguments,
    flux_scheduler,
    hires_arguments,
    unpacked,
    variation_latents,
)
from studio.engine.lane import Halt
from studio.engine.pipelines import PipelineSet
from studio.engine.steps import StepCallback, step_callback
from studio.recipe import Mode, Recipe


def denoise_flux(
    pipelines: PipelineSet,
    pipe,
    recipe: Recipe,
    prompt: str,
    image: Image.Image | None,
    blurred_mask: Image.Image | None,
    control_images: Mapping[str, Image.Image],
    references: Mapping[str, Image.Image],  # none on Flux (check_flux refuses them): the SD branch's shape
    *,
    on_step: StepCallback | None,
    halt: Halt,
    enlarge: Callable[[list[Image.Image]], list[Image.Image]],
) -> list:
    """The pictures of `recipe` on a Flux.1 model, as diffusers' own pipelines run; `enlarge` makes the hires fix's
    bigger picture (the engine's upscalers)."""
    pipe.scheduler = flux_scheduler(recipe, pipelines.scheduler_config)
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in recipe.seeds()]
    arguments = flux_arguments(recipe, prompt, image, blurred_mask, generators)
    if recipe.mode is Mode.TXT2IMG and recipe.variation_strength > 0:
        arguments["latents"] = variation_latents(pipe, recipe, generators)
    if recipe.controls:
        arguments |= control_arguments(recipe, control_images, pipe)
    arguments = fitted(pipe, arguments, recipe)  # what this pipeline takes (Fill and ControlNets: no real CFG)
    callback = step_callback(on_step, pipelines.family, halt, unpack=lambda latents: unpacked(latents, recipe))
    hires = recipe.mode is Mode.TXT2IMG and recipe.hires_scale > 1
    if hires and recipe.hires_upscaler.startswith("Latent"):
        arguments["output_type"] = "latent"  # enlarged as latents: no decode in between, as in A1111
    steps = {"callback_on_step_end": callback, "callback_on_step_end_tensor_inputs": ["latents"]}
    with torch.inference_mode():
        pictures = pipe(**arguments, **steps).images
        if not hires or halt.halted:
            return pictures if halt.halted else cropped(pictures, recipe)
        second = pipelines.for_mode(Mode.IMG2IMG)
        second.scheduler = flux_scheduler(recipe, pipelines.scheduler_config)
        repaint = hires_arguments(recipe, pictures, arguments, enlarge)
        pictures = second(**repaint, **steps).images  # pyright: ignore[reportCallIssue] (a pipeline view)
    return cropped(pictures, recipe, recipe.hires_size)
