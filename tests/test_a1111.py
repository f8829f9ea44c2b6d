"""A1111 `parameters` text: real-world shapes parse to the right fields; ours reads back the same."""

import pytest

from studio.formats.a1111 import format_parameters, parse_parameters, recipe_changes, sampler_and_schedule
from studio.recipe import ControlMode, ControlRef, InpaintArea, Mode, Recipe, resolved_schedule

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
        # A1111 1.9+ reads Karras, DPM++ 2M's own default, as Automatic: the same sigmas either way.
        "sampler": "DPM++ 2M",
        "scheduler": "Automatic",
        "clip_skip": 2,
    }
    assert unknown == {
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
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
    assert (changes["sampler"], changes["scheduler"], changes["seed"]) == ("Euler a", "Automatic", 42)
    assert unknown == {"Model hash": "81761151"}


# What A1111 1.9+ (`sd_samplers.get_sampler_and_scheduler`, `convert_automatic=True`) makes of (Sampler, Schedule type).
A1111_READINGS = [
    (("DPM++ 2M", None), ("DPM++ 2M", "Automatic")),  # a text without Schedule type: Automatic, i.e. Karras
    (("DPM++ 2M Karras", None), ("DPM++ 2M", "Automatic")),  # the old one-field name: its default again
    (("DPM++ 2M", "Karras"), ("DPM++ 2M", "Automatic")),
    (("DPM++ 2M", "Uniform"), ("DPM++ 2M", "Uniform")),
    (("DPM++ 2M", "karras"), ("DPM++ 2M", "Automatic")),  # schedule names work like labels
    (("DPM++ 2M SDE", "Exponential"), ("DPM++ 2M SDE", "Automatic")),
    (("DPM++ 2M SDE Karras", None), ("DPM++ 2M SDE", "Karras")),
    (("DPM++ SDE Karras", None), ("DPM++ SDE", "Automatic")),
    (("DPM2 a Karras", None), ("DPM2 a", "Automatic")),
    (("LMS Karras", None), ("LMS", "Karras")),  # LMS has no default schedule: Karras stays
    (("Euler", "exponential"), ("Euler", "Exponential")),
    (("Euler", "SGMUniform"), ("Euler", "SGM Uniform")),  # an alias
    (("Euler a", "Something new"), ("Euler a", "Automatic")),  # unknown schedule: A1111 falls back
]


@pytest.mark.parametrize(("written", "read"), A1111_READINGS)
def test_sampler_and_schedule_are_read_as_a1111_reads_them(written, read):
    assert sampler_and_schedule(*written) == read


def test_samplers_and_schedules_the_studio_cannot_run_are_not_applied():
    assert sampler_and_schedule("DPM++ 3M SDE") is None
    assert sampler_and_schedule("Euler", "Polyexponential") is None
    changes, unknown = recipe_changes(
        parse_parameters("x\nSteps: 5, Sampler: Euler, Schedule type: Align Your Steps, Seed: 1")
    )
    assert "sampler" not in changes and "scheduler" not in changes
    assert unknown["Sampler"] == "Euler" and unknown["Schedule type"] == "Align Your Steps"


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
    assert sampler_and_schedule("Euler", "Exponential") == ("Euler", "Exponential")


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe(prompt="a fox", seed=3, model="tiny"),
        Recipe(
            prompt='a fox, "quoted", (snow:1.2)\nsecond line',
            negative_prompt="blurry, dog",
            sampler="DPM++ 2M SDE",
            scheduler="Karras",
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
        Recipe(prompt="w", seed=1, sampler="DPM++ 2M", scheduler="Uniform"),
        Recipe(prompt="w", seed=1, sampler="DPM2 a", scheduler="Karras"),
        Recipe(prompt="w", seed=1, sampler="UniPC", scheduler="SGM Uniform"),
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
    # The same schedule runs (A1111 may call the sampler's own default "Automatic").
    assert resolved_schedule(recipe.sampler, changes["scheduler"]) == resolved_schedule(
        recipe.sampler, recipe.scheduler
    )
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
        Recipe(prompt="a cat", negative_prompt="dog", sampler="DPM++ 2M", scheduler="Karras", seed=5, model="tiny")
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
            ControlRef(
                "canny", "/models/cn/canny.safetensors", "control-1", 1.0, 0.1, 1.0, "canny",
                control_mode=ControlMode.PROMPT,
            ),
        ),
    )  # fmt: skip
    fields = parse_parameters(format_parameters(recipe)).fields
    assert fields["ControlNet 0"] == (
        "Module: none, Model: lllyasviel/control_v11p_sd15_openpose, Weight: 0.8, Guidance Start: 0, Guidance End: 0.6, "
        "Control Mode: Balanced"
    )
    assert fields["ControlNet 1"].startswith("Module: canny, Model: canny, Weight: 1, Guidance Start: 0.1")
    assert fields["ControlNet 1"].endswith("Guidance End: 1, Control Mode: My prompt is more important")


def test_clip_skip_is_written_as_a1111_writes_it_only_when_on_and_read_back():
    assert "Clip skip" not in format_parameters(Recipe(prompt="a fox", model="tiny", seed=7), 0)
    text = format_parameters(Recipe(prompt="a fox", model="tiny", clip_skip=2, seed=7), 0)
    assert "Clip skip: 2," in text
    changes, unknown = recipe_changes(parse_parameters(text))
    assert changes["clip_skip"] == 2 and "Clip skip" not in unknown


PONY = """score_9, score_8_up, score_7_up, 1girl, (red scarf:1.2), snowy street
Negative prompt: score_4, score_5, lowres
Steps: 25, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 2871653102, Size: 832x1216, Model hash: 67ab2fd8ec, Model: ponyDiffusionV6XL_v6StartWithThisOne, Clip skip: 2, Version: f2.0.1v1.10.1-previous-313-g8a042934"""


def test_an_sdxl_picture_from_forge_fills_the_form_with_its_size_clip_skip_and_sampler():
    """A Civitai/Forge infotext of a Pony (SDXL) picture: the portrait bucket, clip skip 2, the sampler."""
    changes, unknown = recipe_changes(parse_parameters(PONY))
    assert (changes["width"], changes["height"]) == (832, 1216)
    assert changes["clip_skip"] == 2 and changes["sampler"] == "Euler a" and changes["scheduler"] == "Automatic"
    assert changes["negative_prompt"] == "score_4, score_5, lowres"
    assert unknown["Model"] == "ponyDiffusionV6XL_v6StartWithThisOne" and unknown["Model hash"] == "67ab2fd8ec"
    assert Recipe(model="tiny-sdxl").updated(changes).width == 832


def test_the_hires_fix_is_written_and_read_as_a1111_does():
    recipe = Recipe(
        prompt="a fox", model="tiny", seed=7, hires_scale=1.5, hires_steps=12, hires_denoising_strength=0.45
    )
    text = format_parameters(recipe)
    assert "Size: 512x512, Model: tiny, Denoising strength: 0.45, Hires upscale: 1.5, Hires steps: 12, " in text
    assert "Hires upscaler: Latent" in text
    changes, unknown = recipe_changes(parse_parameters(text))
    assert Recipe().updated(changes) == recipe.replace(model=Recipe().model)
    assert not any(key.startswith("Hires") for key in unknown)
    # Without steps A1111 writes none: the hires pass runs as many as the first.
    assert "Hires steps" not in format_parameters(recipe.replace(hires_steps=0))
    assert "Hires" not in format_parameters(recipe.replace(hires_scale=1.0))


def test_a_hires_fix_with_an_upscaler_the_studio_lacks_is_kept_not_applied():
    """FULL's 4x-UltraSharp: applying its scale with another upscaler would make a silently different picture."""
    changes, unknown = recipe_changes(parse_parameters(FULL))
    assert "hires_scale" not in changes and unknown["Hires upscaler"] == "4x-UltraSharp"
