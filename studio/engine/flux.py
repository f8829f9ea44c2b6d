"""Flux.1 runs: a recipe's txt2img, img2img and inpaint on diffusers' own Flux pipelines.

Flux differs from Stable Diffusion where an artist notices it, and the studio names it as Forge does:
- Guidance. Flux.1-dev was distilled to take its guidance as an input, the *Distilled CFG Scale* (3.5 by default),
  and runs one pass per step. Real CFG, with a negative prompt, runs only when *CFG Scale* is above 1, at twice the
  cost (diffusers' `true_cfg_scale`). Flux.1-schnell has no guidance input and ignores the distilled scale.
- Sampling is flow matching: the sampler is Euler, the schedules *Simple* (the model's own sigmas) and *Beta*.
  The sigmas are shifted towards noise, by the picture's size (the model's own rule) or by a fixed *Shift*.
- Latents are 2x2 patches of 8x-reduced pixels: sides are rendered at the next multiple of 16 and the picture is
  cropped back to the recipe's size, so an artist's picture is extended, never resized, as for SD.

What Flux does not run yet is refused by name before anything loads (`check_flux`), never silently dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from studio.control.catalogue import flux_union_mode
from studio.engine.steps import slerp
from studio.errors import InputError
from studio.prepare import extend
from studio.recipe import FLUX_SAMPLERS, FLUX_SCHEDULERS, InpaintArea, Mode, Recipe

# Flux.1's latents are packed in 2x2 patches of the VAE's 8x-reduced latents: sides in multiples of 16.
SIDE_MULTIPLE = 16
_SCHEDULES: dict[str, dict[str, Any]] = {"Simple": {}, "Beta": {"use_beta_sigmas": True}}


def check_flux(recipe: Recipe, *, fill: bool = False) -> None:
    """Refuse, with what to do instead, what the studio does not run on Flux models yet (`fill`: on a Fill
    model, see `check_fill`)."""
    if fill:
        check_fill(recipe)
    if recipe.sampler not in FLUX_SAMPLERS:
        raise InputError(
            f"sampler: Flux.1 samples with flow matching; choose {' or '.join(FLUX_SAMPLERS)} (not {recipe.sampler})"
        )
    if recipe.scheduler not in FLUX_SCHEDULERS:
        raise InputError(
            f"scheduler: {recipe.scheduler} is a Stable Diffusion schedule; for Flux.1 choose "
            f"{', '.join(FLUX_SCHEDULERS)}"
        )
    not_yet = {
        "references": "reference pictures on Flux models",
        "area_prompts": "area prompts on Flux models",
    }
    for field, words in not_yet.items():
        if getattr(recipe, field):
            raise InputError(f"{field}: {words} are not supported yet; switch them off for this model")
    if recipe.controls and recipe.mode is Mode.INPAINT and recipe.inpaint_area is InpaintArea.ONLY_MASKED:
        raise InputError("controls: on Flux, inpaint with control units runs on the whole picture; choose it")
    if recipe.clip_skip > 1:
        raise InputError("clip_skip: Flux reads its prompt with T5 too; set Clip skip to 1")
    if recipe.kontext and recipe.controls:
        raise InputError("controls: a Kontext edit is steered by its picture and words alone; switch the units off")
    if recipe.kontext and recipe.inpaint_area is InpaintArea.ONLY_MASKED:
        raise InputError("inpaint_area: a Kontext edit reads the whole picture; choose 'whole picture'")


FILL_NOTE = (
    "This is a Fill model (FLUX.1 Fill): it inpaints and outpaints only. Black Forest Labs suggest a Distilled CFG "
    "Scale of about 30 for it."
)


def check_fill(recipe: Recipe) -> None:
    """A Flux Fill model (FLUX.1 Fill) paints only where a mask says, on the whole picture: it inpaints and
    outpaints. What else a recipe asks of it is refused, with what to do instead."""
    if recipe.mode is not Mode.INPAINT:
        raise InputError(
            f"mode: a Flux Fill model fills a masked area only (inpaint, outpaint); load FLUX.1-dev or another Flux "
            f"model for {recipe.mode.value}"
        )
    if recipe.inpaint_area is InpaintArea.ONLY_MASKED:
        raise InputError("inpaint_area: a Flux Fill model fills on the whole picture; choose 'whole picture'")
    if recipe.controls:
        raise InputError("controls: a Flux Fill model runs without control units; switch them off")
    if recipe.kontext:
        raise InputError("kontext: a Flux Fill model makes no Kontext edits; load a Kontext model for those")
    if recipe.cfg_scale > 1:
        raise InputError("cfg_scale: a Flux Fill model runs without real CFG (no negative prompt); set CFG to 1")


def flux_scheduler(recipe: Recipe, base_config: Any) -> FlowMatchEulerDiscreteScheduler:
    """A fresh flow-matching Euler scheduler for the recipe's schedule and shift, from the model's configuration."""
    schedule = "Simple" if recipe.scheduler == FLUX_SCHEDULERS[0] else recipe.scheduler
    extra = dict(_SCHEDULES[schedule])
    if recipe.shift > 0:  # a fixed shift instead of the model's size-dependent one
        extra |= {"use_dynamic_shifting": False, "shift": recipe.shift}
    return cast(FlowMatchEulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler.from_config(base_config, **extra))


def render_size(recipe: Recipe) -> tuple[int, int]:
    """The size Flux renders at: the recipe's sides up to the next multiple of 16."""
    return (_up(recipe.width), _up(recipe.height))


def flux_arguments(
    recipe: Recipe,
    prompt: str,
    image: Image.Image | None,
    blurred_mask: Image.Image | None,
    generators: list[torch.Generator],
) -> dict[str, Any]:
    """The Flux pipeline's arguments for the recipe's mode, at the render size (the picture and mask extended)."""
    width, height = render_size(recipe)
    true_cfg = recipe.cfg_scale > 1
    arguments: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": recipe.negative_prompt if true_cfg else None,
        "true_cfg_scale": recipe.cfg_scale if true_cfg else 1.0,
        "guidance_scale": recipe.distilled_cfg_scale,
        "num_inference_steps": recipe.steps,
        "num_images_per_prompt": recipe.batch_size,
        "generator": generators,
        "width": width,
        "height": height,
    }
    if recipe.mode is Mode.TXT2IMG:
        return arguments
    assert image is not None  # check_inputs refused an edit without a picture
    only_masked = recipe.mode is Mode.INPAINT and recipe.inpaint_area is InpaintArea.ONLY_MASKED
    if only_masked:
        # diffusers crops mask + padding, renders it at the recipe's size (up to 16s), and pastes it back.
        arguments |= {"image": image.convert("RGB"), "padding_mask_crop": recipe.inpaint_padding}
    else:
        arguments["image"] = extend(image.convert("RGB"), (width, height))
    arguments["strength"] = recipe.denoising_strength
    if recipe.kontext:
        # The picture is read at its own size: neither resized to a size Kontext was trained at nor to a megapixel.
        arguments |= {"_auto_resize": False, "max_area": width * height}
        if recipe.mode is Mode.IMG2IMG:
            del arguments["strength"]  # drawn anew from noise, with the picture as the model's context
    if recipe.mode is Mode.INPAINT:
        assert blurred_mask is not None  # check_inputs refused an inpaint without a mask
        arguments["mask_image"] = blurred_mask if only_masked else extend(blurred_mask, (width, height), fill=0)
    return arguments


def control_arguments(recipe: Recipe, control_images: Mapping[str, Image.Image], pipe) -> dict[str, Any]:
    """The Flux ControlNet pipeline's arguments for the recipe's units: each map extended to the render size, its
    weight and steps, and for a union ControlNet each unit's control mode (its kind)."""
    units = recipe.controls
    size = render_size(recipe)
    maps = [extend(control_images[unit.image].convert("RGB"), size) for unit in units]
    nets = getattr(pipe.controlnet, "nets", [pipe.controlnet])
    single = len(units) == 1
    arguments: dict[str, Any] = {
        "control_image": maps[0] if single else maps,
        "controlnet_conditioning_scale": float(units[0].weight) if single else [float(u.weight) for u in units],
        "control_guidance_start": [float(unit.guidance_start) for unit in units],
        "control_guidance_end": [float(unit.guidance_end) for unit in units],
    }
    if any(net.union for net in nets):
        modes = [flux_union_mode(unit.kind) for unit in units]
        arguments["control_mode"] = modes[0] if single else modes
    return arguments


def fitted(pipe, arguments: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """The arguments `pipe` takes: diffusers' Flux ControlNet repaint and inpaint pipelines have no real CFG (no
    negative prompt); a recipe that asks for it there is refused, never run without it."""
    takes = inspect.signature(pipe.__call__).parameters
    if recipe.cfg_scale > 1 and "true_cfg_scale" not in takes:
        raise InputError(
            f"cfg_scale: on Flux, {recipe.mode.value} with control units runs without real CFG; set CFG to 1 (the "
            "distilled guidance still steers)"
        )
    return {key: value for key, value in arguments.items() if key in takes}


def variation_latents(pipe, recipe: Recipe, generators: list[torch.Generator]) -> torch.Tensor:
    """A1111's variation seed on Flux: each picture's noise, drawn as diffusers' Flux pipeline draws it, slerped
    towards the variation seed's noise, then packed in 2x2 patches as the pipeline packs its own."""
    width, height = render_size(recipe)
    rows, columns = 2 * (height // SIDE_MULTIPLE), 2 * (width // SIDE_MULTIPLE)
    shape = (recipe.batch_size, pipe.transformer.config.in_channels // 4, rows, columns)
    device, dtype = pipe._execution_device, pipe.transformer.dtype
    noise = randn_tensor(shape, generator=generators, device=device, dtype=dtype)
    towards = [torch.Generator("cpu").manual_seed(seed) for seed in recipe.variation_seeds() or []]
    blended = slerp(
        recipe.variation_strength, noise, randn_tensor(shape, generator=towards, device=device, dtype=dtype)
    )
    return pipe._pack_latents(blended, *shape)


def hires_arguments(
    recipe: Recipe, first, arguments: dict[str, Any], enlarge: Callable[[list[Image.Image]], list[Image.Image]]
) -> dict[str, Any]:
    """A1111's hires fix on Flux: the second pass's arguments. The first pass (`first`: its packed latents for a
    "Latent" upscaler, else its pictures) is enlarged to `recipe.hires_size` (the latents bilinear or nearest, the
    pictures by `enlarge`), then repainted there as img2img with the same prompt, guidance and generators."""
    width, height = recipe.hires_size
    wide, high = _up(width), _up(height)
    if recipe.hires_upscaler.startswith("Latent"):
        first_width, first_height = render_size(recipe)
        rows, columns = first_height // SIDE_MULTIPLE, first_width // SIDE_MULTIPLE
        channels = first.shape[-1] // 4
        grid = first.reshape(first.shape[0], rows, columns, channels, 2, 2).permute(0, 3, 1, 4, 2, 5)
        latents = grid.reshape(first.shape[0], channels, rows * 2, columns * 2)
        mode = "nearest" if recipe.hires_upscaler == "Latent (nearest)" else "bilinear"
        image: Any = torch.nn.functional.interpolate(latents, size=(high // 8, wide // 8), mode=mode)
    else:
        image = [extend(picture, (wide, high)) for picture in enlarge(cropped(first, recipe))]
    kept = ("prompt", "negative_prompt", "true_cfg_scale", "guidance_scale", "num_images_per_prompt", "generator")
    return {key: arguments[key] for key in kept} | {
        "image": image,
        "strength": recipe.hires_denoising_strength,
        "num_inference_steps": recipe.hires_steps or recipe.steps,
        "width": wide,
        "height": high,
    }


def cropped(pictures: list[Image.Image], recipe: Recipe, size: tuple[int, int] | None = None) -> list[Image.Image]:
    """The rendered pictures at the recipe's size, or `size` (the extension to multiples of 16 cut off again). An
    "only masked" inpaint comes back as the whole picture, its area pasted in by diffusers: nothing to cut."""
    if recipe.mode is Mode.INPAINT and recipe.inpaint_area is InpaintArea.ONLY_MASKED:
        return pictures
    width, height = size or (recipe.width, recipe.height)
    return [picture.crop((0, 0, width, height)) for picture in pictures]


def unpacked(latents: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """One picture's packed latents (patches x channels*4) as channels x rows x columns, for a step preview."""
    width, height = render_size(recipe)
    rows, columns = height // SIDE_MULTIPLE, width // SIDE_MULTIPLE
    channels = latents.shape[-1] // 4
    grid = latents.reshape(rows, columns, channels, 2, 2).permute(2, 0, 3, 1, 4)
    return grid.reshape(channels, rows * 2, columns * 2)


def _up(side: int) -> int:
    return -(-side // SIDE_MULTIPLE) * SIDE_MULTIPLE
