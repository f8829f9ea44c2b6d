"""Grid jobs, as A1111's X/Y/Z plot: up to three settings varied over a base recipe, one cell per combination.

Pure data: an axis names a setting by A1111's label and lists its values as A1111 reads them ("5-9 (+2)" is 5, 7, 9;
"1-10 [4]" is four values from 1 to 10; anything else is a comma-separated list, quotes allowed). `cells` makes
every cell's recipe, X fastest, then Y, then Z, as A1111 runs them; the pool runs them (studio/scale/pool.py).
"""

from __future__ import annotations

import csv
import dataclasses
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from studio.recipe import MAX_SEED, LoraRef, Recipe, RecipeError

# "5-9", "5-9 (+2)": a range and its step; "1-10 [4]": a range and how many values (A1111's xyz_grid.py).
_INT_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*$")
_INT_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)\s*\[(\d+)\s*\]\s*$")
_FLOAT_RANGE = re.compile(
    r"\s*([+-]?\s*\d+(?:\.\d*)?)\s*-\s*([+-]?\s*\d+(?:\.\d*)?)(?:\s*\(([+-]\d+(?:\.\d*)?)\s*\))?\s*$"
)
_FLOAT_COUNT = re.compile(r"\s*([+-]?\s*\d+(?:\.\d*)?)\s*-\s*([+-]?\s*\d+(?:\.\d*)?)\s*\[(\d+(?:\.\d*)?)\s*\]\s*$")
MAX_CELLS = 64  # a grid of more is refused: at a few seconds a cell on a GPU, it would hold the pool for minutes


@dataclass(frozen=True)
class Setting:
    """A setting a grid may vary: how its values are read, and how one changes a recipe."""

    label: str  # A1111's
    kind: type  # int, float or str
    apply: Callable[[Recipe, object, str], Recipe]  # (recipe, value, the axis's first value) -> the cell's recipe


def _search_replace(recipe: Recipe, value: object, first: str) -> Recipe:
    """A1111's Prompt S/R: the first value is searched for in both prompts and replaced by each value in turn."""
    if first not in recipe.prompt and first not in recipe.negative_prompt:
        raise RecipeError("grid", f"Prompt S/R: {first!r} is not in the prompt or the negative prompt")
    return recipe.replace(
        prompt=recipe.prompt.replace(first, str(value)),
        negative_prompt=recipe.negative_prompt.replace(first, str(value)),
    )


def _lora_weight(recipe: Recipe, value: object, _: str) -> Recipe:
    """Every LoRA of the recipe's list at this weight (the prompt's <lora:…> tags are the artist's own)."""
    if not recipe.loras:
        raise RecipeError("grid", "LoRA weight: the recipe has no LoRA in its list; add one first")
    return recipe.replace(loras=tuple(LoraRef(lora.name, float(str(value))) for lora in recipe.loras))


def _control_weight(recipe: Recipe, value: object, _: str) -> Recipe:
    if not recipe.controls:
        raise RecipeError("grid", "Control weight: no control unit is on; turn one on first")
    weight = float(str(value))
    return recipe.replace(controls=tuple(dataclasses.replace(unit, weight=weight) for unit in recipe.controls))


def _field(name: str) -> Callable[[Recipe, object, str], Recipe]:
    return lambda recipe, value, _: recipe.replace(**{name: value})


SETTINGS: dict[str, Setting] = {
    setting.label: setting
    for setting in (
        Setting("Prompt S/R", str, _search_replace),
        Setting("Seed", int, _field("seed")),
        Setting("Steps", int, _field("steps")),
        Setting("CFG Scale", float, _field("cfg_scale")),
        Setting("Sampler", str, _field("sampler")),
        Setting("Schedule type", str, _field("scheduler")),
        Setting("Checkpoint name", str, _field("model")),
        Setting("Denoising", float, _field("denoising_strength")),
        Setting("LoRA weight", float, _lora_weight),
        Setting("Control weight", float, _control_weight),
    )
}


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: a setting and its values, as the artist typed them (`text`) and as read."""

    label: str
    text: str
    values: tuple[object, ...]

    @property
    def setting(self) -> Setting:
        return SETTINGS[self.label]


@dataclass(frozen=True)
class Cell:
    """One combination: its place (x, y, z), the values there in words, and its recipe."""

    x: int
    y: int
    z: int
    recipe: Recipe

    @property
    def places(self) -> tuple[int, int, int]:
        return (self.x, self.y, self.z)


def axis(label: str, text: str, *, rng: random.Random | None = None) -> Axis:
    """Read an axis as A1111 does; a seed of -1 becomes a random seed, fixed for the whole grid."""
    if label not in SETTINGS:
        raise RecipeError("grid", f"unknown setting {label!r}; choose one of {', '.join(SETTINGS)}")
    setting = SETTINGS[label]
    try:
        values = _read_values(setting.kind, text)
    except RecipeError as error:  # which axis's values, in the artist's words
        raise RecipeError("grid", f"{label} values: {str(error).removeprefix('grid: ')}") from None
    if not values:
        raise RecipeError("grid", f"{label}: give at least one value")
    if label == "Seed":
        chooser = rng or random.SystemRandom()
        values = [chooser.randint(0, MAX_SEED) if value == -1 else value for value in values]
    return Axis(label, text, tuple(values))


def cells(base: Recipe, axes: list[Axis]) -> list[Cell]:
    """Every cell's recipe, X fastest, then Y, then Z; each checked as any recipe is (a bad value is named)."""
    if not 1 <= len(axes) <= 3:
        raise RecipeError("grid", "vary one to three settings (X, Y and Z)")
    labels = [along.label for along in axes]
    if twice := next((label for label in labels if labels.count(label) > 1), None):
        raise RecipeError("grid", f"{twice} is on two axes; vary each setting on one axis and put its values there")
    sizes = [len(a.values) for a in axes] + [1] * (3 - len(axes))
    if sizes[0] * sizes[1] * sizes[2] > MAX_CELLS:
        raise RecipeError("grid", f"{' x '.join(map(str, sizes[: len(axes)]))} cells; the most is {MAX_CELLS}")
    made = []
    for z in range(sizes[2]):
        for y in range(sizes[1]):
            for x in range(sizes[0]):
                recipe = base
                for place, along in zip((x, y, z), axes, strict=False):
                    value = along.values[place]
                    try:
                        recipe = along.setting.apply(recipe, value, str(along.values[0]))
                    except RecipeError as error:  # the recipe's own words, with the axis and value that made them
                        if error.field == "grid":
                            raise
                        raise RecipeError("grid", f"{along.label} {value}: {error}") from None
                made.append(Cell(x, y, z, recipe))
    return made


def infotext_params(axes: list[Axis]) -> dict[str, str]:
    """What A1111's X/Y/Z plot writes into the grid picture's parameters."""
    params = {"Script": "X/Y/Z plot"}
    for name, along in zip("XYZ", axes, strict=False):
        params[f"{name} Type"] = along.label
        params[f"{name} Values"] = along.text
        if along.label == "Seed":
            params[f"Fixed {name} Values"] = ", ".join(str(value) for value in along.values)
    return params


def value_label(along: Axis, value: object) -> str:
    """A value as the grid's margin shows it: "CFG Scale: 7", or the replacement words alone for Prompt S/R."""
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return shown if along.label == "Prompt S/R" else f"{along.label}: {shown}"


def _read_values(kind: type, text: str) -> list:
    items = [item.strip() for row in csv.reader([text], skipinitialspace=True) for item in row if item.strip()]
    if kind is str:
        return items
    values: list = []
    for item in items:
        values.extend(_expand(kind, item))
    return values


def _expand(kind: type, item: str) -> list:
    """One comma-separated item: a number, a stepped range or a counted range."""
    number = int if kind is int else float
    ranged, counted = (_INT_RANGE, _INT_COUNT) if kind is int else (_FLOAT_RANGE, _FLOAT_COUNT)
    try:
        if match := counted.match(item):
            start, end, count = number(_bare(match[1])), number(_bare(match[2])), int(float(match[3]))
            if count < 1:
                raise RecipeError("grid", f"{item!r}: ask for at least one value in [ ]")
            if count == 1:
                return [start]
            return [number(start + (end - start) * index / (count - 1)) for index in range(count)]
        if match := ranged.match(item):
            start, end = number(_bare(match[1])), number(_bare(match[2]))
            step = number(match[3]) if match[3] else number(1)
            if step == 0 or (end - start) * step < 0:
                raise RecipeError("grid", f"{item!r}: the step never reaches the end (from 9 down to 5 is 9-5 (-2))")
            values, value = [], start
            while (value <= end + 1e-9) if step > 0 else (value >= end - 1e-9):
                values.append(round(value, 6) if kind is float else value)
                value += step
            return values
        return [number(item)]
    except RecipeError:
        raise
    except ValueError:
        raise RecipeError("grid", f"{item!r} is not a number or a range like 5-9 (+2) or 1-10 [4]") from None


def _bare(text: str) -> str:
    return text.replace(" ", "")
