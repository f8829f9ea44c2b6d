"""Finishing on the tiny model: region fixes change only their regions; upscales through spandrel, tiled and not."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from launch import build_sessions
from studio.engine.upscalers import UpscalerError, Upscalers
from studio.finish.regions import blurred_mask, region_mask, touched_area
from studio.history import Action
from studio.recipe import Recipe, RegionRef, UpscaleRef
from studio.ui.present.history import what_happened
from tests.upscaler_models import write_tiny_esrgan

ESRGAN = "tiny-esrgan-4x.safetensors"


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(int)


@pytest.fixture
def upscalers(tmp_path):
    write_tiny_esrgan(tmp_path / "upscalers" / ESRGAN)
    return Upscalers(tmp_path / "upscalers")


@pytest.fixture
def studio(engine, upscalers, tmp_path):
    return build_sessions(engine, tmp_path / "outputs", upscalers=upscalers).open()


@pytest.fixture
def recipe():
    return Recipe(prompt="a knight waving", model="tiny", steps=3, width=64, height=64, seed=11)


def test_a_fix_of_two_regions_changes_only_inside_them_in_one_node(studio, recipe):
    parent = studio.generate(recipe.replace(width=128, height=96))
    hand = RegionRef("hand", (8, 40, 40, 72), prompt="detailed hand, five fingers", denoising_strength=0.9, mask_blur=4)
    face = RegionRef("face", (80, 8, 112, 40), denoising_strength=0.9, mask_blur=0, padding=8)
    child = studio.fix(parent.id, (hand, face), recipe)

    assert child.action is Action.FIX and child.parent_id == parent.id and len(child.outputs) == 1
    assert child.recipe.regions == (hand, face) and what_happened(child) == f"fix 2 regions of {parent.id}·1"
    before = pixels(Image.open(studio.output_path(parent.id)))
    after = pixels(Image.open(studio.output_path(child.id)))
    masks = [region_mask(region, (128, 96)) for region in (hand, face)]
    outside = ~touched_area((hand, face), masks)
    assert outside.sum() > 128 * 96 / 2
    assert np.array_equal(after[outside], before[outside])  # byte for byte
    for mask in masks:  # and each region did change
        inside = np.asarray(mask) > 0
        assert np.abs(after[inside] - before[inside]).mean() > 2
    # The node replays to the same picture.
    again = studio.replay(child.id)
    assert np.array_equal(pixels(Image.open(studio.output_path(again.id))), after)


def test_a_brush_region_changes_only_its_strokes(studio, recipe):
    parent = studio.generate(recipe)
    stroke = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(stroke).ellipse((20, 20, 44, 44), fill=255)
    region = RegionRef("brush", (16, 16, 48, 48), denoising_strength=1.0, mask_blur=2, mask="region-0")
    child = studio.fix(parent.id, (region,), recipe, painted={"region-0": stroke})
    assert set(child.inputs) == {"image", "region-0"}
    before = pixels(Image.open(studio.output_path(parent.id)))
    after = pixels(Image.open(studio.output_path(child.id)))
    outside = np.asarray(blurred_mask(stroke, 2)) == 0
    assert np.array_equal(after[outside], before[outside])
    assert np.abs(after[30:34, 30:34] - before[30:34, 30:34]).mean() > 2


def test_a_fix_is_refused_before_it_runs_for_bad_regions(studio, recipe):
    parent = studio.generate(recipe)
    with pytest.raises(ValueError, match="none marked"):
        studio.fix(parent.id, (), recipe)
    with pytest.raises(ValueError, match="outside the 64x64 picture"):
        studio.fix(parent.id, (RegionRef("box", (40, 40, 90, 90)),), recipe)
    with pytest.raises(ValueError, match="painted mask 'region-0' is missing"):
        studio.fix(parent.id, (RegionRef("brush", (0, 0, 32, 32), mask="region-0"),), recipe)
    with pytest.raises(ValueError, match="no stroke inside its box"):
        studio.fix(
            parent.id,
            (RegionRef("brush", (0, 0, 32, 32), mask="region-0"),),
            recipe,
            painted={"region-0": Image.new("L", (64, 64), 0)},
        )
    assert len(studio.tree()) == 1


def test_an_upscaler_model_loads_through_spandrel_and_enlarges(studio, recipe):
    parent = studio.generate(recipe)
    child = studio.upscale(parent.id, UpscaleRef(factor=2.0, upscaler=ESRGAN, tile=32), recipe)
    result = Image.open(studio.output_path(child.id))
    assert result.size == (128, 128) and child.action is Action.UPSCALE
    assert what_happened(child) == f"upscale 2x of {parent.id}·1"
    # The picture's own recipe, with the upscale added: nothing else ran.
    assert child.recipe.replace(upscale=None) == parent.recipe and child.recipe.upscale.upscaler == ESRGAN
    assert np.asarray(result).std() > 10  # a picture, not a flat field
    lanczos = studio.upscale(parent.id, UpscaleRef(factor=1.5), recipe)
    assert Image.open(studio.output_path(lanczos.id)).size == (96, 96)
    # Picture 2 of a hires batch: its own seed and its hires fix stay in the upscale's recipe.
    batch = studio.generate(recipe.replace(batch_size=2, hires_scale=1.5, steps=4))
    second = studio.upscale(batch.id, UpscaleRef(factor=2.0), recipe, index=1)
    assert second.recipe.seed == batch.seeds[1] and second.recipe.hires_scale == 1.5
    assert Image.open(studio.output_path(second.id)).size == (192, 192)


def test_tiled_upscale_equals_the_untiled_one_and_has_no_seams(upscalers):
    # Tolerance: 1/255 per channel (float rounding); the margin covers the network's reach, so tiles agree.
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 255, (72, 100, 3), dtype=np.uint8))
    whole = pixels(upscalers.upscale(picture, ESRGAN, 4, tile=0))
    for tile in (32, 48):
        tiled = pixels(upscalers.upscale(picture, ESRGAN, 4, tile=tile))
        assert tiled.shape == whole.shape == (288, 400, 3)
        assert np.abs(tiled - whole).max() <= 1
        # No seam: along each tile border, neighbouring columns differ no more than anywhere else.
        steps = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))
        seams = [steps[tile * 4 * k - 1] for k in range(1, 100 // tile + 1) if tile * 4 * k < 400]
        assert max(seams) <= np.percentile(steps, 99)


def test_a_pth_upscaler_loads_through_spandrels_restricted_unpickler_and_matches_its_safetensors_twin(
    tmp_path, upscalers
):
    write_tiny_esrgan(tmp_path / "pth" / "tiny-esrgan-4x.pth")
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 255, (24, 24, 3), dtype=np.uint8))
    from_pth = Upscalers(tmp_path / "pth").upscale(picture, "tiny-esrgan-4x.pth", 4)
    assert from_pth.tobytes() == upscalers.upscale(picture, ESRGAN, 4).tobytes()


def test_a_2x_model_reaches_4x_in_two_passes(tmp_path):
    write_tiny_esrgan(tmp_path / "two" / "tiny-2x.safetensors", scale=2)
    upscalers = Upscalers(tmp_path / "two")
    assert upscalers.upscale(Image.new("RGB", (24, 20), "grey"), "tiny-2x.safetensors", 4).size == (96, 80)


def test_sd_upscale_repaints_blended_tiles_at_the_recipe_size(studio, recipe, engine):
    parent = studio.generate(recipe)
    settings = UpscaleRef(factor=2.0, upscaler=ESRGAN, tile=64, refine=True, overlap=16)
    steps: list[tuple[int, int]] = []
    child = studio.upscale(
        parent.id, settings, recipe.replace(denoising_strength=0.5), on_step=lambda p: steps.append((p.step, p.total))
    )
    result = Image.open(studio.output_path(child.id))
    assert result.size == (128, 128) and what_happened(child) == f"SD upscale 2x of {parent.id}·1"
    assert child.recipe.mode.value == "img2img"
    plain = Upscalers(studio.services.models.upscalers.folder).upscale(
        Image.open(studio.output_path(parent.id)), ESRGAN, 2
    )
    assert np.abs(pixels(result) - pixels(plain)).mean() > 1  # the tiles were repainted
    assert steps[-1][0] == steps[-1][1]  # one progress over all tiles, to the end
    # 128 wide in 64-pixel tiles overlapping by 16 or more: 3 x 3 tiles of 1 step (3 steps x 0.5) each.
    assert steps[-1][1] == 9
    again = studio.replay(child.id)
    assert np.array_equal(pixels(Image.open(studio.output_path(again.id))), pixels(result))


def test_bad_upscaler_files_say_what_to_do(tmp_path, studio, recipe):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "notes.pth").write_bytes(b"not a model")
    upscalers = Upscalers(folder)
    with pytest.raises(UpscalerError, match="could not be read as an upscaler"):
        upscalers.upscale(Image.new("RGB", (16, 16)), "notes.pth", 2)
    with pytest.raises(UpscalerError, match="not in the upscalers folder"):
        upscalers.upscale(Image.new("RGB", (16, 16)), "missing.pth", 2)
    parent = studio.generate(recipe)
    with pytest.raises(ValueError, match="upscale.factor"):
        studio.upscale(parent.id, UpscaleRef(factor=8.0), recipe)
    assert len(studio.tree()) == 1


def test_the_hires_fix_can_enlarge_with_an_upscaler_model(engine, upscalers, recipe, monkeypatch):
    monkeypatch.setattr(engine, "upscalers", upscalers)
    hires = recipe.replace(steps=4, hires_scale=2.0, hires_upscaler=ESRGAN, hires_denoising_strength=0.5)
    first = engine.generate(hires)[0]
    assert first.size == (128, 128)
    assert pixels(engine.generate(hires)[0]).tolist() == pixels(first).tolist()  # deterministic
    by_lanczos = engine.generate(hires.replace(hires_upscaler="Lanczos"))[0]
    assert np.abs(pixels(by_lanczos) - pixels(first)).mean() > 1  # the model made the difference
    with pytest.raises(UpscalerError, match="not in the upscalers folder"):
        engine.generate(hires.replace(hires_upscaler="4x-missing.pth"))


def test_hires_fix_of_a_picked_picture_remakes_it_larger_as_a_child(studio, recipe):
    parent = studio.generate(recipe.replace(batch_size=2))
    child = studio.hires_fix(parent.id, recipe.replace(hires_scale=1.5, hires_denoising_strength=0.6), index=1)
    assert Image.open(studio.output_path(child.id)).size == (96, 96)
    assert child.recipe.seed == parent.seeds[1] and child.recipe.batch_size == 1
    assert child.recipe.replace(hires_scale=1.0, hires_denoising_strength=0.7) == parent.recipe_of(1).replace(
        batch_size=1
    )
    assert what_happened(child) == f"hires fix 1.5x of {parent.id}·2"
    with pytest.raises(ValueError, match="set Upscale by above 1"):
        studio.hires_fix(parent.id, recipe)
    upscaled = studio.upscale(parent.id, UpscaleRef(factor=2.0), recipe)
    with pytest.raises(ValueError, match="remakes a generated picture.*Use Upscale"):
        studio.hires_fix(upscaled.id, recipe.replace(hires_scale=2.0))


def test_upscales_are_written_as_a1111_writes_them():
    from studio.formats import a1111

    recipe = Recipe(prompt="a knight", model="tiny", seed=5, mode="img2img", denoising_strength=0.3)
    extras = a1111.parse_parameters(a1111.format_parameters(recipe.replace(upscale=UpscaleRef(2.5, ESRGAN)))).fields
    assert (extras["Postprocess upscale by"], extras["Postprocess upscaler"]) == ("2.5", "tiny-esrgan-4x")
    refined = recipe.replace(upscale=UpscaleRef(2.0, "Lanczos", refine=True, overlap=48))
    fields = a1111.parse_parameters(a1111.format_parameters(refined)).fields
    assert (fields["SD upscale overlap"], fields["SD upscale upscaler"], fields["Denoising strength"]) == (
        "48",
        "Lanczos",
        "0.3",
    )
    hires = Recipe(prompt="a knight", model="tiny", seed=5, hires_scale=2.0, hires_upscaler=ESRGAN)
    assert a1111.parse_parameters(a1111.format_parameters(hires)).fields["Hires upscaler"] == "tiny-esrgan-4x"


def test_keep_structure_runs_the_tile_controlnet_on_the_picture_itself(studio, recipe):
    parent = studio.generate(recipe.replace(width=96, height=96))
    box = (RegionRef("hand", (16, 16, 64, 64), denoising_strength=1.0, mask_blur=0),)
    free = studio.fix(parent.id, box, recipe)
    kept = studio.fix(parent.id, box, recipe, keep_structure=1.5)
    (unit,) = kept.recipe.controls
    assert (unit.kind, unit.model, unit.weight, unit.preprocessor) == ("tile", "tiny", 1.5, "tile_resample")
    assert "control-0" not in kept.inputs  # the map is the picture: made again, never stored apart
    free_pixels, kept_pixels = (pixels(Image.open(studio.output_path(n.id))) for n in (free, kept))
    assert np.abs(free_pixels - kept_pixels)[16:64, 16:64].mean() > 1  # the ControlNet steered the repaint
    assert np.array_equal(free_pixels[70:, 70:], kept_pixels[70:, 70:])  # and nothing outside the region
    again = studio.replay(kept.id)
    assert np.array_equal(pixels(Image.open(studio.output_path(again.id))), kept_pixels)
    settings = UpscaleRef(factor=1.5, refine=True, overlap=16)
    refined = studio.upscale(parent.id, settings, recipe.replace(denoising_strength=0.5), keep_structure=0.8)
    assert refined.recipe.controls[0].weight == 0.8 and Image.open(studio.output_path(refined.id)).size == (144, 144)
    with pytest.raises(ValueError, match="only SD upscale repaints"):
        studio.upscale(parent.id, UpscaleRef(factor=1.5), recipe, keep_structure=0.8)


def test_stop_ends_an_upscale_between_tiles_and_saves_nothing(studio, recipe):
    from studio.errors import GenerationStopped

    parent = studio.generate(recipe)
    upscalers = studio.services.models.upscalers
    seen: list[tuple[int, int]] = []

    def stop_after_first(progress) -> None:
        seen.append((progress.step, progress.total))
        upscalers.request_stop()

    with pytest.raises(GenerationStopped):
        studio.upscale(parent.id, UpscaleRef(factor=2.0, upscaler=ESRGAN, tile=32), recipe, on_step=stop_after_first)
    assert seen == [(1, 4)] and len(studio.tree()) == 1  # one tile of four, then nothing more


def test_a_finish_in_a_plain_recipe_is_refused_not_run_as_something_else(fake_engine, tmp_path):
    studio = build_sessions(fake_engine, tmp_path / "outputs").open()
    recipe = Recipe(prompt="a knight", model="tiny", steps=2, width=64, height=64, seed=1)
    with pytest.raises(ValueError, match="upscale: generate does not finish a picture"):
        studio.generate(recipe.replace(upscale=UpscaleRef(2.0)))
    with pytest.raises(ValueError, match="regions: inpaint does not finish a picture"):
        studio.inpaint(
            Image.new("RGB", (64, 64)),
            Image.new("L", (64, 64), 255),
            recipe.replace(mode="inpaint", inpaint_area="only masked", regions=(RegionRef("box", (0, 0, 32, 32)),)),
        )
    assert studio.tree() == [] and fake_engine.runs == []
