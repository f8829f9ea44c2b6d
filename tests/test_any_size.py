"""Pictures whose sides are not multiples of 8 are edited at their own size, every pixel outside the mask kept."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from launch import build_sessions
from studio.prepare import crop_back, extend, render_size
from studio.recipe import InpaintArea, Recipe
from studio.session.session import Session

RECIPE = Recipe(prompt="a red door", model="tiny", steps=2, width=64, height=64, seed=9)


def photo(size: tuple[int, int]) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)


def corner_mask(size: tuple[int, int]) -> Image.Image:
    """A mask in the middle, away from the right and bottom edges the engine extends."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2))
    return mask


@pytest.fixture
def studio(engine, tmp_path) -> Session:
    return build_sessions(engine, tmp_path / "outputs").open()


def test_sizes_are_extended_to_multiples_of_8_and_cropped_back():
    assert render_size((203, 150)) == (208, 152)
    assert render_size((1023, 767)) == (1024, 768)
    assert render_size((40, 512)) == (64, 512)
    with pytest.raises(ValueError, match="up to 2048"):
        render_size((4000, 3000))
    picture = photo((203, 150))
    extended = extend(picture, (208, 152))
    assert extended.size == (208, 152)
    assert np.array_equal(np.asarray(crop_back(extended, (203, 150))), np.asarray(picture))
    assert extend(Image.new("L", (5, 5), 255), (8, 8), fill=0).getpixel((7, 7)) == 0


@pytest.mark.parametrize("size", [(203, 150), (517, 389)])
@pytest.mark.parametrize("area", [InpaintArea.WHOLE_PICTURE, InpaintArea.ONLY_MASKED])
def test_inpaint_keeps_the_size_and_every_pixel_outside_the_mask(studio, size, area):
    picture, mask = photo(size), corner_mask(size)
    node = studio.inpaint(picture, mask, RECIPE.replace(inpaint_area=area))
    result = studio.restore(node.id).outputs[0]
    assert result.size == size
    outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(RECIPE.mask_blur))) == 0
    assert np.array_equal(np.asarray(result)[outside], np.asarray(picture)[outside])
    assert not np.array_equal(np.asarray(result)[~outside], np.asarray(picture)[~outside])
    # The recipe says what ran: the render size (a multiple of 8), and the node keeps the exact upload.
    assert node.recipe.width % 8 == 0 and node.recipe.height % 8 == 0
    assert np.array_equal(np.asarray(studio.restore(node.id).inputs["image"]), np.asarray(picture))


@pytest.mark.parametrize("size", [(203, 150), (517, 389)])
def test_img2img_returns_the_uploads_size(studio, size):
    node = studio.repaint(photo(size), RECIPE.replace(denoising_strength=0.6))
    assert studio.restore(node.id).outputs[0].size == size
    assert (node.recipe.width, node.recipe.height) == render_size(size)


def test_replay_of_an_odd_sized_edit_is_exact(studio):
    node = studio.inpaint(photo((203, 150)), corner_mask((203, 150)), RECIPE)
    again = studio.replay(node.id)
    assert studio.restore(again.id).outputs[0].tobytes() == studio.restore(node.id).outputs[0].tobytes()


def test_strength_zero_returns_the_picture_and_too_few_steps_are_refused(studio):
    picture = photo((203, 150))
    node = studio.repaint(picture, RECIPE.replace(denoising_strength=0.0, batch_size=2))
    assert all(np.array_equal(np.asarray(out), np.asarray(picture)) for out in studio.restore(node.id).outputs)
    with pytest.raises(ValueError, match=r"runs no step at all; raise the strength to 0.05 or the steps to 25"):
        studio.repaint(picture, RECIPE.replace(denoising_strength=0.04, steps=20))
    with pytest.raises(ValueError, match="runs no step"):
        studio.inpaint(picture, corner_mask((203, 150)), RECIPE.replace(denoising_strength=0.1, steps=5))
    with pytest.raises(ValueError, match="up to 2048"):
        studio.repaint(Image.new("RGB", (2100, 64)), RECIPE)
