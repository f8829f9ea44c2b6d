"""Flux Fill (FLUX.1 Fill): where a Fill model is loaded, inpaint and outpaint run on diffusers' own
FluxFillPipeline, the artist's pixels exact outside the mask; what a Fill model cannot do is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxFillPipeline
from PIL import Image

from studio.engine.factory import make_engine
from studio.engine.tiny_flux import tiny_flux_fill_folder
from studio.errors import InputError
from studio.recipe import InpaintArea, Mode, Recipe

FILL = Recipe(
    prompt="a red hat", sampler="Euler", scheduler="Automatic", cfg_scale=1.0, distilled_cfg_scale=30.0, steps=3,
    width=64, height=64, seed=7, mode=Mode.INPAINT, denoising_strength=1.0, mask_blur=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def fill_engine(model_cache):
    torch.set_num_threads(1)
    engine = make_engine(cache_dir=model_cache)
    engine.load(str(tiny_flux_fill_folder(model_cache)))
    return engine


def photo(size=(64, 64)) -> Image.Image:
    rows, columns = np.mgrid[0 : size[1], 0 : size[0]]
    return Image.fromarray(
        np.stack([rows * 4 % 256, columns * 4 % 256, (rows + columns) * 2 % 256], -1).astype(np.uint8)
    )


def square_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask


def test_inpaint_on_a_fill_model_is_diffusers_fill_picture_inside_and_the_artists_outside(fill_engine, model_cache):
    recipe = FILL.replace(model=fill_engine.model)
    (studio,) = fill_engine.generate(recipe, image=photo(), mask=square_mask())
    own = FluxFillPipeline.from_pretrained(tiny_flux_fill_folder(model_cache))
    own.set_progress_bar_config(disable=True)
    expected = own(
        prompt="a red hat", image=photo(), mask_image=square_mask(), height=64, width=64, strength=1.0,
        guidance_scale=30.0, num_inference_steps=3, generator=torch.Generator("cpu").manual_seed(7),
    ).images[0]  # fmt: skip
    inside = np.asarray(square_mask()) > 0
    studio_pixels, expected_pixels = np.asarray(studio, np.int16), np.asarray(expected, np.int16)
    assert np.array_equal(studio_pixels[inside], expected_pixels[inside])
    assert np.array_equal(studio_pixels[~inside], np.asarray(photo(), np.int16)[~inside])


def test_outpaint_runs_on_a_fill_model_and_what_it_cannot_do_is_refused(fill_engine, tmp_path):
    from launch import build_sessions
    from studio.finish.outpaint import Extension

    recipe = FILL.replace(model=fill_engine.model)
    session = build_sessions(fill_engine, tmp_path / "outputs", defaults=recipe).open()
    with pytest.raises(InputError, match="fills a masked area only"):
        session.generate(recipe)
    picture = photo()
    filled = session.inpaint(picture, square_mask(), recipe)
    widened = session.outpaint(filled.id, Extension(right=32), recipe)
    assert session.output_picture(widened.id).size == (96, 64)
    kept = np.asarray(session.output_picture(widened.id), np.int16)[:, :64]
    assert np.array_equal(kept, np.asarray(session.output_picture(filled.id), np.int16))  # the old canvas, exactly
    again = session.replay(widened.id)
    assert session.output_picture(again.id).tobytes() == session.output_picture(widened.id).tobytes()
    for changes, words in (
        ({"inpaint_area": InpaintArea.ONLY_MASKED}, "whole picture"),
        ({"cfg_scale": 3.0}, "without real CFG"),
        ({"mode": Mode.IMG2IMG}, "fills a masked area only"),
    ):
        mask = square_mask() if changes.get("mode") is not Mode.IMG2IMG else None
        with pytest.raises(InputError, match=words):
            fill_engine.generate(recipe.replace(**changes), image=picture, mask=mask)


def test_the_window_is_told_what_a_fill_model_does(fill_engine):
    assert "inpaints and outpaints only" in fill_engine.model_note and "about 30" in fill_engine.model_note
