"""Preparing a request from what the window holds: pure functions, no window and no engine."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from studio.pictures import picture_from_data_url
from studio.prepare import (
    NothingToEdit,
    edit_from_layers,
    fit_control_maps,
    flatten,
    mask_from_layers,
    require_mask,
)


def layer_with_paint(size=(16, 16), box=(4, 4, 8, 8), colour=(255, 0, 0, 255)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(colour, box)
    return layer


def test_mask_is_the_union_of_painted_pixels():
    first = layer_with_paint(box=(0, 0, 4, 4), colour=(255, 0, 0, 40))  # faint paint still counts
    second = layer_with_paint(box=(8, 8, 12, 12), colour=(0, 0, 255, 255))
    mask = np.asarray(mask_from_layers([first, second], (16, 16)))
    assert set(np.unique(mask)) == {0, 255}
    assert mask[:4, :4].all() and mask[8:12, 8:12].all() and mask.sum() == 32 * 255
    assert not mask_from_layers([], (8, 8)).getbbox()


def test_flatten_puts_transparency_on_white():
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (10, 20, 30, 255))
    assert list(flatten(image).getdata()) == [(255, 255, 255), (10, 20, 30)]


def test_the_mask_brush_only_marks_and_paint_both_marks_and_guides():
    background = Image.new("RGB", (16, 16), (0, 128, 0))
    mask = layer_with_paint(box=(0, 0, 4, 4), colour=(79, 124, 255, 255))
    paint = layer_with_paint(box=(8, 8, 12, 12), colour=(255, 0, 0, 255))
    edit = edit_from_layers(background, mask=mask, paint=paint, parent=("00003", 1))
    assert edit.picture.getpixel((1, 1)) == (0, 128, 0), "the mask's tint is never part of the picture"
    assert edit.picture.getpixel((9, 9)) == (255, 0, 0), "paint is"
    assert edit.mask.getpixel((1, 1)) == 255 and edit.mask.getpixel((9, 9)) == 255 and edit.mask.getpixel((6, 6)) == 0
    assert (edit.parent_id, edit.source_index) == ("00003", 1)
    upload = edit_from_layers(background, mask=None, paint=None, parent=None)
    assert (upload.parent_id, upload.source_index) == (None, None)
    assert upload.picture.tobytes() == background.tobytes()
    with pytest.raises(NothingToEdit, match="Brush over the part to change"):
        require_mask(upload)


def test_layers_from_the_page_are_checked_pngs_of_the_pictures_size():
    layer = layer_with_paint()
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert picture_from_data_url(url, (16, 16), "mask").tobytes() == layer.tobytes()
    assert picture_from_data_url(None, (16, 16), "mask") is None
    with pytest.raises(ValueError, match="mask: is 16x16 but the picture is 32x32"):
        picture_from_data_url(url, (32, 32), "mask")
    with pytest.raises(ValueError, match="not a PNG layer"):
        picture_from_data_url("data:text/plain;base64,aGk=", (16, 16), "mask")
    with pytest.raises(ValueError, match="paint: is not a picture"):
        picture_from_data_url("data:image/png;base64," + base64.b64encode(b"nope").decode(), (16, 16), "paint")


def test_control_maps_are_scaled_without_blending_classes():
    seg = Image.new("RGB", (4, 4), (120, 120, 120))
    seg.paste((6, 230, 230), (0, 0, 2, 4))
    fitted = fit_control_maps({"control-0": seg}, (9, 7))["control-0"]
    assert fitted.size == (9, 7) and set(fitted.getdata()) == {(120, 120, 120), (6, 230, 230)}
