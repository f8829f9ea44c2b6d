"""Outpainting: the canvas and mask (pure), and on the tiny model a node whose old pixels stay exact."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from launch import build_sessions
from studio.finish.outpaint import Extension, outpaint_canvas
from studio.history import Action
from studio.recipe import ControlRef, Recipe


def test_the_picture_sits_at_its_place_and_the_mask_is_exactly_the_new_area():
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    canvas, mask = outpaint_canvas(picture, Extension(left=16, top=8, right=24))
    assert canvas.size == (100, 48) and mask.size == (100, 48)
    assert canvas.crop((16, 8, 76, 48)).tobytes() == picture.tobytes()
    white = np.asarray(mask) == 255
    assert not white[8:48, 16:76].any() and white.sum() == 100 * 48 - 60 * 40
    # The new area continues the border's colours (blurred), it is not black.
    assert np.asarray(canvas)[:, :16].mean() > 20


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (Extension(), "every side is 0"),
        (Extension(left=-8), "left is -8"),
        (Extension(right=4096), "0 to 1024"),
        (Extension(left=1024, right=1024), "sides up to 2048"),
    ],
)
def test_impossible_extensions_say_what_to_do(extension, message):
    with pytest.raises(ValueError, match=message):
        outpaint_canvas(Image.new("RGB", (64, 64)), extension)


def test_outpaint_makes_a_child_whose_old_pixels_stay_exact(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs").open()
    recipe = Recipe(prompt="a harbour", model="tiny", steps=3, width=64, height=64, seed=2, mask_blur=4)
    parent = studio.generate(recipe)
    child = studio.outpaint(parent.id, Extension(left=32, bottom=16), recipe.replace(denoising_strength=1.0))
    assert child.action is Action.OUTPAINT and child.parent_id == parent.id and child.source_index == 0
    result = np.asarray(Image.open(studio.output_path(child.id)).convert("RGB")).astype(int)
    assert result.shape == (80, 96, 3)
    before = np.asarray(Image.open(studio.output_path(parent.id)).convert("RGB")).astype(int)
    mask = Image.open(studio.history.path(child.inputs["mask"]))
    untouched = np.asarray(mask.filter(ImageFilter.GaussianBlur(4)))[0:64, 32:96] == 0
    assert untouched.any() and (result[0:64, 32:96][untouched] == before[untouched]).all()
    assert (
        np.abs(result[:, :32] - np.asarray(Image.open(studio.history.path(child.inputs["image"])))[:, :32]).mean() > 1
    )
    # It replays exactly, like any node.
    assert studio.replay(child.id).outputs and np.array_equal(
        np.asarray(Image.open(studio.output_path(studio.tree()[-1].id)).convert("RGB")).astype(int), result
    )


def test_outpaint_refuses_control_units_and_missing_pictures(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs").open()
    recipe = Recipe(prompt="a harbour", model="tiny", steps=2, width=64, height=64, seed=2)
    parent = studio.generate(recipe)
    unit = ControlRef(kind="canny", model="tiny", image="control-1", preprocessor="none")
    with pytest.raises(ValueError, match="without control units"):
        studio.outpaint(parent.id, Extension(left=8), recipe.replace(controls=(unit,)))
    with pytest.raises(ValueError, match="no picture 3"):
        studio.outpaint(parent.id, Extension(left=8), recipe, index=3)
    assert len(studio.tree()) == 1
