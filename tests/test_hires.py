"""The hires fix (A1111's): render, enlarge, repaint at the larger size; on both tiny models."""

import numpy as np
import pytest
from PIL import Image

from launch import build_sessions
from studio.recipe import HIRES_UPSCALERS, ControlRef, Mode, Recipe


def recipe(model: str = "tiny", **changes) -> Recipe:
    base = Recipe(prompt="a lighthouse", model=model, steps=4, width=64, height=64, seed=5, sampler="Euler")
    return base.replace(**changes)


@pytest.mark.parametrize("upscaler", HIRES_UPSCALERS)
def test_the_second_pass_renders_at_the_enlarged_size_with_a1111s_step_count(engine, latent_sizes, upscaler):
    hires = recipe(hires_scale=1.5, hires_upscaler=upscaler, hires_steps=6, hires_denoising_strength=0.5)
    pictures = engine.generate(hires)
    assert pictures[0].size == hires.hires_size == (96, 96)
    # 4 steps at 64 px (latents 8x8; one UNet call a step), then int(6 x 0.5) = 3 at 96 px (latents 12x12).
    assert latent_sizes == [(8, 8)] * 4 + [(12, 12)] * 3
    assert engine.generate(hires)[0].tobytes() == pictures[0].tobytes()


def test_the_upscalers_and_the_strength_matter_and_scale_1_is_off(engine):
    plain = engine.generate(recipe())[0]
    assert engine.generate(recipe(hires_scale=1.0, hires_steps=9))[0].tobytes() == plain.tobytes()
    made = {
        upscaler: engine.generate(recipe(hires_scale=2, hires_upscaler=upscaler))[0].tobytes()
        for upscaler in HIRES_UPSCALERS
    }
    assert len(set(made.values())) == len(HIRES_UPSCALERS)
    weaker = engine.generate(recipe(hires_scale=2, hires_denoising_strength=0.3))[0].tobytes()
    assert weaker != made["Latent"]
    # The enlarged picture is the first pass repainted, not a new picture: close to it, scaled up.
    enlarged = np.asarray(plain.resize((128, 128), Image.Resampling.LANCZOS)).astype(int)
    light = engine.generate(recipe(hires_scale=2, hires_upscaler="Lanczos", hires_denoising_strength=0.3))[0]
    other = engine.generate(recipe(seed=99, hires_scale=2, hires_upscaler="Lanczos", hires_denoising_strength=0.3))[0]
    assert (
        np.abs(np.asarray(light).astype(int) - enlarged).mean()
        < np.abs(np.asarray(other).astype(int) - enlarged).mean()
    )


def test_the_hires_fix_runs_on_sdxl(sdxl_engine):
    hires = recipe("tiny-sdxl", hires_scale=1.5, batch_size=2)
    pictures = sdxl_engine.generate(hires)
    assert [p.size for p in pictures] == [(96, 96)] * 2 and pictures[0].tobytes() != pictures[1].tobytes()


def test_what_the_hires_fix_cannot_do_is_refused_before_any_work(engine):
    unit = ControlRef(kind="canny", model="tiny", image="control-1", preprocessor="none")
    with pytest.raises(ValueError, match="control units"):
        engine.generate(
            recipe(hires_scale=2, controls=(unit,)), control_images={"control-1": Image.new("RGB", (64, 64))}
        )
    with pytest.raises(ValueError, match="runs no step at all"):
        engine.generate(recipe(hires_scale=2, hires_denoising_strength=0.1))


def test_a_hires_node_keeps_its_settings_writes_them_for_a1111_and_replays_exactly(engine, tmp_path):
    from studio.formats.a1111 import parse_parameters

    studio = build_sessions(engine, tmp_path / "outputs").open()
    node = studio.generate(recipe(hires_scale=1.5, hires_steps=4, hires_denoising_strength=0.6))
    assert node.recipe.hires_scale == 1.5 and node.recipe.mode is Mode.TXT2IMG
    picture = Image.open(studio.output_path(node.id))
    assert picture.size == (96, 96)
    fields = parse_parameters(picture.text["parameters"]).fields
    assert (fields["Size"], fields["Hires upscale"], fields["Denoising strength"]) == ("64x64", "1.5", "0.6")
    again = studio.replay(node.id)
    assert Image.open(studio.output_path(again.id)).tobytes() == picture.tobytes()
    # An edit of the result has no hires fix: it repaints the picture at its own size.
    edited = studio.repaint(picture.convert("RGB"), node.recipe, parent_id=node.id, source_index=0)
    assert edited.recipe.hires_scale == 1.0 and Image.open(studio.output_path(edited.id)).size == (96, 96)
