"""Grid jobs' axes read as A1111's X/Y/Z plot reads them, cells in its order, and its infotext (studio/scale/grid.py)."""

from __future__ import annotations

import random
import re

import pytest

from studio.recipe import ControlRef, LoraRef, Recipe, RecipeError
from studio.scale.grid import axis, cells, infotext_params, value_label

BASE = Recipe(prompt="a knight in red armour", negative_prompt="red blur", seed=42)


@pytest.mark.parametrize(
    ("label", "text", "values"),
    [
        ("Steps", "5-9 (+2)", (5, 7, 9)),
        ("Steps", "10-20 [3]", (10, 15, 20)),
        ("Steps", "4, 8,12", (4, 8, 12)),
        ("Steps", "9-5 (-2)", (9, 7, 5)),
        ("CFG Scale", "5-7 (+0.5)", (5.0, 5.5, 6.0, 6.5, 7.0)),
        ("CFG Scale", "1-2 [3]", (1.0, 1.5, 2.0)),
        ("CFG Scale", "3.5, 7", (3.5, 7.0)),
        ("Sampler", 'Euler a, "DPM++ 2M", Euler', ("Euler a", "DPM++ 2M", "Euler")),
        ("Prompt S/R", "red, blue, gold", ("red", "blue", "gold")),
    ],
)
def test_values_are_read_as_a1111_reads_them(label, text, values):
    assert axis(label, text).values == values


def test_cells_run_x_fastest_and_each_setting_lands_in_its_field():
    x, y = axis("CFG Scale", "5, 9"), axis("Prompt S/R", "red, blue, gold")
    made = cells(BASE, [x, y])
    assert [(cell.x, cell.y) for cell in made] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    assert [cell.recipe.cfg_scale for cell in made[:2]] == [5.0, 9.0]
    # Prompt S/R replaces the first value in both prompts, as A1111 does.
    assert (made[2].recipe.prompt, made[2].recipe.negative_prompt) == ("a knight in blue armour", "blue blur")
    assert all(cell.recipe.seed == 42 for cell in made)
    weighted = cells(
        BASE.replace(
            loras=(LoraRef("style", 1.0),), controls=(ControlRef(kind="canny", model="m", image="control-1"),)
        ),
        [axis("LoRA weight", "0.2, 0.8"), axis("Control weight", "0.5, 1.5")],
    )
    assert [(c.recipe.loras[0].weight, c.recipe.controls[0].weight) for c in weighted] == [
        (0.2, 0.5), (0.8, 0.5), (0.2, 1.5), (0.8, 1.5),
    ]  # fmt: skip


def test_a_random_seed_is_fixed_for_the_grid_and_written_as_a1111_writes_it():
    seeds = axis("Seed", "-1, 7, -1", rng=random.Random(3))
    assert seeds.values[1] == 7 and all(value >= 0 for value in seeds.values) and seeds.values[0] != -1
    params = infotext_params([seeds, axis("Steps", "10-20 [3]")])
    assert params == {
        "Script": "X/Y/Z plot",
        "X Type": "Seed",
        "X Values": "-1, 7, -1",
        "Fixed X Values": ", ".join(str(value) for value in seeds.values),
        "Y Type": "Steps",
        "Y Values": "10-20 [3]",
    }
    assert value_label(axis("CFG Scale", "7"), 7.0) == "CFG Scale: 7"


@pytest.mark.parametrize(
    ("label", "text", "base", "words"),
    [
        ("Steps", "ten", BASE, "not a number"),
        ("Loudness", "1", BASE, "unknown setting"),
        ("Prompt S/R", "green, blue", BASE, "is not in the prompt"),
        ("LoRA weight", "0.5", BASE, "no LoRA"),
        ("Steps", "0, 20", BASE, "steps"),
        ("Steps", "1-100", BASE, "the most is 64"),
    ],
)
def test_what_cannot_run_is_refused_by_name(label, text, base, words):
    with pytest.raises(RecipeError, match=words):
        cells(base, [axis(label, text)])


def test_prompts_from_a_textbox_are_read_as_a1111_reads_them():
    from studio.scale.batch import prompt_recipes

    text = 'a castle at dawn\n\n--prompt "a dragon, red" --steps 30 --cfg_scale 6.5 --sampler_name "DPM++ 2M"\n'
    castle, dragon = prompt_recipes(BASE, text)
    assert (castle.prompt, castle.steps, castle.seed) == ("a castle at dawn", BASE.steps, 42)
    assert (dragon.prompt, dragon.steps, dragon.cfg_scale, dragon.sampler) == ("a dragon, red", 30, 6.5, "DPM++ 2M")
    assert dragon.negative_prompt == BASE.negative_prompt  # what a line leaves out is the base's
    for bad, words in (
        ("--prompt 'open", "line 1: No closing quotation"),
        ("a cat\n--steps ten", "line 2: --steps 'ten' is not a whole number"),
        ("--loudness 3", "unknown option '--loudness'"),
        ("--steps 0", "line 1: steps"),
        ("  \n ", "at least one line"),
    ):
        with pytest.raises(RecipeError, match=words):
            prompt_recipes(BASE, bad)


@pytest.mark.parametrize(("text", "words"), [("1-10 [0]", "at least one value"), ("9-5 (+2)", "never reaches the end")])
def test_a_range_that_makes_no_values_says_why(text, words):
    with pytest.raises(RecipeError, match=re.escape(words)):
        axis("Steps", text)


def test_a_refusal_names_the_axis_and_a_setting_on_two_axes_is_refused():
    with pytest.raises(RecipeError, match="CFG Scale values: 'lots' is not a number"):
        axis("CFG Scale", "3, lots")
    with pytest.raises(RecipeError, match="CFG Scale is on two axes"):
        cells(BASE, [axis("CFG Scale", "3, 7"), axis("CFG Scale", "5, 9")])
    with pytest.raises(RecipeError, match=r"^grid: Denoising 3\.0: denoising_strength"):
        cells(BASE, [axis("Denoising", "0.5, 3")])
    with pytest.raises(RecipeError, match=r"^grid: Prompt S/R: 'gold' is not in the prompt"):
        cells(BASE, [axis("Prompt S/R", "gold, red")])
