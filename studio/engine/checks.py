"""What `Engine.generate` refuses before touching the GPU: each mistake named, with what to do instead."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PIL import Image

from studio.control.catalogue import union_mode
from studio.errors import InputError
from studio.prepare import render_size
from studio.recipe import InpaintArea, Mode, Recipe


def check_inputs(
    recipe: Recipe,
    image: Image.Image | None,
    mask: Image.Image | None,
    control_images: Mapping[str, Image.Image] | None = None,
) -> None:
    size = (recipe.width, recipe.height)
    if recipe.mode is Mode.TXT2IMG:
        if image is not None or mask is not None:
            raise InputError("image: txt2img takes no input picture; use img2img or inpaint")
    elif image is None:
        raise InputError(f"image: {recipe.mode.value} needs an input picture")
    if recipe.mode is Mode.IMG2IMG and mask is not None:
        raise InputError("mask: img2img takes no mask; use inpaint")
    if recipe.mode is Mode.INPAINT:
        if mask is None:
            raise InputError("mask: inpaint needs a mask (white where the picture should change)")
        assert image is not None  # refused above for every mode but txt2img
        if mask.size != image.size:
            raise InputError(
                f"mask: is {mask.size[0]}x{mask.size[1]} but the picture is {image.size[0]}x{image.size[1]}"
            )
        if not mask.convert("L").getbbox():
            raise InputError("mask: is empty; paint the area to change")
    if image is not None:
        # A picture is rendered at its own size, extended to multiples of 8 (see studio/prepare.py).
        if is_whole_picture(recipe) and render_size(image.size) != size:
            raise InputError(
                f"image: is {image.size[0]}x{image.size[1]}, rendered at {render_size(image.size)[0]}x"
                f"{render_size(image.size)[1]}, but the recipe asks for {size[0]}x{size[1]}"
            )
        steps_run = int(recipe.steps * recipe.denoising_strength)
        if recipe.denoising_strength > 0 and steps_run < 1:
            least_steps = math.ceil(1 / recipe.denoising_strength - 1e-9)
            raise InputError(
                f"denoising_strength: {recipe.denoising_strength:g} of {recipe.steps} steps runs no step at all; "
                f"raise the strength to {math.ceil(100 / recipe.steps) / 100:g} or the steps to {least_steps}"
            )
    control_images = control_images or {}
    # A ControlNet map has the size of the picture it steers (the picture's own size when there is one).
    map_size = image.size if image is not None else size
    # Inpainting "only masked" crops the map with the picture, then scales it to the recipe's size.
    only_masked = recipe.mode is Mode.INPAINT and recipe.inpaint_area is InpaintArea.ONLY_MASKED
    if only_masked and len(recipe.controls) > 1:
        # diffusers crops only a single control map along with the masked area.
        raise InputError("controls: inpainting 'only masked' takes one control unit; use 'whole picture' for several")
    for number, unit in enumerate(recipe.controls, start=1):
        control = control_images.get(unit.image)
        if control is None:
            raise InputError(f"controls: unit {number} ({unit.kind}) has no control map {unit.image!r}")
        if control.size != map_size:
            raise InputError(
                f"controls: unit {number}'s map is {control.size[0]}x{control.size[1]} "
                f"but the picture is {map_size[0]}x{map_size[1]}"
            )
    for number, reference in enumerate(recipe.references, start=1):
        if reference.image not in control_images:
            raise InputError(f"references: reference {number} has no picture {reference.image!r}")
        area = control_images.get(reference.mask) if reference.mask else None
        if reference.mask and area is None:
            raise InputError(f"references: reference {number} has no mask {reference.mask!r}")
        if area is not None and area.size != map_size:
            raise InputError(
                f"references: reference {number}'s mask is {area.size[0]}x{area.size[1]} "
                f"but the picture is {map_size[0]}x{map_size[1]}"
            )
    if recipe.area_prompts and only_masked:
        raise InputError("area_prompts: area prompts steer the whole picture; inpaint with 'whole picture'")
    for number, area in enumerate(recipe.area_prompts, start=1):
        painted = control_images.get(area.mask)
        if painted is None:
            raise InputError(f"area_prompts: area {number} has no painted area {area.mask!r}")
        if painted.size != map_size:
            raise InputError(
                f"area_prompts: area {number} is {painted.size[0]}x{painted.size[1]} "
                f"but the picture is {map_size[0]}x{map_size[1]}"
            )
        if not painted.convert("L").getbbox():
            raise InputError(f"area_prompts: area {number} is empty; paint where its words should steer")
    used = {unit.image for unit in recipe.controls} | {
        role for reference in recipe.references for role in (reference.image, reference.mask) if role
    }
    used |= {area.mask for area in recipe.area_prompts}
    unused = sorted(set(control_images) - used)
    if unused:
        raise InputError(f"controls: no unit uses the control map {unused[0]!r}")
    if recipe.variation_strength > 0 and recipe.mode is not Mode.TXT2IMG:
        raise InputError("variation_strength: works on txt2img pictures; vary img2img/inpaint results with new seeds")
    if recipe.hires_scale > 1 and recipe.controls:
        # The maps would have to be rendered again at the larger size for the second pass.
        raise InputError("hires_scale: the hires fix does not run with control units yet; switch them off")
    if recipe.hires_scale > 1 and int((recipe.hires_steps or recipe.steps) * recipe.hires_denoising_strength) < 1:
        raise InputError(
            f"hires_denoising_strength: {recipe.hires_denoising_strength:g} of {recipe.hires_steps or recipe.steps} "
            "hires steps runs no step at all; raise the hires strength or its steps"
        )


def is_whole_picture(recipe: Recipe) -> bool:
    """Whether the whole input picture is rendered (img2img, or inpaint of the whole picture)."""
    return recipe.mode is Mode.IMG2IMG or (
        recipe.mode is Mode.INPAINT and recipe.inpaint_area is InpaintArea.WHOLE_PICTURE
    )


def check_union_types(recipe: Recipe, controlnets: Sequence[object]) -> None:
    """A union ControlNet serves the kinds it has a control type for (6 in xinsir's, 8 in promax: tile)."""
    for number, (unit, controlnet) in enumerate(zip(recipe.controls, controlnets, strict=True), start=1):
        types = getattr(controlnet, "config", {}).get("num_control_type")  # SDXL union ControlNets have it
        if types is not None:
            mode = union_mode(unit.kind)
            if mode >= types:
                raise InputError(
                    f"controls: unit {number}'s union ControlNet has {types} control types, and {unit.kind} is type "
                    f"{mode}: use its promax version, or a ControlNet of {unit.kind}'s own"
                )
