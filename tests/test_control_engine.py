"""ControlNet on the real engine: a tiny ControlNet built from the tiny model, saved and loaded like a real one."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from launch import build_sessions
from studio.control import maps
from studio.control.ade20k import find
from studio.control.catalogue import KINDS
from studio.control.pose import PRESETS, render
from studio.engine.annotators import Preprocessors
from studio.errors import ModelError
from studio.recipe import CONTROL_KINDS, ControlRef, InpaintArea, Mode, Recipe

SIZE = 128
ROLE = "control-0"


def recipe(**changes) -> Recipe:
    return Recipe(prompt="a knight on a hill", model="tiny", steps=4, width=SIZE, height=SIZE, seed=7).replace(
        **changes
    )


def unit(kind: str = "openpose", role: str = ROLE, **changes) -> ControlRef:
    return ControlRef(kind, "tiny", role, **changes)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((SIZE, SIZE))


@pytest.fixture(scope="module")
def mask() -> Image.Image:
    square = Image.new("L", (SIZE, SIZE), 0)
    square.paste(255, (32, 32, 96, 96))
    return square


def map_for(kind: str, picture: Image.Image) -> Image.Image:
    """A map of the sort each kind is given: preprocessed where that needs no weights, else made by hand."""
    preprocessors = Preprocessors()
    if kind == "canny":
        return preprocessors.run("canny", picture)
    if kind == "lineart":
        return preprocessors.run("lineart_standard", picture)
    if kind == "shuffle":
        return preprocessors.run("shuffle", picture)
    if kind == "tile":
        return preprocessors.run("tile_resample", picture, {"down_sampling_rate": 2})
    if kind == "softedge":
        return preprocessors.run("canny", picture).filter(ImageFilter.GaussianBlur(2))
    if kind == "openpose":
        return render(PRESETS["walking"], (SIZE, SIZE))
    if kind == "depth":
        ramp = np.tile(np.linspace(0, 255, SIZE, dtype=np.uint8)[:, None], (1, SIZE))
        return Image.fromarray(ramp).convert("RGB")
    if kind == "seg":
        sky = maps.blank_map("seg", (SIZE, SIZE))
        sky = maps.fill_area(sky, (0, 0, SIZE, SIZE // 2), find("sky").colour)
        return maps.paint_stroke(sky, [(20, 100), (64, 70), (110, 100)], find("person").colour, 12)
    assert kind == "scribble"
    return maps.paint_stroke(maps.blank_map("scribble", (SIZE, SIZE)), [(10, 10), (64, 120), (120, 10)], (255,) * 3, 3)


def inputs_for(mode: Mode, picture: Image.Image, mask: Image.Image) -> dict:
    return {Mode.TXT2IMG: {}, Mode.IMG2IMG: {"image": picture}, Mode.INPAINT: {"image": picture, "mask": mask}}[mode]


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def uncontrolled(engine, picture, mask) -> dict[Mode, bytes]:
    return {mode: engine.generate(recipe(mode=mode), **inputs_for(mode, picture, mask))[0].tobytes() for mode in Mode}


def test_the_catalogue_covers_every_kind_the_recipe_allows():
    assert tuple(KINDS) == CONTROL_KINDS
    assert {"canny", "openpose", "depth", "seg", "scribble", "lineart", "softedge", "tile"} <= set(CONTROL_KINDS)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("kind", CONTROL_KINDS)
def test_each_kind_steers_each_mode(engine, picture, mask, uncontrolled, kind, mode):
    control_map = map_for(kind, picture)
    controlled = recipe(mode=mode, controls=(unit(kind),))
    first = engine.generate(controlled, control_images={ROLE: control_map}, **inputs_for(mode, picture, mask))[0]
    assert first.size == (SIZE, SIZE)
    assert first.tobytes() != uncontrolled[mode]
    if mode is Mode.INPAINT:  # control or not, the artist's pixels outside the mask stay
        outside = np.asarray(mask.filter(ImageFilter.GaussianBlur(4))) == 0
        assert (pixels(first)[outside] == pixels(picture)[outside]).all()


def test_the_map_itself_steers_not_only_the_presence_of_a_controlnet(engine):
    controlled = recipe(controls=(unit(),))
    standing = engine.generate(controlled, control_images={ROLE: render(PRESETS["standing"], (SIZE, SIZE))})[0]
    sitting = engine.generate(controlled, control_images={ROLE: render(PRESETS["sitting"], (SIZE, SIZE))})[0]
    assert np.abs(pixels(standing) - pixels(sitting)).mean() > 1.0


@pytest.mark.parametrize("mode", list(Mode))
def test_weight_zero_gives_the_pixels_of_no_control(engine, picture, mask, uncontrolled, mode):
    silent = recipe(mode=mode, controls=(unit(weight=0.0),))
    control_map = render(PRESETS["standing"], (SIZE, SIZE))
    result = engine.generate(silent, control_images={ROLE: control_map}, **inputs_for(mode, picture, mask))[0]
    assert result.tobytes() == uncontrolled[mode]


def test_weight_scales_the_effect(engine, uncontrolled):
    control_map = render(PRESETS["standing"], (SIZE, SIZE))
    plain = pixels(Image.frombytes("RGB", (SIZE, SIZE), uncontrolled[Mode.TXT2IMG]))
    effect = {
        weight: np.abs(
            pixels(engine.generate(recipe(controls=(unit(weight=weight),)), control_images={ROLE: control_map})[0])
            - plain
        ).mean()
        for weight in (0.3, 1.0)
    }
    # Each weight steers (weight 0 is the plain picture, tested above); no claim on which steers more: that is a
    # ranking of a random network's outputs, which rounding on another CPU may flip.
    assert effect[0.3] > 0 and effect[1.0] > 0 and effect[0.3] != effect[1.0]


def test_two_units_at_once(engine, picture):
    pose, edges = render(PRESETS["standing"], (SIZE, SIZE)), map_for("canny", picture)
    both = recipe(controls=(unit("openpose", "control-0"), unit("canny", "control-1", weight=0.8)))
    images = {"control-0": pose, "control-1": edges}
    together = engine.generate(both, control_images=images)[0]
    again = engine.generate(both, control_images=images)[0]
    pose_only = engine.generate(recipe(controls=(unit("openpose"),)), control_images={ROLE: pose})[0]
    edges_only = engine.generate(recipe(controls=(unit("canny", weight=0.8),)), control_images={ROLE: edges})[0]
    assert together.tobytes() == again.tobytes()
    assert together.tobytes() not in (pose_only.tobytes(), edges_only.tobytes())
    # The second unit at weight 0 leaves exactly the first unit's picture.
    muted = recipe(controls=(unit("openpose", "control-0"), unit("canny", "control-1", weight=0.0)))
    assert engine.generate(muted, control_images=images)[0].tobytes() == pose_only.tobytes()


def test_guidance_start_and_end_choose_the_steps_the_controlnet_steers(engine):
    """diffusers (like A1111) steers step i of n when start <= i/n and (i+1)/n <= end."""
    control_map = render(PRESETS["standing"], (SIZE, SIZE))
    # The ControlNet loads with its first run: make sure it has, whichever test ran first on this worker.
    whole = engine.generate(recipe(steps=10, controls=(unit(weight=0.7),)), control_images={ROLE: control_map})[0]
    controlnet = engine.pipelines.controlnets["tiny"]
    scales: list[float] = []
    hook = controlnet.register_forward_pre_hook(
        lambda module, args, kwargs: scales.append(float(kwargs["conditioning_scale"])), with_kwargs=True
    )
    try:
        windowed = recipe(steps=10, controls=(unit(weight=0.7, guidance_start=0.2, guidance_end=0.6),))
        late = engine.generate(windowed, control_images={ROLE: control_map})[0]
    finally:
        hook.remove()
    assert scales == [0.0, 0.0, 0.7, 0.7, 0.7, 0.7, 0.0, 0.0, 0.0, 0.0]
    none = engine.generate(recipe(steps=10))[0]
    assert late.tobytes() not in (whole.tobytes(), none.tobytes())


@pytest.mark.parametrize(
    ("controls", "images", "message"),
    [
        ((unit(),), {}, "unit 1 .openpose. has no control map"),
        ((unit(),), {ROLE: Image.new("RGB", (64, 64))}, "map is 64x64 but the picture is 128x128"),
        ((), {ROLE: Image.new("RGB", (SIZE, SIZE))}, "no unit uses the control map 'control-0'"),
    ],
)
def test_bad_control_inputs_are_refused_before_any_work(engine, controls, images, message):
    with pytest.raises(ValueError, match=message):
        engine.generate(recipe(controls=controls), control_images=images)


def test_only_masked_inpaint_with_one_unit_renders_the_crop_under_control(engine, picture, mask, latent_sizes):
    control_map = render(PRESETS["standing"], (SIZE, SIZE))
    only_masked = recipe(mode=Mode.INPAINT, inpaint_area=InpaintArea.ONLY_MASKED, width=64, height=64)
    plain = engine.generate(only_masked, image=picture, mask=mask)[0]
    controlled = engine.generate(
        only_masked.replace(controls=(unit(),)), image=picture, mask=mask, control_images={ROLE: control_map}
    )[0]
    assert controlled.size == picture.size and controlled.tobytes() != plain.tobytes()
    assert set(latent_sizes) == {(8, 8)}  # the crop, at the recipe's 64x64, in both runs
    two = only_masked.replace(controls=(unit(role="control-0"), unit(role="control-1")))
    with pytest.raises(ValueError, match="'only masked' takes one control unit"):
        engine.generate(
            two, image=picture, mask=mask, control_images={"control-0": control_map, "control-1": control_map}
        )


def test_a_controlnet_that_cannot_be_found_says_what_to_do(engine, tmp_path):
    bad = recipe(controls=(ControlRef("canny", str(tmp_path / "nowhere"), ROLE),))
    with pytest.raises(ModelError, match="lllyasviel/control_v11p_sd15_canny"):
        engine.generate(bad, control_images={ROLE: Image.new("RGB", (SIZE, SIZE))})
    offline = recipe(controls=(ControlRef("canny", "someone/not-downloaded-controlnet", ROLE),))
    with pytest.raises(ModelError, match="cannot be downloaded now"):
        engine.generate(offline, control_images={ROLE: Image.new("RGB", (SIZE, SIZE))})
    # The studio keeps working.
    assert engine.generate(recipe())[0].size == (SIZE, SIZE)


@pytest.mark.parametrize("mode", list(Mode))
def test_control_maps_are_saved_on_the_node_and_a_replay_is_exact(engine, tmp_path, picture, mask, mode):
    studio = build_sessions(engine, tmp_path / "outputs").open()
    seg_map = map_for("seg", picture)
    pose = render(PRESETS["arms raised"], (SIZE, SIZE))
    controls = (unit("seg", "control-0"), unit("openpose", "control-1", weight=0.6, guidance_end=0.8))
    control_images = {"control-0": seg_map, "control-1": pose}
    base = recipe(controls=controls)
    if mode is Mode.TXT2IMG:
        node = studio.generate(base, control_images=control_images)
    elif mode is Mode.IMG2IMG:
        node = studio.repaint(picture, base, control_images=control_images)
    else:
        node = studio.inpaint(picture, mask, base, control_images=control_images)
    saved = studio.restore(node.id)
    assert saved.inputs["control-0"].tobytes() == seg_map.tobytes()  # exact colours, no blending
    assert saved.inputs["control-1"].tobytes() == pose.tobytes()
    assert node.recipe.controls == controls

    replayed = studio.replay(node.id)
    assert replayed.parent_id == node.id and replayed.inputs == node.inputs
    assert studio.restore(replayed.id).outputs[0].tobytes() == saved.outputs[0].tobytes()


def test_the_session_refuses_a_missing_or_unused_map_before_saving_anything(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs").open()
    with pytest.raises(ValueError, match="no unit uses the control map 'control-0'"):
        studio.generate(recipe(), control_images={ROLE: Image.new("RGB", (SIZE, SIZE))})
    with pytest.raises(ValueError, match="unit 1 .openpose. has no control map"):
        studio.generate(recipe(controls=(unit(),)))
    assert studio.tree() == []
    with pytest.raises(ValueError, match="'image' and 'mask' name the input picture"):
        recipe(controls=(unit(role="mask"),))
