"""Flux ControlNets on the tiny Flux model: a single-kind one and a union one (a control mode per unit, as InstantX's
and Shakker Labs' Union Pro take them), each picture equal to diffusers' own Flux ControlNet pipeline's; a
ControlNet of another family, and a kind the union lacks, refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxControlNetImg2ImgPipeline, FluxControlNetModel, FluxControlNetPipeline, FluxPipeline
from diffusers.models.controlnets.controlnet_flux import FluxMultiControlNetModel
from PIL import Image

from studio.engine.tiny_flux import tiny_flux_controlnet_folder, tiny_flux_folder
from studio.errors import InputError, ModelError
from studio.recipe import ControlRef, Mode, Recipe

PROMPT = "a dancer on a stage"
FLUX = Recipe(prompt=PROMPT, model="tiny-flux", sampler="Euler", cfg_scale=1.0, steps=3, width=64, height=64, seed=5)


def edges() -> Image.Image:
    picture = Image.new("RGB", (64, 64), "black")
    picture.paste((255, 255, 255), (20, 8, 24, 56))
    picture.paste((255, 255, 255), (8, 30, 56, 34))
    return picture


def depth() -> Image.Image:
    rows = np.linspace(0, 255, 64, dtype=np.uint8)[:, None].repeat(64, 1)
    return Image.fromarray(np.stack([rows] * 3, -1))


@pytest.fixture(scope="module")
def diffusers_flux(model_cache):
    pipe = FluxPipeline.from_pretrained(tiny_flux_folder(model_cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def own_control(pipe, controlnet, view=FluxControlNetPipeline, **arguments) -> bytes:
    control = view.from_pipe(pipe, controlnet=controlnet)
    control.set_progress_bar_config(disable=True)
    common = {"prompt": PROMPT, "guidance_scale": 3.5, "num_inference_steps": 3, "height": 64, "width": 64}
    return control(generator=torch.Generator("cpu").manual_seed(5), **common | arguments).images[0].tobytes()


def test_a_flux_controlnet_gives_diffusers_own_picture(flux_engine, diffusers_flux, model_cache):
    unit = ControlRef("canny", "tiny", "control-1", weight=0.8, guidance_end=0.7)
    (studio,) = flux_engine.generate(FLUX.replace(controls=(unit,)), control_images={"control-1": edges()})
    controlnet = FluxControlNetModel.from_pretrained(tiny_flux_controlnet_folder(model_cache))
    expected = own_control(
        diffusers_flux, controlnet, control_image=edges(), controlnet_conditioning_scale=0.8,
        control_guidance_start=[0.0], control_guidance_end=[0.7],
    )  # fmt: skip
    assert studio.tobytes() == expected
    # The map steers: another map, another picture; and a repaint runs under control too.
    (other,) = flux_engine.generate(FLUX.replace(controls=(unit,)), control_images={"control-1": depth()})
    assert other.tobytes() != studio.tobytes()
    repaint = FLUX.replace(mode=Mode.IMG2IMG, denoising_strength=0.6, controls=(unit,))
    (repainted,) = flux_engine.generate(repaint, image=depth(), control_images={"control-1": edges()})
    expected = own_control(
        diffusers_flux, controlnet, FluxControlNetImg2ImgPipeline, image=depth(), strength=0.6,
        control_image=edges(), controlnet_conditioning_scale=0.8, control_guidance_start=[0.0],
        control_guidance_end=[0.7],
    )  # fmt: skip
    assert repainted.tobytes() == expected


def test_one_union_controlnet_serves_two_units_each_with_its_mode(flux_engine, diffusers_flux, model_cache):
    units = (
        ControlRef("canny", "tiny-union", "control-1", weight=0.7),
        ControlRef("depth", "tiny-union", "control-2", weight=0.5),
    )
    maps = {"control-1": edges(), "control-2": depth()}
    (studio,) = flux_engine.generate(FLUX.replace(controls=units), control_images=maps)
    union = FluxControlNetModel.from_pretrained(tiny_flux_controlnet_folder(model_cache, union=True))
    expected = own_control(
        diffusers_flux, FluxMultiControlNetModel([union, union]), control_image=[edges(), depth()],
        control_mode=[0, 2], controlnet_conditioning_scale=[0.7, 0.5], control_guidance_start=[0.0, 0.0],
        control_guidance_end=[1.0, 1.0],
    )  # fmt: skip
    assert studio.tobytes() == expected
    # The mode is the kind: the same maps read as other kinds make another picture.
    swapped = (units[0].__class__("tile", "tiny-union", "control-1", weight=0.7), units[1])
    assert flux_engine.generate(FLUX.replace(controls=swapped), control_images=maps)[0].tobytes() != studio.tobytes()


def test_controlnets_of_another_family_and_kinds_the_union_lacks_are_refused(flux_engine, engine, model_cache):
    sd_unit = ControlRef("canny", str(tiny_flux_controlnet_folder(model_cache)), "control-1")
    sd_recipe = Recipe(model="tiny", steps=2, width=64, height=64, seed=1, controls=(sd_unit,))
    with pytest.raises(ModelError, match="made for Flux.1 and the model is SD 1.5"):
        engine.generate(sd_recipe, control_images={"control-1": edges()})
    seg = ControlRef("seg", "tiny-union", "control-1")
    with pytest.raises(InputError, match="Flux's union ControlNet has no"):
        flux_engine.generate(FLUX.replace(controls=(seg,)), control_images={"control-1": edges()})
