"""Preparing a request from what the window holds: pure functions, no window and no engine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.prepare import (
    NothingToEdit,
    edit_from_editor,
    fit_control_maps,
    flatten,
    mask_from_layers,
    require_mask,
)


def layer_with_paint(size=(16, 16), box=(4, 4, 8, 8), colour=(255, 0, 0, 255)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(colour, box)
    return layer


def editor(background, layers=(), composite=None) -> dict:
    return {"background": background, "layers": list(layers), "composite": composite}


def never_an_output(picture, node, index) -> bool:
    return False


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


def test_an_inpaint_runs_on_the_untouched_background_unless_the_paint_is_a_guide():
    background = Image.new("RGBA", (16, 16), (0, 128, 0, 255))
    composite = background.copy()
    composite.paste((255, 0, 0, 255), (4, 4, 8, 8))
    value = editor(background, [layer_with_paint()], composite)
    plain = edit_from_editor(value, editing=None, keep_colours=False, is_output=never_an_output)
    assert plain.picture.getpixel((5, 5)) == (0, 128, 0) and plain.mask.getpixel((5, 5)) == 255
    assert plain.mask.getpixel((0, 0)) == 0 and (plain.parent_id, plain.source_index) == (None, None)
    guided = edit_from_editor(value, editing=None, keep_colours=True, is_output=never_an_output)
    assert guided.picture.getpixel((5, 5)) == (255, 0, 0)


def test_the_result_is_a_child_only_while_the_editor_holds_exactly_the_sent_picture():
    sent = Image.new("RGB", (16, 16), "teal")
    asked: list = []

    def is_output(picture, node, index):
        asked.append((node, index))
        return picture.tobytes() == sent.tobytes()

    editing = {"node": "00003", "index": 1}
    child = edit_from_editor(editor(sent), editing=editing, keep_colours=False, is_output=is_output)
    assert (child.parent_id, child.source_index) == ("00003", 1) and asked == [("00003", 1)]
    upload = edit_from_editor(
        editor(Image.new("RGB", (16, 16), "red")), editing=editing, keep_colours=False, is_output=is_output
    )
    assert (upload.parent_id, upload.source_index) == (None, None)


def test_an_empty_editor_or_mask_says_what_to_do():
    with pytest.raises(NothingToEdit, match="Send a picture to the editor first"):
        edit_from_editor(None, editing=None, keep_colours=False, is_output=never_an_output)
    with pytest.raises(NothingToEdit, match="Send a picture to the editor first"):
        edit_from_editor(editor(None), editing=None, keep_colours=False, is_output=never_an_output)
    blank = edit_from_editor(
        editor(Image.new("RGB", (8, 8))), editing=None, keep_colours=False, is_output=never_an_output
    )
    with pytest.raises(NothingToEdit, match="Brush over the part to change"):
        require_mask(blank)


def test_control_maps_are_scaled_without_blending_classes():
    seg = Image.new("RGB", (4, 4), (120, 120, 120))
    seg.paste((6, 230, 230), (0, 0, 2, 4))
    fitted = fit_control_maps({"control-0": seg}, (9, 7))["control-0"]
    assert fitted.size == (9, 7) and set(fitted.getdata()) == {(120, 120, 120), (6, 230, 230)}
