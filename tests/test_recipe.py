import dataclasses
import json
import random

import pytest

from studio.recipe import (
    SAMPLERS,
    ControlMode,
    ControlRef,
    InpaintArea,
    LoraRef,
    Mode,
    Recipe,
    RecipeError,
    ReferenceKind,
    ReferenceRef,
    RegionRef,
)


def full_recipe() -> Recipe:
    return Recipe(
        prompt="a knight, (detailed armour:1.2)",
        negative_prompt="blurry",
        model="tiny",
        sampler="DPM++ 2M",
        scheduler="Karras",
        steps=12,
        cfg_scale=6.5,
        width=320,
        height=448,
        seed=1234,
        batch_size=2,
        mode=Mode.INPAINT,
        denoising_strength=0.6,
        mask_blur=8,
        inpaint_area=InpaintArea.ONLY_MASKED,
        inpaint_padding=48,
        variation_seed=99,
        variation_strength=0.25,
        loras=(LoraRef("my-character", 0.8), LoraRef("style", -0.3)),
        controls=(
            ControlRef(
                "canny",
                "lllyasviel/control_v11p_sd15_canny",
                "control-0",
                0.9,
                0.1,
                0.8,
                "canny",
                control_mode=ControlMode.PROMPT,
            ),
        ),
        regions=(
            RegionRef("hand", (10, 20, 74, 90), "detailed hand", "extra fingers", 0.45, 6, 24, found_by="openpose"),
            RegionRef("brush", (0, 0, 32, 32), mask="region-1"),
        ),
        references=(
            ReferenceRef("ip-adapter_sd15.safetensors", "reference-1", 0.7, 0.0, 0.8, mask="reference-1-mask"),
            ReferenceRef("ip-adapter-plus_sd15.safetensors", "reference-2", kind=ReferenceKind.COMPOSITION),
        ),
    )


def test_references_are_checked_by_name():
    good = ReferenceRef("ip.safetensors", "reference-1")
    with pytest.raises(RecipeError, match="references.weight"):
        Recipe(references=(ReferenceRef("ip.safetensors", "reference-1", weight=3.0),))
    with pytest.raises(RecipeError, match="references.guidance"):
        Recipe(references=(ReferenceRef("ip.safetensors", "reference-1", guidance_start=0.5, guidance_end=0.5),))
    with pytest.raises(RecipeError, match="references.image"):
        Recipe(references=(good, ReferenceRef("ip.safetensors", "reference-1")))
    with pytest.raises(RecipeError, match="references.kind"):
        ReferenceRef("ip.safetensors", "reference-1", kind="Colour")
    assert Recipe.from_dict({"schema_version": 6}).references == ()  # older recipes had none
    # Plain values (a picture's JSON applied to the form) become the parts they describe.
    plain = {"model": "ip.safetensors", "image": "reference-1", "weight": 0.5}
    assert Recipe().updated({"references": [plain]}).references == (ReferenceRef("ip.safetensors", "reference-1", 0.5),)


def test_json_round_trip_is_exact():
    recipe = full_recipe()
    text = recipe.to_json()
    assert json.loads(text)["schema_version"] == 9
    assert json.loads(text)["controls"][0]["control_mode"] == "My prompt is more important"
    assert json.loads(text)["references"][1]["kind"] == "Composition"
    assert Recipe.from_json(text) == recipe
    assert Recipe.from_json(text).to_json() == text


def test_default_recipe_round_trips():
    assert Recipe.from_dict(Recipe().to_dict()) == Recipe()


def test_recipe_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe().prompt = "changed"  # type: ignore[misc]


def test_random_seed_becomes_a_concrete_number():
    recipe = Recipe(seed=-1)
    concrete = recipe.with_concrete_seed(random.Random(5))
    assert concrete.seed >= 0 and concrete != recipe
    assert concrete.with_concrete_seed() is concrete
    with pytest.raises(RecipeError, match="seed"):
        recipe.seeds()


def test_batch_seeds_count_up_like_a1111():
    assert Recipe(seed=10, batch_size=3).seeds() == [10, 11, 12]
    assert Recipe(seed=2**32 - 1, batch_size=2).seeds() == [2**32 - 1, 0]


def test_variation_batch_shares_the_seed_and_counts_variation_seeds():
    recipe = Recipe(seed=10, batch_size=3, variation_seed=50, variation_strength=0.3)
    assert recipe.seeds() == [10, 10, 10]
    assert recipe.variation_seeds() == [50, 51, 52]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"width": 500}, "width"),
        ({"height": 513}, "height"),
        ({"width": 32}, "width"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"sampler": "Euler b"}, "sampler"),
        ({"cfg_scale": -1}, "cfg_scale"),
        ({"seed": -2}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"batch_size": 0}, "batch_size"),
        ({"denoising_strength": 1.5}, "denoising_strength"),
        ({"mode": "outpaint"}, "mode"),
        ({"inpaint_area": "sideways"}, "inpaint_area"),
        ({"mask_blur": -1}, "mask_blur"),
        ({"model": " "}, "model"),
        ({"prompt": None}, "prompt"),
        ({"variation_strength": 0.5}, "variation_strength"),
    ],
)
def test_bad_values_name_their_field(changes, field):
    with pytest.raises(RecipeError) as caught:
        Recipe(**changes)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")


def test_error_suggests_a_valid_size():
    with pytest.raises(RecipeError, match="try 496"):
        Recipe(width=500)


def test_from_dict_rejects_unknown_fields_and_versions():
    data = Recipe().to_dict()
    with pytest.raises(RecipeError, match="colour"):
        Recipe.from_dict({**data, "colour": "red"})
    with pytest.raises(RecipeError, match="schema_version"):
        Recipe.from_dict({**data, "schema_version": 99})


def test_modes_and_samplers_are_plain_strings_in_json():
    data = Recipe(mode=Mode.IMG2IMG).to_dict()
    assert data["mode"] == "img2img" and data["inpaint_area"] == "whole picture"
    assert "Euler a" in SAMPLERS and "DPM++ 2M" in SAMPLERS and "DPM++ 2M Karras" not in SAMPLERS


def test_updated_takes_json_like_changes():
    base = Recipe(model="tiny")
    changed = base.updated({"prompt": "x", "mode": "img2img", "loras": [{"name": "a", "weight": 0.5}]})
    assert changed.mode is Mode.IMG2IMG and changed.loras == (LoraRef("a", 0.5),) and changed.model == "tiny"
    with pytest.raises(RecipeError, match="stepz: is not a recipe field"):
        base.updated({"stepz": 3})
    with pytest.raises(RecipeError, match="steps"):
        base.updated({"steps": 0})


def test_the_hires_fix_is_checked_and_sized_as_a1111_sizes_it():
    recipe = Recipe(width=512, height=768, hires_scale=1.5, hires_steps=10, hires_denoising_strength=0.5)
    assert recipe.hires_size == (768, 1152)
    assert Recipe(width=520, height=512, hires_scale=1.3).hires_size == (672, 664)  # int(676) -> 672, int(665.6) -> 664
    assert Recipe.from_json(recipe.to_json()) == recipe
    with pytest.raises(RecipeError, match="hires_upscaler: unknown upscaler 'ESRGAN_4x'"):
        Recipe(hires_scale=2, hires_upscaler="ESRGAN_4x")
    with pytest.raises(RecipeError, match="hires_scale: the hires fix is for Generate"):
        Recipe(hires_scale=2, mode=Mode.IMG2IMG)
    with pytest.raises(RecipeError, match="sides up to 2048"):
        Recipe(width=1024, height=1024, hires_scale=2.5)
    with pytest.raises(RecipeError, match="hires_scale"):
        Recipe(hires_scale=0.5)


def test_a_version_3_recipe_reads_with_the_hires_fix_off():
    data = {**Recipe(prompt="a fox").to_dict(), "schema_version": 3}
    for name in ("hires_scale", "hires_upscaler", "hires_steps", "hires_denoising_strength"):
        del data[name]
    assert Recipe.from_dict(data) == Recipe(prompt="a fox")


def test_a_control_mode_is_read_by_name_or_by_sd_webui_controlnet_s_number_and_refused_otherwise():
    unit = ControlRef("canny", "tiny", "control-0")
    assert unit.control_mode is ControlMode.BALANCED  # a unit of a version-5 recipe ran Balanced
    for value, mode in ((0, ControlMode.BALANCED), (1, ControlMode.PROMPT), (2, ControlMode.CONTROL)):
        assert ControlRef("canny", "tiny", "control-0", control_mode=value).control_mode is mode
        assert ControlRef("canny", "tiny", "control-0", control_mode=mode.value.upper()).control_mode is mode
    with pytest.raises(RecipeError, match="control mode must be one of 0 or 'Balanced'"):
        ControlRef("canny", "tiny", "control-0", control_mode=3)
    old = {**Recipe(controls=(unit,)).to_dict(), "schema_version": 5}
    del old["controls"][0]["control_mode"]
    assert Recipe.from_dict(old).controls == (unit,)
