"""Area prompts (regional prompting) on the tiny models: each area's words enter only its painted area of the
UNet's cross-attention, measured where they enter (as for masked reference pictures: on a random network every
self-attention spreads any change over the whole picture, so pixels cannot show where words steer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.engine.area_prompts import _places
from studio.recipe import AreaPromptRef, Recipe, RecipeError

SIZE = 64
BASE = Recipe(prompt="two friends in a park", model="tiny", width=SIZE, height=SIZE, steps=3, seed=5, cfg_scale=5.0)


def half(left: bool, size: tuple[int, int] = (SIZE, SIZE)) -> Image.Image:
    mask = Image.new("L", size, 0)
    width, height = size
    ImageDraw.Draw(mask).rectangle(
        (0, 0, width // 2 - 1, height - 1) if left else (width // 2, 0, width - 1, height - 1), fill=255
    )
    return mask


def first_cross_attention(unet):
    name = next(name for name in unet.attn_processors if name.endswith("attn2.processor"))
    return unet.get_submodule(name.removesuffix(".processor"))


def entering(engine, recipe: Recipe, **pictures: Image.Image) -> torch.Tensor:
    """The first cross-attention's output at the first step (both halves of CFG), as rows x columns grids."""
    outputs = []
    unet = engine.pipelines.base.unet
    handle = first_cross_attention(unet).register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        engine.generate(recipe, control_images=pictures)
    finally:
        handle.remove()
    first = outputs[0]
    side = int(first.shape[1] ** 0.5)
    return first.reshape(first.shape[0], side, side, -1)


def test_an_area_prompt_enters_only_its_area_and_only_the_conditional_half(engine):
    plain = entering(engine, BASE)
    area = AreaPromptRef("a red dragon", "area-1", weight=1.0)
    steered = entering(engine, BASE.replace(area_prompts=(area,)), **{"area-1": half(True)})
    side = plain.shape[2]
    assert torch.equal(steered[:, :, side // 2 :], plain[:, :, side // 2 :])  # outside the area: as without it
    assert torch.equal(steered[0], plain[0])  # the negative prompt's half is left alone
    assert (steered[1, :, : side // 2] - plain[1, :, : side // 2]).abs().mean() > 1e-3


def test_inside_the_area_the_blend_is_its_weight_of_its_own_words(engine):
    """Weight w: inside, w of the area's words' attention and 1 - w of the whole prompt's, computed here from runs of
    each prompt alone over the whole picture."""
    whole_area = Image.new("L", (SIZE, SIZE), 255)
    plain = entering(engine, BASE)
    own = entering(engine, BASE.replace(prompt="a red dragon"))
    mixed = entering(
        engine, BASE.replace(area_prompts=(AreaPromptRef("a red dragon", "area-1", 0.3),)), **{"area-1": whole_area}
    )
    torch.testing.assert_close(mixed[1], 0.3 * own[1] + 0.7 * plain[1], rtol=1e-5, atol=1e-5)


def test_two_areas_each_steer_their_half_and_the_picture_replays_exactly(engine):
    areas = (AreaPromptRef("a red dragon", "area-1"), AreaPromptRef("a blue knight", "area-2"))
    pictures = {"area-1": half(True), "area-2": half(False)}
    both = entering(engine, BASE.replace(area_prompts=areas), **pictures)
    left_only = entering(engine, BASE.replace(area_prompts=areas[:1]), **{"area-1": half(True)})
    side = both.shape[2]
    assert torch.equal(both[:, :, : side // 2], left_only[:, :, : side // 2])
    recipe = BASE.replace(area_prompts=areas)
    first, again = (
        engine.generate(recipe, control_images=pictures)[0],
        engine.generate(recipe, control_images=pictures)[0],
    )
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != engine.generate(BASE)[0].tobytes()


def test_masks_follow_the_picture_s_aspect_at_every_layer():
    mask = torch.zeros(48, 96)  # a wide picture's area: its left half
    mask[:, :48] = 1
    for rows, columns in ((6, 12), (3, 6)):
        grid = _places(mask, rows * columns).reshape(rows, columns)
        assert grid[:, : grid.shape[1] // 2].min() == 1 and grid[:, grid.shape[1] // 2 :].max() == 0


def test_area_prompts_are_checked_by_name(engine):
    with pytest.raises(RecipeError, match="area_prompts.prompt.*lora"):
        Recipe(area_prompts=(AreaPromptRef("a dragon <lora:scales:0.8>", "area-1"),))
    with pytest.raises(RecipeError, match="area_prompts.mask"):
        Recipe(area_prompts=(AreaPromptRef("a", "area-1"), AreaPromptRef("b", "area-1")))
    with pytest.raises(ValueError, match="area 1 is empty"):
        engine.generate(
            BASE.replace(area_prompts=(AreaPromptRef("a", "area-1"),)),
            control_images={"area-1": Image.new("L", (SIZE, SIZE), 0)},
        )
    with pytest.raises(ValueError, match="area 1 has no painted area"):
        engine.generate(BASE.replace(area_prompts=(AreaPromptRef("a", "area-1"),)))


def test_an_sdxl_area_prompt_enters_only_its_area(sdxl_engine):
    recipe = BASE.replace(model="tiny-sdxl")
    plain = entering(sdxl_engine, recipe)
    steered = entering(
        sdxl_engine,
        recipe.replace(area_prompts=(AreaPromptRef("a red dragon", "area-1", 1.0),)),
        **{"area-1": half(False)},
    )
    side = plain.shape[2]
    assert torch.equal(steered[:, :, : side // 2], plain[:, :, : side // 2])
    assert (steered[1, :, side // 2 :] - plain[1, :, side // 2 :]).abs().mean() > 1e-3
    assert np.isfinite(steered.numpy()).all()
