import json
from pathlib import Path

import pytest

from studio.recipe import LoraRef, Recipe, RecipeError
from studio.services.presets import (
    Preset,
    PresetError,
    apply_styles,
    load_presets,
    preset_from_recipe,
    read_preset,
    save_preset,
)

BUILT_IN = Path(__file__).resolve().parents[1] / "presets"


def write(folder: Path, name: str, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_every_built_in_preset_loads():
    presets, problems = load_presets([BUILT_IN])
    assert problems == []
    assert {"Oil painting", "Quick draft", "Final quality"} <= {preset.name for preset in presets}
    kinds = [preset.kind for preset in presets]
    assert kinds == sorted(kinds, key=["style", "sampler", "character", "mixed"].index)


def test_a_bad_preset_is_reported_with_file_and_field_and_the_rest_load(tmp_path):
    write(tmp_path, "good.json", {"schema_version": 1, "name": "Good", "kind": "sampler", "settings": {"steps": 12}})
    write(tmp_path, "steps.json", {"schema_version": 1, "name": "Bad steps", "settings": {"steps": 900}})
    write(tmp_path, "sampler.json", {"schema_version": 1, "name": "Bad sampler", "settings": {"sampler": "Euler b"}})
    write(tmp_path, "field.json", {"schema_version": 1, "name": "Typo", "settings": {"stepz": 12}})
    write(tmp_path, "version.json", {"schema_version": 7, "name": "Future"})
    write(tmp_path, "broken.json", "{not json")
    presets, problems = load_presets([tmp_path])
    assert [preset.name for preset in presets] == ["Good"]
    expected = [
        "broken.json: not readable JSON",
        "field.json: stepz: not a preset setting",
        "sampler.json: sampler: unknown sampler 'Euler b'",
        "steps.json: steps: 900 is out of range (1 to 150)",
        "version.json: schema_version: expected 1, got 7",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(sorted(problems), expected, strict=True):
        assert problem.startswith(start), problem


def test_style_template_wraps_the_prompt_and_adds_the_negative():
    style = Preset("Oil", "style", {"prompt_template": "{prompt}, oil painting", "negative_prompt": "photo"})
    recipe = style.apply(Recipe(prompt="a fox", negative_prompt="blurry", steps=9))
    assert (recipe.prompt, recipe.negative_prompt, recipe.steps) == ("a fox, oil painting", "blurry, photo", 9)


def test_a_template_without_slot_is_appended_as_in_a1111():
    assert (
        Preset("S", "style", {"prompt_template": "masterpiece"}).apply(Recipe(prompt="a fox")).prompt
        == "a fox, masterpiece"
    )


def test_sampler_preset_replaces_settings_only():
    recipe = Preset("Q", "sampler", {"sampler": "DPM++ 2M Karras", "steps": 30, "width": 512, "height": 768}).apply(
        Recipe(prompt="a fox", cfg_scale=5)
    )
    # A preset written before schedule types were a field of their own still means the same.
    assert (recipe.sampler, recipe.scheduler, recipe.steps, recipe.height, recipe.prompt, recipe.cfg_scale) == (
        "DPM++ 2M",
        "Karras",
        30,
        768,
        "a fox",
        5,
    )


def test_character_preset_adds_trigger_words_and_loras():
    character = Preset(
        "Mira",
        "character",
        {
            "trigger_words": ["mira_oc"],
            "loras": [{"name": "mira", "weight": 0.8}],
            "prompt_template": "{prompt}, detailed face",
        },
    )
    recipe = character.apply(Recipe(prompt="mira_oc waving", loras=(LoraRef("mira", 0.3), LoraRef("style", 0.5))))
    assert recipe.prompt == "mira_oc waving, detailed face"  # already there: not doubled
    assert recipe.loras == (LoraRef("style", 0.5), LoraRef("mira", 0.8))
    assert character.apply(Recipe(prompt="on a bench")).prompt == "mira_oc, on a bench, detailed face"


def test_save_from_the_form_and_load_back(tmp_path):
    recipe = Recipe(
        prompt="a harbour at dawn, watercolour",
        negative_prompt="photo",
        sampler="DDIM",
        steps=25,
        cfg_scale=6,
        width=640,
        height=448,
        hires_scale=1.5,
        hires_upscaler="Lanczos",
        hires_denoising_strength=0.4,
    )
    file = save_preset(tmp_path / "user", preset_from_recipe("My watercolour", recipe))
    assert file.name == "my-watercolour.json"
    loaded = read_preset(file)
    assert loaded.name == "My watercolour" and loaded.kind == "mixed"
    applied = loaded.apply(Recipe(prompt="a harbour", negative_prompt="blurry"))
    # An own preset is the form as it was saved: its prompt replaces the form's, never piles onto it.
    assert (applied.prompt, applied.negative_prompt, applied.sampler, applied.steps, applied.width) == (
        "a harbour at dawn, watercolour",
        "photo",
        "DDIM",
        25,
        640,
    )
    assert (applied.hires_scale, applied.hires_upscaler, applied.hires_denoising_strength) == (1.5, "Lanczos", 0.4)
    assert loaded.apply(applied) == applied
    with pytest.raises(PresetError, match="name"):
        preset_from_recipe("  ", recipe)


def test_user_presets_override_built_ins_of_the_same_name(tmp_path):
    write(
        tmp_path, "mine.json", {"schema_version": 1, "name": "Quick draft", "kind": "sampler", "settings": {"steps": 5}}
    )
    presets, _ = load_presets([BUILT_IN, tmp_path])
    assert next(p for p in presets if p.name == "Quick draft").settings == {"steps": 5}


def test_applying_any_built_in_preset_twice_is_the_same_as_once():
    presets, _ = load_presets([BUILT_IN])
    start = Recipe(prompt="a fox", negative_prompt="blurry")
    for preset in (p for p in presets if p.kind != "style"):
        once = preset.apply(start)
        assert preset.apply(once) == once, preset.name


def test_styles_wrap_the_prompt_when_it_is_encoded_in_the_order_they_are_listed():
    presets = [
        Preset("Oil", "style", {"prompt_template": "{prompt}, oil painting", "negative_prompt": "photo"}),
        Preset("Moody", "style", {"prompt_template": "moody, {prompt}"}),
        Preset("Draft", "sampler", {"steps": 8}),
    ]
    encoded = apply_styles(Recipe(prompt="a fox", negative_prompt="blurry", styles=("Oil", "Moody")), presets)
    assert (encoded.prompt, encoded.negative_prompt) == ("moody, a fox, oil painting", "blurry, photo")
    assert encoded.styles == ("Oil", "Moody")
    with pytest.raises(PresetError, match="'Draft' is not a style preset here"):
        apply_styles(Recipe(prompt="a fox", styles=("Draft",)), presets)
    with pytest.raises(RecipeError, match="names a style twice"):
        Recipe(prompt="a fox", styles=("Oil", "Oil"))


def test_a_style_holds_prompt_text_only(tmp_path):
    write(
        tmp_path,
        "style.json",
        {"schema_version": 1, "name": "S", "kind": "style", "settings": {"prompt_template": "{prompt}", "steps": 9}},
    )
    with pytest.raises(PresetError, match="steps: a style holds only prompt_template and negative_prompt"):
        read_preset(tmp_path / "style.json")
