"""Regions to fix: boxes and masks (pure), finding faces and hands with OpenPose, and ADetailer's fields."""

import dataclasses
import pickle
import time

import numpy as np
import pytest
import torch
from PIL import Image

from launch import build_sessions
from studio.control.pose import PRESETS
from studio.engine.annotators import Preprocessors, boxes_from_keypoints
from studio.errors import AnnotatorMissing
from studio.finish.regions import clamp_box, fix_name, grown, region_mask
from studio.formats import a1111, adetailer
from studio.recipe import ControlRef, InpaintArea, Mode, Recipe, RecipeError, RegionRef
from studio.services.picture_info import Source, read_picture_info


def test_boxes_are_clamped_grown_and_shrunk_inside_the_picture():
    assert clamp_box((-5, 10.4, 40, 300), (64, 64)) == (0, 10, 40, 64)
    assert clamp_box((40, 50, 10, 20), (64, 64)) == (10, 20, 40, 50)  # dragged up and left
    assert grown((10, 10, 30, 30), 6, (64, 64)) == (4, 4, 36, 36)
    assert grown((10, 10, 30, 30), -4, (64, 64)) == (14, 14, 26, 26)
    with pytest.raises(ValueError, match="smaller than 8 pixels"):
        grown((10, 10, 30, 30), -8, (64, 64))


def test_a_box_region_masks_its_box_and_a_brush_region_its_strokes_inside_the_box():
    box = np.asarray(region_mask(RegionRef("box", (4, 8, 20, 16)), (32, 32))) > 0
    assert box.sum() == 16 * 8 and box[8:16, 4:20].all()
    strokes = Image.new("L", (32, 32), 255)
    brush = np.asarray(region_mask(RegionRef("brush", (0, 0, 10, 10), mask="region-0"), (32, 32), strokes)) > 0
    assert brush.sum() == 100  # the strokes beyond the box are not this region's


def test_fixes_are_named_as_the_artist_would():
    hand = RegionRef("hand", (0, 0, 16, 16))
    assert fix_name([hand]) == "fix hand" and fix_name([hand, hand]) == "fix hands"
    assert fix_name([RegionRef("face", (0, 0, 16, 16))]) == "fix face"
    assert fix_name([hand, RegionRef("box", (0, 0, 16, 16))]) == "fix 2 regions"


def test_recipes_refuse_regions_that_cannot_run():
    fix = Recipe(mode=Mode.INPAINT, inpaint_area=InpaintArea.ONLY_MASKED)
    with pytest.raises(RecipeError, match="regions.box"):
        fix.replace(regions=(RegionRef("box", (10, 10, 10, 20)),))
    with pytest.raises(RecipeError, match="regions.label"):
        fix.replace(regions=(RegionRef("foot", (0, 0, 10, 10)),))
    with pytest.raises(RecipeError, match="only masked"):
        Recipe().replace(regions=(RegionRef("box", (0, 0, 10, 10)),))
    with pytest.raises(RecipeError, match="regions.denoising_strength"):
        fix.replace(regions=(RegionRef("box", (0, 0, 10, 10), denoising_strength=1.5),))


# --- finding faces and hands ------------------------------------------------------------------------


def _pose_pixels(name: str, size: tuple[int, int]) -> list[tuple[float, float] | None]:
    return [None if p is None else (p[0] * size[0], p[1] * size[1]) for p in PRESETS[name].keypoints]


def test_openposes_rules_put_the_face_round_the_head_and_the_hands_past_the_wrists():
    size = (256, 256)
    points = _pose_pixels("arms out (T)", size)
    found = boxes_from_keypoints(points, size, ("face", "hand"))
    assert [label for label, _ in found] == ["face", "hand", "hand"]
    (_, face), *hands = found
    nose = points[0]
    assert face[0] < nose[0] < face[2] and face[1] < nose[1] < face[3]
    for wrist in (points[4], points[7]):  # each wrist is inside (or at the edge of) one hand box
        assert any(box[0] <= wrist[0] <= box[2] and box[1] <= wrist[1] <= box[3] for _, box in hands)
    assert boxes_from_keypoints(points, size, ("hand",)) == found[1:]


def _write_body_weights(folder, seed: int = 0) -> None:
    """OpenPose's body network with random weights, under the file name and keys of lllyasviel/Annotators."""
    from controlnet_aux.open_pose.model import bodypose_model

    torch.manual_seed(seed)
    weights = {name.split(".", 1)[1]: value.half() for name, value in bodypose_model().state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(weights, folder / "body_pose_model.pth")


def test_the_finder_loads_its_weights_through_the_real_path_and_runs(tmp_path):
    _write_body_weights(tmp_path / "annotators" / "Annotators")
    finder = Preprocessors(tmp_path / "annotators")
    found = finder.find_regions(Image.new("RGB", (96, 128), "white"))
    assert isinstance(found, list)  # random weights find nobody; the point is that it loaded and ran
    assert all(label in ("face", "hand") for label, _ in found)


class _Payload:
    def __reduce__(self):
        return (exec, ("raise SystemExit('code in a weights file ran')",))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path):
    folder = tmp_path / "annotators" / "Annotators"
    folder.mkdir(parents=True)
    (folder / "body_pose_model.pth").write_bytes(pickle.dumps({"conv1_1.weight": _Payload()}))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        Preprocessors(tmp_path / "annotators").find_regions(Image.new("RGB", (64, 64)))


def test_missing_finder_weights_say_so_in_seconds_and_point_to_marking_by_hand(tmp_path):
    started = time.monotonic()
    with pytest.raises(AnnotatorMissing, match=r"body_pose_model\.pth.*mark the regions by hand"):
        Preprocessors(tmp_path / "annotators").find_regions(Image.new("RGB", (64, 64)))
    assert time.monotonic() - started < 5


class _PoseFinder:
    """The finder with its network's answer given: a known pose. Everything after the network is the real code."""

    def find_regions(self, picture, labels):
        return boxes_from_keypoints(_pose_pixels("arms out (T)", picture.size), picture.size, labels)


def test_found_regions_feed_the_fixer(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs", map_maker=_PoseFinder()).open()  # type: ignore[arg-type]
    recipe = Recipe(prompt="a dancer", model="tiny", steps=2, width=64, height=64, seed=4)
    parent = studio.generate(recipe.replace(width=192, height=192))
    regions = studio.find_regions(parent.id, ("hand",))
    assert [region.label for region in regions] == ["hand", "hand"]
    assert all(region.found_by == "openpose" for region in regions)
    regions = tuple(dataclasses.replace(region, denoising_strength=1.0) for region in regions)
    child = studio.fix(parent.id, regions, recipe)
    assert child.recipe.regions == regions
    before = np.asarray(Image.open(studio.output_path(parent.id)).convert("RGB")).astype(int)
    after = np.asarray(Image.open(studio.output_path(child.id)).convert("RGB")).astype(int)
    for region in regions:
        left, top, right, bottom = region.box
        assert np.abs(after[top:bottom, left:right] - before[top:bottom, left:right]).mean() > 2
    assert np.array_equal(after[150:, 60:130], before[150:, 60:130])  # the legs, far from both hands


# --- ADetailer's fields -------------------------------------------------------------------------------


def test_adetailer_suffixes_are_its_ordinals():
    assert [adetailer.suffix(i) for i in range(5)] == ["", " 2nd", " 3rd", " 4th", " 5th"]
    assert adetailer.suffix(10) == " 11th" and adetailer.suffix(20) == " 21st"


def test_a_fix_writes_adetailer_fields_that_read_back_as_its_passes():
    face = RegionRef("face", (0, 0, 32, 32), "detailed face, green eyes", "", 0.35, 4, 32, found_by="openpose")
    hand = RegionRef("hand", (32, 32, 64, 64), "detailed hand", "extra fingers", 0.5, 6, 24)
    recipe = Recipe(
        prompt="a knight", model="tiny", seed=3, mode=Mode.INPAINT, inpaint_area=InpaintArea.ONLY_MASKED
    ).replace(regions=(face, hand, hand))
    text = a1111.format_parameters(recipe)
    fields = a1111.parse_parameters(text).fields
    assert fields["ADetailer model"] == "openpose_face" and fields["ADetailer model 2nd"] == "hand"
    assert fields["ADetailer prompt"] == "detailed face, green eyes"
    assert fields["ADetailer denoising strength 2nd"] == "0.5" and fields["ADetailer inpaint padding 2nd"] == "24"
    assert "ADetailer model 3rd" not in fields  # the two hands with one setting are one pass
    assert "Denoising strength" not in fields and "Mask blur" not in fields  # each pass says its own
    passes, _ = adetailer.read_passes(dict(fields))
    assert passes == adetailer.passes(recipe.regions)
    assert [p.label for p in passes] == ["face", "hand"]
    # Under the tile ControlNet ("keep structure"): ADetailer's ControlNet fields, not A1111's own unit line.
    tile = ControlRef("tile", "lllyasviel/control_v11f1e_sd15_tile", "control-0", 0.7, preprocessor="tile_resample")
    fields = a1111.parse_parameters(a1111.format_parameters(recipe.replace(controls=(tile,)))).fields
    assert fields["ADetailer ControlNet model"] == "control_v11f1e_sd15_tile" and "ControlNet 0" not in fields
    assert fields["ADetailer ControlNet weight 2nd"] == "0.7"
    assert [p.structure for p in adetailer.read_passes(dict(fields))[0]] == [0.7, 0.7]


# As ADetailer 24.x writes it into an A1111 1.10 txt2img with the hires fix (field names and omissions from
# Bing-su/adetailer `adetailer/args.py`; quoting from A1111's `infotext_utils.quote`). Written by hand here.
HELD_OUT = """masterpiece, 1girl, waving, <lora:my-character:0.8>
Negative prompt: (worst quality, low quality:1.4)
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3456789012, Size: 512x768, \
Model hash: 7f96a1a9ca, Model: anything-v5, Denoising strength: 0.45, Clip skip: 2, \
ADetailer model: face_yolov8n.pt, ADetailer prompt: "detailed face, beautiful eyes", ADetailer confidence: 0.3, \
ADetailer dilate erode: 4, ADetailer mask blur: 4, ADetailer denoising strength: 0.4, \
ADetailer inpaint only masked: True, ADetailer inpaint padding: 32, \
ADetailer model 2nd: hand_yolov8n.pt, ADetailer prompt 2nd: "detailed hand, five fingers", \
ADetailer negative prompt 2nd: "extra fingers, fused fingers", ADetailer confidence 2nd: 0.3, \
ADetailer dilate erode 2nd: 8, ADetailer mask blur 2nd: 6, ADetailer denoising strength 2nd: 0.5, \
ADetailer inpaint only masked 2nd: True, ADetailer inpaint padding 2nd: 48, \
ADetailer ControlNet model 2nd: control_v11f1e_sd15_tile [a371b31b], ADetailer ControlNet module 2nd: tile_resample, \
ADetailer ControlNet weight 2nd: 0.6, ADetailer version: 24.11.1, \
Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, Version: v1.10.1"""


def test_an_a1111_picture_with_hires_fix_and_adetailer_fills_the_form_and_the_finish_area(tmp_path):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", HELD_OUT)
    Image.new("RGB", (64, 96)).save(tmp_path / "civitai.png", pnginfo=info)
    read = read_picture_info(tmp_path / "civitai.png")
    assert read.source is Source.A1111
    recipe = read.recipe(Recipe(model="tiny"))
    assert (recipe.hires_scale, recipe.hires_steps, recipe.hires_upscaler) == (2.0, 15, "Latent")
    assert recipe.hires_denoising_strength == 0.45 and recipe.clip_skip == 2 and recipe.seed == 3456789012
    face, hand = read.fix_passes
    assert (face.label, face.prompt, face.denoising_strength, face.mask_blur, face.padding, face.grow) == (
        "face",
        "detailed face, beautiful eyes",
        0.4,
        4,
        32,
        4,
    )
    assert (hand.label, hand.model, hand.negative_prompt, hand.denoising_strength, hand.padding, hand.grow) == (
        "hand",
        "hand_yolov8n.pt",
        "extra fingers, fused fingers",
        0.5,
        48,
        8,
    )
    assert (face.structure, hand.structure) == (0.0, 0.6)  # the hand pass ran under the tile ControlNet
    assert not any(key.startswith("ADetailer") for key in read.unknown)  # applied, so not listed as unknown


# --- the Finish tab's review table and board (pure) -----------------------------------------------------


def test_review_rows_become_the_regions_that_run():
    from studio.finish.regions import FixPlan, regions_from_rows, review_row

    plan = FixPlan(prompt="detailed", negative_prompt="blurry", denoising_strength=0.5, mask_blur=2, padding=8, grow=4)
    rows = [
        review_row("hand", (10, 10, 30, 30), "openpose"),
        [False, "face", 0, 0, 20, 20, "", "by hand"],  # switched off
        [True, "box", "40", "40", "60", "62", "red glove", "by hand"],  # numbers as text, its own prompt
        review_row("brush", (5, 40, 25, 60), "painted #2"),
    ]
    hand, box, brush = regions_from_rows(rows, plan, (64, 64))
    assert (hand.label, hand.box, hand.prompt, hand.found_by) == ("hand", (6, 6, 34, 34), "detailed", "openpose")
    assert (box.label, box.box, box.prompt, box.negative_prompt) == ("box", (36, 36, 64, 64), "red glove", "blurry")
    assert (brush.label, brush.mask, brush.found_by) == ("brush", "region-2", "")
    assert (hand.denoising_strength, hand.mask_blur, hand.padding) == (0.5, 2, 8)
    with pytest.raises(ValueError, match="region row 1: .*smaller than 8 pixels"):
        regions_from_rows([[True, "box", 0, 0, 4, 4, "", ""]], plan, (64, 64))
    with pytest.raises(ValueError, match="region row 1: a brush region needs its strokes"):
        regions_from_rows([[True, "brush", 0, 0, 40, 40, "", "by hand"]], plan, (64, 64))


def test_painted_strokes_arrive_as_a_png_and_are_kept_in_the_draft(tmp_path):
    import base64
    import io

    from studio.finish.regions import painted_mask
    from studio.session.drafts import Drafts

    strokes = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    strokes.paste((255, 255, 255, 255), (4, 6, 12, 20))
    buffer = io.BytesIO()
    strokes.save(buffer, format="PNG")
    mask = painted_mask("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    assert mask.getbbox() == (4, 6, 12, 20)
    with pytest.raises(ValueError, match="did not arrive as a PNG"):
        painted_mask("data:image/jpeg;base64,AAAA")
    with pytest.raises(ValueError, match="could not be read"):
        painted_mask("data:image/png;base64,bm90IGEgcG5n")
    drafts = Drafts(tmp_path / "draft")
    (tmp_path / "draft").mkdir()
    assert drafts.save_region_mask(mask) == 1 and drafts.save_region_mask(mask) == 2
    assert np.array_equal(np.asarray(Image.open(drafts.region_mask(2))), np.asarray(mask))
    assert drafts.region_mask(3) is None


def test_the_board_draws_each_region_where_it_will_run():
    from studio.ui.present.region_board import board_html

    html = board_html("/out/00001-0.png", (200, 100), [("hand", (20, 10, 70, 60))], ["/out/draft/region-1.png"])
    assert "left:10.000%;top:10.000%;width:25.000%;height:50.000%" in html and "1 hand" in html
    assert "region-1.png" in html and "data-width='200' data-height='100'" in html
    assert "Pick a picture" in board_html(None, None, [])
