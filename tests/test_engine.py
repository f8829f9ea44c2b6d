"""The real diffusers engine on the tiny model: modes, samplers, determinism, masks, progress, stop."""

import threading

import numpy as np
import pytest
from PIL import Image

from studio.engine.engine import Engine
from studio.errors import GenerationStopped
from studio.recipe import SAMPLERS, ControlRef, InpaintArea, LoraRef, Mode, Recipe
from tests.start_noise import caught_start_noise, seed_noise, slerp

SIZE = 128


def base_recipe(**changes) -> Recipe:
    return Recipe(prompt="a red fox in the snow", model="tiny", steps=4, width=SIZE, height=SIZE, seed=42).replace(
        **changes
    )


@pytest.fixture(scope="module")
def picture(engine: Engine) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((SIZE, SIZE))


@pytest.fixture(scope="module")
def square_mask() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (40, 40, 88, 88))
    return mask


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def run_twice(engine, recipe, **images):
    first = engine.generate(recipe, **images)
    second = engine.generate(recipe, **images)
    return first, second


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_and_is_deterministic(engine, sampler):
    first, second = run_twice(engine, base_recipe(sampler=sampler))
    assert first[0].size == (SIZE, SIZE)
    assert first[0].tobytes() == second[0].tobytes()


def test_samplers_differ(engine):
    euler_a = engine.generate(base_recipe(sampler="Euler a"))[0]
    ddim = engine.generate(base_recipe(sampler="DDIM"))[0]
    assert euler_a.tobytes() != ddim.tobytes()


def test_txt2img_batch_is_deterministic_per_seed(engine):
    batch = engine.generate(base_recipe(batch_size=2))
    assert len(batch) == 2 and batch[0].tobytes() != batch[1].tobytes()
    # Picture 1 of a batch is the picture of seed + 1 alone, as in A1111.
    alone = engine.generate(base_recipe(seed=43))[0]
    assert np.abs(pixels(batch[1]).astype(int) - pixels(alone).astype(int)).max() <= 1


def test_seed_changes_the_picture(engine):
    assert engine.generate(base_recipe(seed=1))[0].tobytes() != engine.generate(base_recipe(seed=2))[0].tobytes()


def test_img2img_is_deterministic_and_follows_strength(engine, picture):
    recipe = base_recipe(mode=Mode.IMG2IMG, denoising_strength=0.5)
    first, second = run_twice(engine, recipe, image=picture)
    assert first[0].tobytes() == second[0].tobytes()
    # The strength says how many of the steps run (diffusers' and A1111's int(steps x strength)).
    for strength in (0.5, 0.75, 1.0):
        steps: list = []
        engine.generate(recipe.replace(denoising_strength=strength), image=picture, on_step=steps.append)
        assert len(steps) == int(recipe.steps * strength)


def test_only_masked_renders_the_crop_at_the_recipe_size(engine, picture, square_mask):
    # The picture is 128 px; the masked area (plus padding) is rendered at 256 px and pasted back.
    recipe = base_recipe(mode=Mode.INPAINT, inpaint_area=InpaintArea.ONLY_MASKED, width=256, height=256)
    result = engine.generate(recipe, image=picture, mask=square_mask)[0]
    assert result.size == picture.size


def test_views_share_the_loaded_weights(engine):
    pipelines = engine.pipelines
    base = pipelines.base
    for mode in Mode:
        view = pipelines.for_mode(mode)
        assert view.unet is base.unet and view.vae is base.vae and view.text_encoder is base.text_encoder
        assert pipelines.for_mode(mode) is view  # made once


def test_variation_strength_zero_is_the_plain_seed_and_others_start_from_a1111s_blend(engine):
    plain = engine.generate(base_recipe())[0]
    zero = engine.generate(base_recipe(variation_seed=7, variation_strength=0.0))[0]
    assert zero.tobytes() == plain.tobytes()
    shape = (1, 4, SIZE // 8, SIZE // 8)
    own, other = seed_noise(42, shape), seed_noise(7, shape)
    with caught_start_noise(engine.pipelines.for_mode(Mode.TXT2IMG)) as caught:
        for strength in (0.1, 0.5, 1.0):
            engine.generate(base_recipe(variation_seed=7, variation_strength=strength))
    for strength, started in zip((0.1, 0.5, 1.0), caught, strict=True):
        assert np.allclose(started, slerp(strength, own, other), atol=1e-5), strength
    assert np.allclose(caught[-1], other, atol=1e-5)  # full strength is the variation seed's own noise


def test_progress_reports_each_step_with_a_cheap_preview(engine):
    steps = []
    engine.generate(base_recipe(steps=5, sampler="Euler"), on_step=steps.append)
    assert [step.step for step in steps] == [1, 2, 3, 4, 5]
    assert all(step.total == 5 for step in steps)
    # A preview is the latents mapped to RGB: 1/8 of the size, no VAE decode. The first step always has one.
    assert steps[0].preview.size == (SIZE // 8, SIZE // 8)


def test_previews_come_at_most_a_few_a_second():
    """The window shows a few a second; a preview at every step of a fast GPU run would only cost time."""
    import torch

    from studio.engine.families import Family
    from studio.engine.preview import PREVIEW_INTERVAL, PreviewTap

    now = [100.0]
    tap = PreviewTap(Family.SD15, clock=lambda: now[0])
    latents = torch.zeros(4, 8, 8)
    shown = []
    for _ in range(10):
        shown.append(tap.take(latents) is not None)
        now[0] += PREVIEW_INTERVAL / 4
    assert shown == [True, False, False, False, True, False, False, False, True, False]
    now[0] += PREVIEW_INTERVAL
    assert tap.take(latents).size == (8, 8)  # the latents' own size: no VAE decode


def test_stop_ends_the_run_within_one_step_and_leaves_the_engine_clean(engine):
    seen = []

    def stop_at_third(step):
        seen.append(step.step)
        if step.step == 3:
            engine.request_stop()

    before = engine.generate(base_recipe(steps=6))[0]
    with pytest.raises(GenerationStopped):
        engine.generate(base_recipe(steps=50), on_step=stop_at_third)
    assert seen == [1, 2, 3]
    after = engine.generate(base_recipe(steps=6))[0]
    assert after.tobytes() == before.tobytes()


def test_stop_from_another_thread(engine):
    started, stop_sent = threading.Event(), threading.Event()
    outcome = {}

    def slow_step(step):
        started.set()
        stop_sent.wait(timeout=30)  # each step waits until the stop is on its way: no race, no sleep

    def run():
        try:
            engine.generate(base_recipe(steps=150), on_step=slow_step)
            outcome["result"] = "finished"
        except GenerationStopped:
            outcome["result"] = "stopped"

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    engine.request_stop()
    stop_sent.set()
    worker.join(timeout=10)
    assert not worker.is_alive() and outcome["result"] == "stopped"


@pytest.mark.parametrize(
    ("recipe_changes", "use_image", "use_mask", "message"),
    [
        ({}, True, False, "txt2img takes no input picture"),
        ({"mode": Mode.IMG2IMG}, False, False, "img2img needs an input picture"),
        ({"mode": Mode.INPAINT}, True, False, "inpaint needs a mask"),
        ({"mode": Mode.IMG2IMG, "width": 256}, True, False, "recipe asks for 256x128"),
        ({"mode": Mode.IMG2IMG, "variation_seed": 1, "variation_strength": 0.5}, True, False, "variation_strength"),
        ({"loras": (LoraRef("someone", 0.8),)}, False, False, "no LoRA named 'someone'"),
        ({"controls": (ControlRef("canny", "tiny", "control-0"),)}, False, False, "unit 1 .canny. has no control map"),
    ],
)
def test_bad_inputs_give_clear_errors(engine, picture, square_mask, recipe_changes, use_image, use_mask, message):
    with pytest.raises(ValueError, match=message):
        engine.generate(
            base_recipe(**recipe_changes), image=picture if use_image else None, mask=square_mask if use_mask else None
        )


def test_mask_size_unlike_the_picture_is_refused(engine, picture):
    with pytest.raises(ValueError, match="mask: is 64x64 but the picture is 128x128"):
        engine.generate(base_recipe(mode=Mode.INPAINT), image=picture, mask=Image.new("L", (64, 64), 255))


def test_empty_mask_is_refused(engine, picture):
    with pytest.raises(ValueError, match="mask: is empty"):
        engine.generate(base_recipe(mode=Mode.INPAINT), image=picture, mask=Image.new("L", (SIZE, SIZE), 0))
