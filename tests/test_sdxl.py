"""SDXL on the real engine with the tiny SDXL model: every mode, every sampler, prompts, clip skip, control."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from studio.engine import prompts
from studio.engine.families import Family
from studio.engine.tiny import tiny_model_folder
from studio.recipe import SAMPLERS, ControlRef, InpaintArea, Mode, Recipe
from tests.start_noise import caught_start_noise, seed_noise, slerp

SIZE = 96


def recipe(**changes) -> Recipe:
    base = Recipe(prompt="a lighthouse at dusk", model="tiny-sdxl", steps=3, width=SIZE, height=SIZE, seed=7)
    return base.replace(**changes)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def picture(sdxl_engine) -> Image.Image:
    return sdxl_engine.generate(recipe(seed=1))[0]


@pytest.fixture(scope="module")
def mask() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 63, 63), fill=255)
    return mask


def test_the_family_is_read_from_the_model_files(sdxl_engine, model_cache):
    from studio.engine.families import family_of_folder

    assert sdxl_engine.family is Family.SDXL
    assert family_of_folder(tiny_model_folder(model_cache, Family.SDXL)) is Family.SDXL
    assert family_of_folder(tiny_model_folder(model_cache)) is Family.SD15
    assert type(sdxl_engine.pipelines.for_mode(Mode.INPAINT)).__name__ == "StableDiffusionXLInpaintPipeline"


def test_views_share_the_one_loaded_model(sdxl_engine):
    pipelines = sdxl_engine.pipelines
    for mode in Mode:
        view = pipelines.for_mode(mode)
        assert view.unet is pipelines.base.unet and view.text_encoder_2 is pipelines.base.text_encoder_2


def test_txt2img_is_deterministic_and_the_seed_matters(sdxl_engine):
    first = sdxl_engine.generate(recipe())[0]
    assert first.size == (SIZE, SIZE)
    assert sdxl_engine.generate(recipe())[0].tobytes() == first.tobytes()
    assert sdxl_engine.generate(recipe(seed=8))[0].tobytes() != first.tobytes()


def test_the_session_matches_a_bare_sdxl_pipeline_call(sdxl_engine):
    """A prompt without syntax: the studio's picture is diffusers' own, pixel for pixel."""
    from studio.engine.samplers import make_scheduler

    r = recipe(sampler="Euler", negative_prompt="blurry")
    ours = sdxl_engine.generate(r)[0]
    pipe = sdxl_engine.pipelines.base
    pipe.scheduler = make_scheduler("Euler", "Automatic", sdxl_engine.pipelines.scheduler_config, seed=r.seed)
    with torch.inference_mode():
        theirs = pipe(
            r.prompt,
            negative_prompt="blurry",
            num_inference_steps=r.steps,
            guidance_scale=r.cfg_scale,
            width=SIZE,
            height=SIZE,
            generator=[torch.Generator("cpu").manual_seed(r.seed)],
        ).images[0]
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_and_repeats_exactly(sdxl_engine, sampler):
    r = recipe(sampler=sampler, steps=4, width=64, height=64)
    first = sdxl_engine.generate(r)[0]
    assert sdxl_engine.generate(r)[0].tobytes() == first.tobytes()


def test_repaint_changes_the_picture_and_strength_zero_keeps_it(sdxl_engine, picture):
    repainted = sdxl_engine.generate(recipe(mode=Mode.IMG2IMG, denoising_strength=0.6), image=picture)[0]
    assert repainted.size == picture.size and np.abs(pixels(repainted) - pixels(picture)).mean() > 1
    kept = sdxl_engine.generate(recipe(mode=Mode.IMG2IMG, denoising_strength=0.0), image=picture)[0]
    assert kept.tobytes() == picture.tobytes()


@pytest.mark.parametrize("area", list(InpaintArea))
def test_inpaint_changes_only_the_masked_area_to_the_exact_pixel(sdxl_engine, picture, mask, area):
    r = recipe(mode=Mode.INPAINT, inpaint_area=area, mask_blur=0, denoising_strength=0.9)
    result = sdxl_engine.generate(r, image=picture, mask=mask)[0]
    outside = np.asarray(mask) == 0
    assert (pixels(result)[outside] == pixels(picture)[outside]).all()
    assert np.abs(pixels(result)[~outside] - pixels(picture)[~outside]).mean() > 1


def test_variations_blend_towards_the_variation_seed(sdxl_engine):
    plain = sdxl_engine.generate(recipe())[0]
    assert sdxl_engine.generate(recipe(variation_seed=99, variation_strength=0.0))[0].tobytes() == plain.tobytes()
    base = recipe()
    shape = (1, 4, base.height // 8, base.width // 8)
    own, other = seed_noise(base.seed, shape), seed_noise(99, shape)
    with caught_start_noise(sdxl_engine.pipelines.for_mode(Mode.TXT2IMG)) as caught:
        for strength in (0.1, 0.9):
            sdxl_engine.generate(recipe(variation_seed=99, variation_strength=strength))
    for strength, started in zip((0.1, 0.9), caught, strict=True):
        assert np.allclose(started, slerp(strength, own, other), atol=1e-5), strength


def test_stop_and_live_preview(sdxl_engine):
    from studio.errors import GenerationStopped

    previews = []

    def on_step(progress):
        previews.append(progress.preview)
        if progress.step == 2:
            sdxl_engine.request_stop()

    with pytest.raises(GenerationStopped):
        sdxl_engine.generate(recipe(steps=5), on_step=on_step)
    assert len(previews) == 2 and previews[0].size == (SIZE // 8, SIZE // 8)


# --- prompts ------------------------------------------------------------------------------------


def encoded(pipe, prompt, negative="", clip_skip=1):
    with torch.inference_mode():
        return prompts.encode(pipe, prompt, negative, clip_skip=clip_skip)


def test_a_plain_prompt_gives_exactly_diffusers_embeddings_with_both_encoders_and_pooled(sdxl_engine):
    pipe = sdxl_engine.pipelines.base
    ours = encoded(pipe, "a red fox in the snow", "blurry")
    with torch.inference_mode():
        theirs = pipe.encode_prompt("a red fox in the snow", device="cpu", negative_prompt="blurry")
    for name, tensor in zip(
        ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
        theirs,
        strict=True,
    ):
        assert torch.equal(ours[name], tensor), name
    assert (
        ours["prompt_embeds"].shape[-1] == pipe.text_encoder.config.hidden_size + pipe.text_encoder_2.config.hidden_size
    )


def test_an_empty_negative_prompt_is_zeros_as_sdxl_was_trained(sdxl_engine):
    pipe = sdxl_engine.pipelines.base
    ours = encoded(pipe, "a red fox", "")
    with torch.inference_mode():
        theirs = pipe.encode_prompt("a red fox", device="cpu")  # no negative prompt: diffusers gives zeros
    assert torch.equal(ours["negative_prompt_embeds"], theirs[1]) and not ours["negative_prompt_embeds"].any()
    assert torch.equal(ours["negative_pooled_prompt_embeds"], theirs[3])


def test_a1111_syntax_weights_both_encoders_and_long_prompts_chunk(sdxl_engine):
    pipe = sdxl_engine.pipelines.base
    plain = encoded(pipe, "a cat on a mat")
    assert torch.equal(encoded(pipe, "a (cat:1.0) on a mat")["prompt_embeds"], plain["prompt_embeds"])
    weighted = encoded(pipe, "a (cat:1.4) on a mat")
    change = (weighted["prompt_embeds"] - plain["prompt_embeds"]).abs().sum(dim=1)[0]
    width_l = pipe.text_encoder.config.hidden_size
    assert change[:width_l].sum() > 0 and change[width_l:].sum() > 0  # both encoders' halves weighted
    # The pooled embedding is bigG's, unweighted, as A1111 takes it.
    assert torch.equal(weighted["pooled_prompt_embeds"], plain["pooled_prompt_embeds"])
    assert encoded(pipe, "a cat BREAK on a mat")["prompt_embeds"].shape[1] == 154
    long = encoded(pipe, ", ".join(["a very long list of words"] * 30), "blurry")
    assert long["prompt_embeds"].shape == long["negative_prompt_embeds"].shape
    assert long["prompt_embeds"].shape[1] % 77 == 0 and long["prompt_embeds"].shape[1] > 77


def test_clip_skip_is_diffusers_clip_skip_as_forge_counts_it(sdxl_engine):
    """Forge: hidden_states[-max(N, 2)] of both encoders, no final norm, which is SDXL's own layer for N <= 2.
    diffusers' SDXL clip_skip=k takes hidden_states[-(k + 2)]: the studio's N is diffusers' N - 2."""
    pipe = sdxl_engine.pipelines.base
    with torch.inference_mode():
        default = pipe.encode_prompt("a red fox", device="cpu", negative_prompt="blurry")
        skip_one = pipe.encode_prompt("a red fox", device="cpu", negative_prompt="blurry", clip_skip=1)
    for clip_skip in (1, 2):
        assert torch.equal(encoded(pipe, "a red fox", "blurry", clip_skip)["prompt_embeds"], default[0])
    three = encoded(pipe, "a red fox", "blurry", 3)
    assert torch.equal(three["prompt_embeds"], skip_one[0])
    assert torch.equal(three["pooled_prompt_embeds"], skip_one[2])  # the pooled embedding never skips
    assert sdxl_engine.generate(recipe(clip_skip=3))[0].tobytes() != sdxl_engine.generate(recipe())[0].tobytes()


def test_a_clip_skip_deeper_than_the_text_encoder_is_refused(sdxl_engine):
    with pytest.raises(ValueError, match="clip_skip"):
        sdxl_engine.generate(recipe(clip_skip=9))


# --- ControlNet ---------------------------------------------------------------------------------


def control_map() -> Image.Image:
    edges = Image.new("RGB", (SIZE, SIZE), "black")
    ImageDraw.Draw(edges).line([(8, 8), (48, 88), (88, 8)], fill="white", width=4)
    return edges


@pytest.mark.parametrize("mode", list(Mode))
def test_an_sdxl_controlnet_steers_each_mode(sdxl_engine, picture, mask, mode):
    inputs = {Mode.TXT2IMG: {}, Mode.IMG2IMG: {"image": picture}, Mode.INPAINT: {"image": picture, "mask": mask}}
    plain = sdxl_engine.generate(recipe(mode=mode), **inputs[mode])[0]
    unit = ControlRef(kind="canny", model="tiny", image="control-1", preprocessor="none")
    controlled = sdxl_engine.generate(
        recipe(mode=mode, controls=(unit,)), control_images={"control-1": control_map()}, **inputs[mode]
    )[0]
    assert controlled.tobytes() != plain.tobytes()
    assert type(sdxl_engine.pipelines.controlnets["tiny"]).__name__ == "ControlNetModel"
    if mode is Mode.INPAINT:
        outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(4))) == 0
        assert (pixels(controlled)[outside] == pixels(picture)[outside]).all()


def test_a_controlnet_of_the_other_family_is_refused_naming_both(sdxl_engine, model_cache):
    from studio.engine.tiny import tiny_controlnet_folder
    from studio.errors import ModelError

    sd15_controlnet = str(tiny_controlnet_folder(model_cache, Family.SD15))
    unit = ControlRef(kind="canny", model=sd15_controlnet, image="control-1", preprocessor="none")
    with pytest.raises(ModelError, match=r"is made for SD 1\.5 and the model is SDXL"):
        sdxl_engine.generate(recipe(controls=(unit,)), control_images={"control-1": control_map()})


def test_controlnet_defaults_follow_the_family():
    from studio.control.catalogue import default_model, model_for_new_base

    assert default_model("canny", "someone/sdxl-model", "SDXL") == "xinsir/controlnet-canny-sdxl-1.0"
    assert default_model("canny", "someone/sd15-model", "SD 1.5") == "lllyasviel/control_v11p_sd15_canny"
    assert default_model("canny", "tiny-sdxl", "SDXL") == "tiny"
    assert model_for_new_base("canny", "lllyasviel/control_v11p_sd15_canny", "x/y", "SDXL") == (
        "xinsir/controlnet-canny-sdxl-1.0"
    )
    assert model_for_new_base("canny", "/mine/canny-xl.safetensors", "x/y", "SDXL") == "/mine/canny-xl.safetensors"


def depth_map() -> Image.Image:
    ramp = np.tile(np.linspace(0, 255, SIZE, dtype=np.uint8)[:, None], (1, SIZE))
    return Image.fromarray(ramp).convert("RGB")


@pytest.mark.parametrize("mode", list(Mode))
def test_the_union_controlnet_serves_several_kinds_in_each_mode(sdxl_engine, picture, mask, mode):
    """One union model (xinsir's kind, for SDXL): the unit's kind picks its control type; two units share it."""
    inputs = {Mode.TXT2IMG: {}, Mode.IMG2IMG: {"image": picture}, Mode.INPAINT: {"image": picture, "mask": mask}}
    edges = ControlRef(kind="canny", model="tiny-union", image="control-1", preprocessor="none")
    depth = ControlRef(kind="depth", model="tiny-union", image="control-2", preprocessor="none")
    plain = sdxl_engine.generate(recipe(mode=mode), **inputs[mode])[0]
    as_edges = sdxl_engine.generate(
        recipe(mode=mode, controls=(edges,)), control_images={"control-1": control_map()}, **inputs[mode]
    )[0]
    as_depth = sdxl_engine.generate(
        recipe(mode=mode, controls=(dataclasses.replace(edges, kind="depth"),)),
        control_images={"control-1": control_map()},
        **inputs[mode],
    )[0]
    both = sdxl_engine.generate(
        recipe(mode=mode, controls=(edges, depth)),
        control_images={"control-1": control_map(), "control-2": depth_map()},
        **inputs[mode],
    )[0]
    assert len({plain.tobytes(), as_edges.tobytes(), as_depth.tobytes(), both.tobytes()}) == 4
    assert type(sdxl_engine.pipelines.controlnets["tiny-union"]).__name__ == "ControlNetUnionModel"
    if mode is Mode.INPAINT:
        outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(4))) == 0
        assert (pixels(both)[outside] == pixels(picture)[outside]).all()


def test_the_union_controlnet_refuses_what_it_cannot_do(sdxl_engine, engine):
    from studio.errors import ModelError

    union = ControlRef(kind="canny", model="tiny-union", image="control-1", preprocessor="none")
    with pytest.raises(ValueError, match="beside other ControlNets"):
        sdxl_engine.generate(
            recipe(controls=(union, dataclasses.replace(union, model="tiny", image="control-2"))),
            control_images={"control-1": control_map(), "control-2": control_map()},
        )
    with pytest.raises(ValueError, match="no Content shuffle"):
        sdxl_engine.generate(
            recipe(controls=(dataclasses.replace(union, kind="shuffle"),)), control_images={"control-1": control_map()}
        )
    sd15 = Recipe(prompt="a fox", model="tiny", steps=2, width=64, height=64, seed=1, controls=(union,))
    with pytest.raises(ModelError, match=r"is made for SDXL and the model is SD 1\.5"):
        engine.generate(sd15, control_images={"control-1": control_map().resize((64, 64))})


def test_a_union_controlnet_without_a_tile_type_says_so(sdxl_engine, model_cache, tmp_path):
    """xinsir's first union model has 6 control types; tile (type 6) needs its promax version."""
    from diffusers import ControlNetUnionModel

    from studio.engine.tiny import tiny_controlnet_folder

    promax = ControlNetUnionModel.from_pretrained(tiny_controlnet_folder(model_cache, Family.SDXL, union=True))
    config = {key: value for key, value in promax.config.items() if not key.startswith("_")}
    ControlNetUnionModel.from_config({**config, "num_control_type": 6}).save_pretrained(tmp_path / "union6")
    unit = ControlRef(kind="tile", model=str(tmp_path / "union6"), image="control-1", preprocessor="none")
    with pytest.raises(ValueError, match="6 control types, and tile is type 6: use its promax version"):
        sdxl_engine.generate(recipe(controls=(unit,)), control_images={"control-1": control_map()})
    edges = dataclasses.replace(unit, kind="canny")  # the types it has still run
    assert sdxl_engine.generate(recipe(controls=(edges,)), control_images={"control-1": control_map()})
