"""Flux.1 Kontext on the tiny Flux model: an edit the artist describes in words ("make the jacket red"), whose
picture equals diffusers' own Kontext pipelines' for the same inputs; a child node like any edit, the artist's
pixels exact outside a mask, and replayed to the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FluxKontextInpaintPipeline, FluxKontextPipeline, FluxPipeline
from PIL import Image

from studio.engine.tiny_flux import tiny_flux_folder
from studio.errors import InputError
from studio.history import Action
from studio.recipe import ControlRef, Mode, Recipe, RecipeError

INSTRUCTION = "make the jacket red"
KONTEXT = Recipe(
    prompt=INSTRUCTION, model="tiny-flux", sampler="Euler", scheduler="Automatic", cfg_scale=1.0, steps=3, width=64,
    height=64, seed=7, mode=Mode.IMG2IMG, kontext=True,
)  # fmt: skip


@pytest.fixture(scope="module")
def diffusers_flux(model_cache):
    """diffusers' own Flux pipeline on the same files, loaded apart from the studio's engine."""
    pipe = FluxPipeline.from_pretrained(tiny_flux_folder(model_cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def photo(size=(64, 64), shift: int = 0) -> Image.Image:
    rows, columns = np.mgrid[0 : size[1], 0 : size[0]]
    return Image.fromarray(
        np.stack([(rows * 4 + shift) % 256, columns * 4 % 256, (rows + columns) * 2 % 256], -1).astype(np.uint8)
    )


def own(pipe, view, **arguments) -> Image.Image:
    """diffusers' Kontext pipeline, told to read the picture at its own size (not resized to a trained size)."""
    arguments = {
        "prompt": INSTRUCTION, "guidance_scale": 3.5, "num_inference_steps": 3, "height": 64, "width": 64,
        "max_area": 64 * 64, "_auto_resize": False,
    } | arguments  # fmt: skip
    return view.from_pipe(pipe)(generator=torch.Generator("cpu").manual_seed(7), **arguments).images[0]


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.int16)


def test_a_change_in_words_is_diffusers_own_kontext_picture_and_reads_the_picture(flux_engine, diffusers_flux):
    (studio,) = flux_engine.generate(KONTEXT, image=photo())
    assert studio.tobytes() == own(diffusers_flux, FluxKontextPipeline, image=photo()).tobytes()
    # The picture is the model's context: another picture, another result (a txt2img would not see it).
    (other,) = flux_engine.generate(KONTEXT, image=photo(shift=100))
    assert other.tobytes() != studio.tobytes()
    # Drawn anew from noise: the strength, which a repaint would use, changes nothing, even at 0.
    (at_zero,) = flux_engine.generate(KONTEXT.replace(denoising_strength=0.0), image=photo())
    assert at_zero.tobytes() == studio.tobytes()


def test_with_a_mask_only_the_masked_area_changes_as_diffusers_kontext_inpaint(flux_engine, diffusers_flux):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    recipe = KONTEXT.replace(mode=Mode.INPAINT, denoising_strength=0.9, mask_blur=0)
    (studio,) = flux_engine.generate(recipe, image=photo(), mask=mask)
    expected = own(diffusers_flux, FluxKontextInpaintPipeline, image=photo(), mask_image=mask, strength=0.9)
    inside = np.asarray(mask) > 0
    assert np.array_equal(pixels(studio)[inside], pixels(expected)[inside])
    assert np.array_equal(pixels(studio)[~inside], pixels(photo())[~inside])  # exactly the artist's pixels


def test_a_picture_whose_sides_are_not_multiples_of_16_keeps_its_size(flux_engine):
    (made,) = flux_engine.generate(KONTEXT.replace(width=72, height=88), image=photo((72, 88)))
    assert made.size == (72, 88)


def test_a_kontext_edit_is_a_child_node_replayed_to_the_same_pixels(flux_engine, tmp_path):
    from launch import build_sessions
    from studio.finish.outpaint import Extension

    flux = KONTEXT.replace(prompt="a knight", mode=Mode.TXT2IMG, kontext=False)
    session = build_sessions(flux_engine, tmp_path / "outputs", defaults=flux).open()
    made = session.generate(flux)
    picture = session.output_picture(made.id)
    changed = session.kontext(picture, f"  {INSTRUCTION} ", flux, parent_id=made.id, source_index=0)
    assert (changed.action, changed.parent_id, changed.recipe.prompt) == (Action.KONTEXT, made.id, INSTRUCTION)
    assert changed.recipe.kontext and changed.recipe.mode is Mode.IMG2IMG and changed.recipe.denoising_strength == 1
    mask = Image.new("L", picture.size, 0)
    mask.paste(255, (8, 8, 40, 40))
    sharp = flux.replace(mask_blur=0)  # the mask as drawn: no soft edge reaching outside it
    masked = session.kontext(session.output_picture(changed.id), "add a hat", sharp, mask=mask, parent_id=changed.id)
    outside = np.asarray(mask) == 0
    before, after = pixels(session.output_picture(changed.id)), pixels(session.output_picture(masked.id))
    assert np.array_equal(after[outside], before[outside]) and not np.array_equal(after, before)
    widened = session.outpaint(masked.id, Extension(right=16), flux)  # an edit of its picture is no Kontext edit
    assert not widened.recipe.kontext
    for node in (changed, masked):
        again = session.replay(node.id)
        assert session.output_picture(again.id).tobytes() == session.output_picture(node.id).tobytes()
    with pytest.raises(InputError, match="Describe the change"):
        session.kontext(picture, "  ", flux, parent_id=made.id)


def test_what_kontext_cannot_do_is_refused_by_name(flux_engine, engine):
    with pytest.raises(RecipeError, match="kontext"):
        KONTEXT.replace(mode=Mode.TXT2IMG)
    with pytest.raises(InputError, match="Flux.1 Kontext model"):
        engine.generate(KONTEXT.replace(model="tiny", sampler="Euler a"), image=photo())
    unit = ControlRef(model="tiny-flux-union", image="control-1", kind="canny")
    with pytest.raises(InputError, match="picture and words alone"):
        flux_engine.generate(KONTEXT.replace(controls=(unit,)), image=photo(), control_images={"control-1": photo()})
    assert Recipe.from_json(KONTEXT.to_json()) == KONTEXT


def test_a_kontext_models_folder_is_read_as_flux(model_cache, tmp_path):
    """FLUX.1 Kontext dev ships as a `FluxKontextPipeline` folder (and FLUX.1 Fill as a `FluxFillPipeline` one)."""
    import json
    import shutil

    from studio.engine.families import Family, family_of_folder

    for class_name in ("FluxKontextPipeline", "FluxFillPipeline"):
        folder = tmp_path / class_name
        shutil.copytree(tiny_flux_folder(model_cache), folder)
        index = json.loads((folder / "model_index.json").read_text())
        (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": class_name}))
        assert family_of_folder(folder) is Family.FLUX
