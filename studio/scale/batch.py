"""A batch of prompts, as A1111's "Prompts from file or textbox" script: one run per line over a base recipe.

A line is a prompt, or A1111's options for that line (`--prompt "a cat" --negative_prompt "blurry" --steps 20
--cfg_scale 6 --seed 5 --sampler_name "Euler a" --width 512 --height 768`); what a line leaves out is the base's.
Like a grid's cells, the lines run spread over every engine (studio/scale/jobs.py).
"""

from __future__ import annotations

import shlex

from studio.recipe import Recipe, RecipeError

MAX_LINES = 64
# A1111's option, the recipe field it sets, and how its value is read.
_OPTIONS: dict[str, tuple[str, type]] = {
    "prompt": ("prompt", str),
    "negative_prompt": ("negative_prompt", str),
    "steps": ("steps", int),
    "cfg_scale": ("cfg_scale", float),
    "seed": ("seed", int),
    "sampler_name": ("sampler", str),
    "width": ("width", int),
    "height": ("height", int),
}


def prompt_recipes(base: Recipe, text: str, *, position: str | None = None) -> list[Recipe]:
    """One recipe per non-empty line of `text`, each checked as any recipe is (a bad line is named by number).

    A line's prompt replaces the base's; with `position` "start" or "end" it goes before or after the base's
    prompt instead (A1111 1.7's "Insert prompts at the" start or end)."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise RecipeError("prompts", 'give at least one line: a prompt, or A1111\'s --prompt "…" --steps … options')
    if len(lines) > MAX_LINES:
        raise RecipeError("prompts", f"{len(lines)} lines; the most is {MAX_LINES}")
    recipes = [_line_recipe(base, number, line) for number, line in lines]
    if position is None or not base.prompt:
        return recipes
    joined = (lambda line: f"{line} {base.prompt}") if position == "start" else (lambda line: f"{base.prompt} {line}")
    return [recipe.replace(prompt=joined(recipe.prompt)) for recipe in recipes]


def _line_recipe(base: Recipe, number: int, line: str) -> Recipe:
    if not line.startswith("--"):
        return base.replace(prompt=line)
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise RecipeError("prompts", f"line {number}: {error} (a quote left open?)") from None
    changes = {}
    for name, value in zip(words[::2], words[1::2], strict=False):
        option = name.removeprefix("--")
        if not name.startswith("--") or option not in _OPTIONS:
            raise RecipeError("prompts", f"line {number}: unknown option {name!r}; known: --{', --'.join(_OPTIONS)}")
        field, kind = _OPTIONS[option]
        try:
            changes[field] = kind(value)
        except ValueError:
            kind_name = {int: "whole number", float: "number"}.get(kind, "text")
            raise RecipeError("prompts", f"line {number}: --{option} {value!r} is not a {kind_name}") from None
    if len(words) % 2:
        raise RecipeError("prompts", f"line {number}: {words[-1]!r} has no value")
    try:
        return base.replace(**changes)
    except RecipeError as error:
        raise RecipeError("prompts", f"line {number}: {error}") from None
