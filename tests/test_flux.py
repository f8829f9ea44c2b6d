"""Flux.1 on the tiny Flux model: read as Flux from its files, and each mode's picture equal to diffusers' own
Flux pipeline's for the same inputs (studio/engine/flux.py); Forge's settings, infotext, and refusals by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxImg2ImgPipeline, FluxInpaintPipeline, FluxPipeline
from PIL import Image

from studio.engine.families import Family, family_of_folder
from studio.engine.flux import flux_scheduler
from studio.engine.tiny_flux import tiny_flux_folder
from studio.errors import InputError
from studio.formats import a1111
from studio.recipe import InpaintArea, Mode, Recipe, RegionRef, UpscaleRef

PROMPT = "a knight in red armour, dramatic light"
FLUX = Recipe(
    prompt=PROMPT, model="tiny-flux", sampler="Euler", scheduler="Automatic", cfg_scale=1.0, steps=3, width=64,
    height=64, seed=7,
)  # fmt: skip


@pytest.fixture(scope="module")
def diffusers_flux(model_cache):
    """diffusers' own Flux pipeline on the same files, loaded apart from the studio's engine."""
    pipe = FluxPipeline.from_pretrained(tiny_flux_folder(model_cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def own(pipe, view=None, **arguments) -> Image.Image:
    pipe = view.from_pipe(pipe) if view else pipe
    arguments = {
        "prompt": PROMPT,
        "guidance_scale": 3.5,
        "num_inference_steps": 3,
        "height": 64,
        "width": 64,
    } | arguments
    return pipe(generator=torch.Generator("cpu").manual_seed(7), **arguments).images[0]


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.int16)


def photo(size=(64, 64)) -> Image.Image:
    rows, columns = np.mgrid[0 : size[1], 0 : size[0]]
    return Image.fromarray(
        np.stack([rows * 4 % 256, columns * 4 % 256, (rows + columns) * 2 % 256], -1).astype(np.uint8)
    )


def test_the_family_is_read_from_the_files_with_its_native_sizes(flux_engine, model_cache):
    assert family_of_folder(tiny_flux_folder(model_cache)) is Family.FLUX
    assert flux_engine.family == "Flux.1"
    assert Family.FLUX.native_sizes[0] == (1024, 1024) and (832, 1216) in Family.FLUX.native_sizes


def test_txt2img_is_diffusers_own_picture(flux_engine, diffusers_flux):
    (studio,) = flux_engine.generate(FLUX)
    assert studio.tobytes() == own(diffusers_flux).tobytes()
    # The distilled guidance is the model's input: another value is another picture.
    (other,) = flux_engine.generate(FLUX.replace(distilled_cfg_scale=1.0))
    assert other.tobytes() == own(diffusers_flux, guidance_scale=1.0).tobytes() != studio.tobytes()


def test_real_cfg_runs_with_the_negative_prompt_only_above_1(flux_engine, diffusers_flux):
    recipe = FLUX.replace(cfg_scale=3.0, negative_prompt="blurry, grey")
    (studio,) = flux_engine.generate(recipe)
    assert studio.tobytes() == own(diffusers_flux, true_cfg_scale=3.0, negative_prompt="blurry, grey").tobytes()
    # At CFG 1 the negative prompt is not read (one pass per step), as in Forge.
    (plain,) = flux_engine.generate(FLUX.replace(negative_prompt="blurry, grey"))
    assert plain.tobytes() == flux_engine.generate(FLUX)[0].tobytes()


def test_img2img_is_diffusers_own_picture(flux_engine, diffusers_flux):
    recipe = FLUX.replace(mode=Mode.IMG2IMG, denoising_strength=0.6)
    (studio,) = flux_engine.generate(recipe, image=photo())
    expected = own(diffusers_flux, FluxImg2ImgPipeline, image=photo(), strength=0.6)
    assert studio.tobytes() == expected.tobytes()


def test_inpaint_is_diffusers_own_picture_inside_and_the_artists_outside(flux_engine, diffusers_flux):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    recipe = FLUX.replace(mode=Mode.INPAINT, denoising_strength=0.8, mask_blur=0)
    (studio,) = flux_engine.generate(recipe, image=photo(), mask=mask)
    expected = own(diffusers_flux, FluxInpaintPipeline, image=photo(), mask_image=mask, strength=0.8)
    inside = np.asarray(mask) > 0
    assert np.array_equal(pixels(studio)[inside], pixels(expected)[inside])
    assert np.array_equal(pixels(studio)[~inside], pixels(photo())[~inside])  # exactly the artist's pixels


def test_sides_that_are_not_multiples_of_16_are_extended_and_cropped_back(flux_engine):
    (made,) = flux_engine.generate(FLUX.replace(width=72, height=88))
    assert made.size == (72, 88)
    picture = photo((72, 88))
    mask = Image.new("L", (72, 88), 0)
    mask.paste(255, (60, 72, 72, 88))  # the corner the extension reaches past
    recipe = FLUX.replace(mode=Mode.INPAINT, width=72, height=88, mask_blur=0)
    (inpainted,) = flux_engine.generate(recipe, image=picture, mask=mask)
    inside = np.asarray(mask) > 0
    assert inpainted.size == (72, 88) and np.array_equal(pixels(inpainted)[~inside], pixels(picture)[~inside])


def test_schedules_and_shift_are_flow_matchings_own(flux_engine):
    config = flux_engine.pipelines.scheduler_config
    assert flux_scheduler(FLUX.replace(scheduler="Beta"), config).config.use_beta_sigmas
    fixed = flux_scheduler(FLUX.replace(shift=3.0), config).config
    assert fixed.shift == 3.0 and not fixed.use_dynamic_shifting
    pictures = {
        name: flux_engine.generate(recipe)[0].tobytes()
        for name, recipe in {
            "simple": FLUX.replace(scheduler="Simple"),
            "beta": FLUX.replace(scheduler="Beta"),
            "shift": FLUX.replace(shift=6.0),
        }.items()
    }
    assert pictures["simple"] == flux_engine.generate(FLUX)[0].tobytes()  # Automatic is Simple
    assert len(set(pictures.values())) == 3


def test_steps_report_progress_with_previews_and_stop_ends_the_run(flux_engine):
    steps = []
    flux_engine.generate(FLUX, on_step=steps.append)
    assert [step.step for step in steps] == [1, 2, 3] and steps[0].preview is not None

    def stop_at_first(step):
        flux_engine.request_stop()

    from studio.errors import GenerationStopped

    with pytest.raises(GenerationStopped):
        flux_engine.generate(FLUX, on_step=stop_at_first)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"sampler": "Euler a"}, "flow matching"),
        ({"scheduler": "Karras", "sampler": "Euler"}, "Stable Diffusion schedule"),
    ],
)
def test_what_flux_does_not_run_yet_is_refused_by_name(flux_engine, changes, words):
    with pytest.raises(InputError, match=words):
        flux_engine.generate(FLUX.replace(**changes))


def test_variation_seeds_blend_flux_noise_as_a1111_does(flux_engine):
    (plain,) = flux_engine.generate(FLUX)
    (other_seed,) = flux_engine.generate(FLUX.replace(seed=11))
    (all_the_way,) = flux_engine.generate(FLUX.replace(variation_seed=11, variation_strength=1.0))
    assert all_the_way.tobytes() == other_seed.tobytes()  # strength 1 is the variation seed's own picture
    near = flux_engine.generate(FLUX.replace(variation_seed=11, variation_strength=0.1, batch_size=2))
    assert len({picture.tobytes() for picture in near}) == 2
    assert all(picture.tobytes() not in (plain.tobytes(), other_seed.tobytes()) for picture in near)
    differences = [np.abs(pixels(picture) - pixels(plain)).mean() for picture in near]
    assert max(differences) < np.abs(pixels(other_seed) - pixels(plain)).mean()  # close to the seed's picture


def test_the_hires_fix_is_diffusers_own_two_passes(flux_engine, diffusers_flux):
    recipe = FLUX.replace(hires_scale=1.5, hires_steps=2, hires_denoising_strength=0.6)
    (studio,) = flux_engine.generate(recipe)
    assert studio.size == (96, 96)
    # By hand with diffusers' pipelines: the first pass's latents, unpacked, enlarged bilinear, repainted.
    packed = diffusers_flux(
        prompt=PROMPT, guidance_scale=3.5, num_inference_steps=3, height=64, width=64, output_type="latent",
        generator=torch.Generator("cpu").manual_seed(7),
    ).images  # fmt: skip
    latents = FluxPipeline._unpack_latents(packed, 64, 64, diffusers_flux.vae_scale_factor)
    enlarged = torch.nn.functional.interpolate(latents, size=(12, 12), mode="bilinear")
    first_pass = torch.Generator("cpu").manual_seed(7)  # run again to have the generator where the pass left it
    diffusers_flux(
        prompt=PROMPT, guidance_scale=3.5, num_inference_steps=3, height=64, width=64, output_type="latent",
        generator=first_pass,
    )  # fmt: skip
    expected = FluxImg2ImgPipeline.from_pipe(diffusers_flux)(
        prompt=PROMPT, guidance_scale=3.5, image=enlarged, strength=0.6, num_inference_steps=2, height=96, width=96,
        generator=first_pass,  # the same generator goes on into the second pass, as in the studio
    ).images[0]  # fmt: skip
    assert studio.tobytes() == expected.tobytes()
    # Lanczos enlarges the decoded picture instead: another second pass, the same size.
    (lanczos,) = flux_engine.generate(recipe.replace(hires_upscaler="Lanczos"))
    assert lanczos.size == (96, 96) and lanczos.tobytes() != studio.tobytes()


def test_an_sd_model_refuses_a_flux_schedule(engine):
    with pytest.raises(InputError, match="Simple is a Flux schedule"):
        engine.generate(Recipe(model="tiny", scheduler="Simple", steps=2, width=64, height=64, seed=1))


def test_forge_flux_text_is_written_and_read_back():
    recipe = FLUX.replace(shift=3.0, width=896, height=1152)
    text = a1111.format_parameters(recipe, family="Flux.1")
    assert "CFG scale: 1, Distilled CFG Scale: 3.5, Shift: 3, Seed: 7" in text
    assert "Distilled CFG Scale" not in a1111.format_parameters(recipe, family="SDXL")
    changes, _ = a1111.recipe_changes(a1111.parse_parameters(text))
    assert (changes["distilled_cfg_scale"], changes["shift"], changes["sampler"]) == (3.5, 3.0, "Euler")
    # A text as Forge writes one for Flux.1-dev (held out: not written by the studio).
    forge = (
        "a knight in red armour\n"
        "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 1234, "
        "Size: 896x1152, Model hash: 275ef623d3, Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1-previous-313, "
        "Module 1: ae, Module 2: clip_l, Module 3: t5xxl_fp16"
    )
    changes, kept = a1111.recipe_changes(a1111.parse_parameters(forge))
    assert changes | {"prompt": "", "negative_prompt": ""} == {
        "prompt": "", "negative_prompt": "", "steps": 20, "sampler": "Euler", "scheduler": "Simple", "cfg_scale": 1.0,
        "distilled_cfg_scale": 3.5, "seed": 1234, "width": 896, "height": 1152,
    }  # fmt: skip
    assert Recipe().updated(changes).distilled_cfg_scale == 3.5 and kept["Module 2"] == "clip_l"


def test_inpaint_only_masked_renders_the_area_alone(flux_engine):
    picture = photo((96, 96))
    mask = Image.new("L", (96, 96), 0)
    mask.paste(255, (60, 60, 80, 80))
    recipe = FLUX.replace(mode=Mode.INPAINT, inpaint_area=InpaintArea.ONLY_MASKED, inpaint_padding=8, mask_blur=0)
    (made,) = flux_engine.generate(recipe, image=picture, mask=mask)
    inside = np.asarray(mask) > 0
    assert made.size == (96, 96) and np.array_equal(pixels(made)[~inside], pixels(picture)[~inside])


def test_the_loop_runs_on_flux_and_each_node_replays_to_the_same_pixels(flux_engine, tmp_path):
    from launch import build_sessions
    from studio.finish.outpaint import Extension
    from studio.formats import png_text

    session = build_sessions(flux_engine, tmp_path / "outputs", defaults=FLUX).open()
    made = session.generate(FLUX.replace(batch_size=2))
    picture = session.output_picture(made.id, 1)
    repainted = session.repaint(picture, FLUX.replace(denoising_strength=0.5), parent_id=made.id, source_index=1)
    mask = Image.new("L", picture.size, 0)
    mask.paste(255, (8, 8, 40, 40))
    inpainted = session.inpaint(session.output_picture(repainted.id), mask, FLUX, parent_id=repainted.id)
    widened = session.outpaint(inpainted.id, Extension(right=32), FLUX)
    varied = session.vary(made.id, count=2, strength=0.2)
    fixed = session.fix(made.id, (RegionRef("box", (16, 16, 48, 48), mask_blur=2),), FLUX, painted={})
    upscaled = session.upscale(made.id, UpscaleRef(factor=1.5, tile=64, overlap=16, refine=True), FLUX)
    assert session.output_picture(widened.id).size == (96, 64)
    assert session.output_picture(upscaled.id).size == (96, 96)
    before, after = pixels(session.output_picture(made.id)), pixels(session.output_picture(fixed.id))
    outside = np.ones((64, 64), bool)
    outside[8:56, 8:56] = False  # the box and its mask blur (a Gaussian of 2 px reaches 4 times that)
    assert np.array_equal(after[outside], before[outside]) and not np.array_equal(after, before)
    for node in (made, repainted, inpainted, widened, varied, fixed, upscaled):
        again = session.replay(node.id)
        for index in range(len(node.outputs)):
            assert session.output_picture(again.id, index).tobytes() == session.output_picture(node.id, index).tobytes()
    text = png_text.read_texts(session.path(made.outputs[0]))[png_text.PARAMETERS_KEY]
    assert "Sampler: Euler, Schedule type: Automatic, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 7" in text
