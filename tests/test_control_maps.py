"""Hand-made control maps: the ADE20K palette, semantic painting, scribbles, and the pose editor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.control import ade20k, maps
from studio.control.pose import COLOURS, JOINT_RADIUS, JOINTS, LIMB_SHADE, LIMBS, PRESETS, Pose, click, render


def colours_in(picture: Image.Image) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in np.unique(np.asarray(picture).reshape(-1, 3), axis=0)}


def test_the_palette_is_ade20ks_150_classes_in_the_colours_controlnet_was_trained_on():
    from controlnet_aux.util import ade_palette  # the annotators' own table, an independent copy

    assert len(ade20k.CLASSES) == 150
    assert [c.colour for c in ade20k.CLASSES] == [tuple(colour) for colour in ade_palette()]
    assert [c.index for c in ade20k.CLASSES] == list(range(150))
    assert len({c.name for c in ade20k.CLASSES}) == 150
    named = {"wall": (120, 120, 120), "sky": (6, 230, 230), "tree": (4, 200, 3), "person": (150, 5, 61)}
    assert {name: ade20k.find(name).colour for name in named} == named
    assert ade20k.find(" Sky ").hex == "#06e6e6"


def test_the_palette_is_searchable_by_name():
    assert [c.name for c in ade20k.search("sky")] == ["sky", "skyscraper"]
    assert "water" in [c.name for c in ade20k.search("wat")]
    assert ade20k.search("tree")[0].name == "tree"
    with pytest.raises(KeyError, match="did you mean"):
        ade20k.find("trees")


def test_painting_with_a_class_colour_yields_exactly_that_colour():
    sky, person = ade20k.find("sky"), ade20k.find("person")
    canvas = maps.blank_map("seg", (96, 64))
    canvas = maps.fill_area(canvas, (0, 0, 95, 20), sky.colour)
    canvas = maps.paint_stroke(canvas, [(10, 40), (50, 30), (85, 50)], person.colour, 9)
    assert colours_in(canvas) == {ade20k.find("wall").colour, sky.colour, person.colour}
    assert canvas.getpixel((50, 30)) == person.colour and canvas.getpixel((5, 5)) == sky.colour
    assert [c.name for c in maps.painted_classes(canvas)] == ["wall", "sky", "person"]


def test_a_browser_brushs_blended_edges_are_snapped_back_to_the_painted_classes():
    sky, tree = ade20k.find("sky").colour, ade20k.find("tree").colour
    painted = Image.new("RGB", (64, 64), sky)
    ImageDraw.Draw(painted).ellipse((16, 16, 48, 48), fill=tree)
    blended = painted.resize((32, 32), Image.Resampling.BILINEAR).resize((64, 64), Image.Resampling.BILINEAR)
    assert len(colours_in(blended)) > 2  # antialiasing invented colours
    cleaned = maps.clean_semantic_map(blended)
    assert colours_in(cleaned) == {sky, tree}
    assert cleaned.getpixel((32, 32)) == tree and cleaned.getpixel((2, 2)) == sky


def test_scribbles_become_white_lines_on_black():
    paper = Image.new("RGB", (32, 32), "white")
    ImageDraw.Draw(paper).line((0, 16, 31, 16), fill=(30, 30, 30), width=3)
    scribble = maps.clean_scribble(paper)
    assert colours_in(scribble) == {(0, 0, 0), (255, 255, 255)}
    assert scribble.getpixel((16, 16)) == (255, 255, 255) and scribble.getpixel((16, 2)) == (0, 0, 0)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_pose_renders_exactly_as_the_openpose_annotator_draws_it(name):
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose

    pose, size = PRESETS[name], (256, 384)
    reference = draw_bodypose(
        np.zeros((size[1], size[0], 3), dtype=np.uint8), [Keypoint(x, y) for x, y in pose.keypoints]
    )
    assert np.array_equal(np.asarray(render(pose, size)), reference)


def test_joints_and_limbs_are_where_the_keypoints_say():
    pose, size = PRESETS["standing"], (512, 512)
    rendered = render(pose, size)
    for index, (x, y) in enumerate(pose.keypoints):
        assert rendered.getpixel((int(x * 512), int(y * 512))) == COLOURS[index], JOINTS[index]
    # Midway along the right upper arm (shoulder -> elbow, limb 2): the limb's shaded colour.
    shoulder, elbow = pose.keypoints[2], pose.keypoints[3]
    middle = (int((shoulder[0] + elbow[0]) / 2 * 512), int((shoulder[1] + elbow[1]) / 2 * 512))
    assert LIMBS[2] == (2, 3)
    assert rendered.getpixel(middle) == tuple(int(c * LIMB_SHADE) for c in COLOURS[2])
    assert rendered.getpixel((5, 5)) == (0, 0, 0)


def test_moving_a_joint_moves_it_in_the_map():
    pose, size = PRESETS["standing"], (512, 512)
    wrist = JOINTS.index("left wrist")
    old = tuple(int(v * 512) for v in pose.keypoints[wrist])
    moved = pose.moved(wrist, (0.8, 0.2))
    rendered = render(moved, size)
    assert rendered.getpixel((int(0.8 * 512), int(0.2 * 512))) == COLOURS[wrist]
    assert rendered.getpixel(old) != COLOURS[wrist]
    # The forearm follows: its middle now lies between the elbow and the new wrist.
    elbow = moved.keypoints[JOINTS.index("left elbow")]
    middle = (int((elbow[0] + 0.8) / 2 * 512), int((elbow[1] + 0.2) / 2 * 512))
    assert rendered.getpixel(middle) == tuple(int(c * LIMB_SHADE) for c in COLOURS[LIMBS.index((6, 7))])


def test_the_editor_picks_a_joint_up_with_one_click_and_puts_it_down_with_the_next():
    pose, size = PRESETS["standing"], (512, 512)
    nose = pose.keypoints[0]
    same, selected = click(pose, None, (nose[0] + 2 / 512, nose[1]), size)
    assert same == pose and selected == 0
    moved, selected = click(pose, 0, (0.5, 0.05), size)
    assert selected is None and moved.keypoints[0] == (0.5, 0.05)
    assert click(moved, None, (0.95, 0.95), size) == (moved, None)  # empty space, nothing held: nothing happens
    assert Pose.from_dict(moved.to_dict()) == moved
    assert render(moved, size).getpixel((256, int(0.05 * 512))) == COLOURS[0]
    assert JOINT_RADIUS == 4


def test_a_units_default_controlnet_follows_the_base_model_and_the_artists_own_stays():
    from studio.control.catalogue import model_for_new_base

    assert model_for_new_base("openpose", "lllyasviel/control_v11p_sd15_openpose", "tiny") == "tiny"
    assert model_for_new_base("openpose", "tiny", "someone/sd15-model") == "lllyasviel/control_v11p_sd15_openpose"
    assert model_for_new_base("canny", "/models/my-canny.safetensors", "tiny") == "/models/my-canny.safetensors"
