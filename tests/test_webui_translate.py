"""A1111 requests as recipes, and A1111's picture handling (resizing, "fill"), checked against other tools' code."""

from __future__ import annotations

import random

import numpy as np
import pytest
from diffusers.image_processor import VaeImageProcessor
from PIL import Image

from launch import parse_args
from studio.recipe import Mode
from studio.webui import translate
from studio.webui.fields import Img2ImgRequest, Txt2ImgRequest
from studio.webui.pictures import CROP_AND_RESIZE, JUST_RESIZE, RESIZE_AND_FILL, encode_picture, filled, resize_for

SETTINGS = translate.Settings(checkpoint="tiny")
FACTS = translate.StudioFacts(family=None, upscalers=(), make_map=lambda name, picture, settings: picture)


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [(96, 40), (40, 96), (64, 64)])
def test_resize_and_fill_is_diffusers_port_of_a1111(size):
    # diffusers' VaeImageProcessor carries A1111's "resize and fill" (its docstring says so): the two must agree.
    picture = noise(*size)
    processor = VaeImageProcessor(resample="lanczos")
    theirs = processor._resize_and_fill(picture, 64, 48)
    assert np.array_equal(np.asarray(resize_for(RESIZE_AND_FILL, picture, 64, 48)), np.asarray(theirs))


@pytest.mark.parametrize("size", [(96, 40), (40, 96)])
def test_crop_and_resize_covers_then_crops_the_middle(size):
    picture = noise(*size)
    processor = VaeImageProcessor(resample="lanczos")
    theirs = processor._resize_and_crop(picture, 64, 48)
    assert np.array_equal(np.asarray(resize_for(CROP_AND_RESIZE, picture, 64, 48)), np.asarray(theirs))
    assert resize_for(JUST_RESIZE, picture, 64, 48).size == (64, 48)


def test_fill_changes_only_the_masked_area():
    picture = noise(64, 64)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    result, original = np.asarray(filled(picture, mask)), np.asarray(picture)
    inside = np.asarray(mask) == 255
    assert np.array_equal(result[~inside], original[~inside])
    # Inside, the noise is gone: smooth colours from around it.
    assert result[inside].std() < original[inside].std() / 3


def test_batches_number_seeds_and_subseeds_as_a1111():
    rng = random.Random(0)
    plain = translate.txt2img_run(Txt2ImgRequest(seed=10, batch_size=2, n_iter=3), SETTINGS, FACTS, rng)
    assert [recipe.seeds() for recipe in plain.recipes] == [[10, 11], [12, 13], [14, 15]]
    varied = translate.txt2img_run(
        Txt2ImgRequest(seed=10, subseed=50, subseed_strength=0.3, batch_size=2, n_iter=2), SETTINGS, FACTS, rng
    )
    assert [recipe.seeds() for recipe in varied.recipes] == [[10, 10], [10, 10]]
    assert [recipe.variation_seeds() for recipe in varied.recipes] == [[50, 51], [52, 53]]
    random_seed = translate.txt2img_run(Txt2ImgRequest(n_iter=2), SETTINGS, FACTS, rng)
    first, second = (recipe.seed for recipe in random_seed.recipes)
    assert second == first + 1  # one seed drawn for the whole request


def test_a1111_defaults_and_names():
    (recipe,) = translate.txt2img_run(Txt2ImgRequest(), SETTINGS, FACTS, random.Random(0)).recipes
    # A1111's API defaults: 50 steps, "Euler" (sampler_index), cfg 7, 512x512, the schedule chosen automatically.
    assert (recipe.steps, recipe.sampler, recipe.scheduler, recipe.cfg_scale) == (50, "Euler", "Automatic", 7.0)
    assert (recipe.width, recipe.height, recipe.model) == (512, 512, "tiny")
    assert translate.sampler_and_scheduler("DPM++ 2M Karras", None) == ("DPM++ 2M", "Karras")
    assert translate.sampler_and_scheduler("DPM++ 2M", "karras") == ("DPM++ 2M", "Karras")
    assert translate.sampler_and_scheduler("Euler a", "sgm_uniform") == ("Euler a", "SGM Uniform")
    with pytest.raises(translate.Unsupported, match="eta"):
        translate.txt2img_run(Txt2ImgRequest(sampler_name="DDIM", eta=1.0), SETTINGS, FACTS, random.Random(0))


def test_hires_fields_become_the_recipes_hires_fix():
    request = Txt2ImgRequest(
        width=128, height=96, enable_hr=True, hr_resize_x=256, hr_resize_y=192, hr_upscaler="Lanczos",
        hr_second_pass_steps=4, denoising_strength=0.5,
    )  # fmt: skip
    (recipe,) = translate.txt2img_run(request, SETTINGS, FACTS, random.Random(0)).recipes
    assert (recipe.hires_scale, recipe.hires_size, recipe.hires_upscaler) == (2.0, (256, 192), "Lanczos")
    assert (recipe.hires_steps, recipe.hires_denoising_strength) == (4, 0.5)
    with pytest.raises(translate.Unsupported, match="hr_resize_x"):
        translate.txt2img_run(request.model_copy(update={"hr_resize_y": 128}), SETTINGS, FACTS, random.Random(0))


def test_an_img2img_with_a_mask_is_an_inpaint_of_the_resized_picture():
    request = Img2ImgRequest(
        init_images=[encode_picture(noise(200, 100))], mask=encode_picture(Image.new("L", (200, 100), 255)),
        width=128, height=64, resize_mode=JUST_RESIZE, inpainting_fill=1, inpaint_full_res=False, mask_blur=2,
    )  # fmt: skip
    run = translate.img2img_run(request, SETTINGS, FACTS, random.Random(0))
    assert run.mode is Mode.INPAINT and run.image.size == run.mask.size == (128, 64)
    assert (run.recipes[0].mask_blur, run.recipes[0].inpaint_area.value) == (2, "whole picture")
    with pytest.raises(translate.Unsupported, match="inpainting_fill"):
        translate.img2img_run(request.model_copy(update={"inpainting_fill": 2}), SETTINGS, FACTS, random.Random(0))


def test_overrides_stay_only_when_the_request_asks_so():
    overrides = {"sd_model_checkpoint": "tiny-sdxl", "CLIP_stop_at_last_layers": 2}
    assert translate.kept_settings(Txt2ImgRequest(override_settings=overrides), SETTINGS) == SETTINGS
    kept = translate.kept_settings(
        Txt2ImgRequest(override_settings=overrides, override_settings_restore_afterwards=False), SETTINGS
    )
    assert kept == translate.Settings(checkpoint="tiny-sdxl", clip_skip=2)


def test_api_logins_are_read_from_the_command_line():
    args = parse_args(["--api", "--api-auth", "bot:one,tool:two", "--api-auth", "cli:three"])
    assert args.api and args.api_accounts == {"bot": "one", "tool": "two", "cli": "three"}
    assert parse_args([]).api is False
