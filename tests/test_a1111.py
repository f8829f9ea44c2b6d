"""A1111 `parameters` text: real-world shapes parse to the right fields; ours reads back the same."""

import pytest

from studio.a1111 import format_parameters, parse_parameters, recipe_changes, sampler_name
from studio.recipe import ControlRef, InpaintArea, Mode, Recipe

FULL = """masterpiece, 1girl, (silver hair:1.2), looking at viewer
Negative prompt: (worst quality:1.4), lowres, bad hands
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 12, Hires upscaler: 4x-UltraSharp, Lora hashes: "add_detail: 7c6bad76eb54, silverhair: 1a2b3c4d5e6f", Version: v1.10.1"""


def test_the_full_modern_shape():
    parsed = parse_parameters(FULL)
    assert parsed.prompt == "masterpiece, 1girl, (silver hair:1.2), looking at viewer"
    assert parsed.negative_prompt == "(worst quality:1.4), lowres, bad hands"
    assert parsed.fields["Lora hashes"] == "add_detail: 7c6bad76eb54, silverhair: 1a2b3c4d5e6f"
    changes, unknown = recipe_changes(parsed)
    assert changes == {
        "prompt": parsed.prompt,
        "negative_prompt": parsed.negative_prompt,
        "steps": 28,
        "cfg_scale": 6.5,
        "seed": 1234567890,
        "denoising_strength": 0.45,
        "width": 512,
        "height": 768,
        "sampler": "DPM++ 2M Karras",
    }
    assert unknown == {
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Clip skip": "2",
        "Hires upscale": "2",
        "Hires steps": "12",
        "Hires upscaler": "4x-UltraSharp",
        "Lora hashes": "add_detail: 7c6bad76eb54, silverhair: 1a2b3c4d5e6f",
        "Version": "v1.10.1",
    }


def test_old_shape_without_negative_prompt_and_with_the_sampler_holding_karras():
    text = "a cat sitting on a windowsill\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 81761151"
    parsed = parse_parameters(text)
    assert parsed.prompt == "a cat sitting on a windowsill" and parsed.negative_prompt == ""
    changes, unknown = recipe_changes(parsed)
    assert changes["sampler"] == "Euler a" and changes["seed"] == 42
    assert unknown == {"Model hash": "81761151"}
    assert sampler_name("DPM++ 2M Karras") == "DPM++ 2M Karras"


def test_multi_line_prompts_and_negative_prompts():
    text = (
        "a castle on a hill,\nsunset, dramatic clouds\n\nBREAK golden light\n"
        "Negative prompt: blurry,\nwatermark\n"
        "Steps: 30, Sampler: DDIM, CFG scale: 9, Seed: 7, Size: 768x512"
    )
    parsed = parse_parameters(text)
    assert parsed.prompt == "a castle on a hill,\nsunset, dramatic clouds\n\nBREAK golden light"
    assert parsed.negative_prompt == "blurry,\nwatermark"
    assert recipe_changes(parsed)[0]["width"] == 768


def test_a_prompt_alone_is_all_prompt():
    parsed = parse_parameters("just a prompt, with: a colon")
    assert parsed.prompt == "just a prompt, with: a colon" and parsed.fields == {}


def test_quoted_values_with_commas_and_escaped_quotes():
    text = 'p\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64, Template: "a, \\"b\\", c", Version: 1'
    fields = parse_parameters(text).fields
    assert fields["Template"] == 'a, "b", c' and fields["Version"] == "1"


def test_unknown_samplers_and_schedules_are_kept_not_applied():
    text = "p\nSteps: 5, Sampler: DPM++ 3M SDE, Schedule type: Exponential, CFG scale: 7, Seed: 1, Size: 64x64"
    changes, unknown = recipe_changes(parse_parameters(text))
    assert "sampler" not in changes
    assert unknown == {"Sampler": "DPM++ 3M SDE", "Schedule type": "Exponential"}
    assert sampler_name("Euler", "Exponential") is None


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe(prompt="a fox", seed=3, model="tiny"),
        Recipe(
            prompt='a fox, "quoted", (snow:1.2)\nsecond line',
            negative_prompt="blurry, dog",
            sampler="DPM++ 2M SDE Karras",
            steps=33,
            cfg_scale=5.5,
            width=640,
            height=448,
            seed=99,
            mode=Mode.INPAINT,
            denoising_strength=0.6,
            mask_blur=9,
            inpaint_area=InpaintArea.ONLY_MASKED,
            inpaint_padding=40,
            model="/models/myModel_v10.safetensors",
        ),
        Recipe(prompt="v", seed=10, batch_size=3, variation_seed=70, variation_strength=0.35),
    ],
)
def test_what_the_studio_writes_reads_back_the_same(recipe):
    index = recipe.batch_size - 1
    text = format_parameters(recipe, index, model_hash="abcdef1234")
    changes, unknown = recipe_changes(parse_parameters(text))
    expected = {
        "prompt": recipe.prompt,
        "negative_prompt": recipe.negative_prompt,
        "steps": recipe.steps,
        "cfg_scale": recipe.cfg_scale,
        "seed": recipe.seeds()[index],
        "width": recipe.width,
        "height": recipe.height,
        "sampler": recipe.sampler,
    }
    assert {key: changes[key] for key in expected} == expected
    if recipe.mode is Mode.INPAINT:
        assert changes["denoising_strength"] == recipe.denoising_strength
        assert (changes["mask_blur"], changes["inpaint_padding"]) == (recipe.mask_blur, recipe.inpaint_padding)
        assert changes["inpaint_area"] == recipe.inpaint_area.value
    if recipe.variation_strength:
        assert changes["variation_seed"] == recipe.variation_seeds()[index]
        assert changes["variation_strength"] == recipe.variation_strength
    assert unknown["Model hash"] == "abcdef1234" and unknown["Version"] == "studio"
    # And the changes make a valid recipe again.
    assert Recipe().updated(changes).prompt == recipe.prompt


def test_written_shape_matches_a1111():
    text = format_parameters(
        Recipe(prompt="a cat", negative_prompt="dog", sampler="DPM++ 2M Karras", seed=5, model="tiny")
    )
    assert text.splitlines() == [
        "a cat",
        "Negative prompt: dog",
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 5, Size: 512x512, Model: tiny, Version: studio",
    ]


def test_control_units_are_written_as_sd_webui_controlnet_writes_them():
    recipe = Recipe(
        prompt="a dancer",
        seed=3,
        controls=(
            ControlRef("openpose", "lllyasviel/control_v11p_sd15_openpose", "control-0", 0.8, 0.0, 0.6, "none"),
            ControlRef("canny", "/models/cn/canny.safetensors", "control-1", 1.0, 0.1, 1.0, "canny"),
        ),
    )
    fields = parse_parameters(format_parameters(recipe)).fields
    assert fields["ControlNet 0"] == (
        "Module: none, Model: lllyasviel/control_v11p_sd15_openpose, Weight: 0.8, Guidance Start: 0, Guidance End: 0.6"
    )
    assert fields["ControlNet 1"].startswith("Module: canny, Model: canny, Weight: 1, Guidance Start: 0.1")
