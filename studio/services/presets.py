"""Presets: named, partial recipes in JSON. Styles, sampler settings, characters, or any mix.

    {"schema_version": 1, "name": "Oil painting", "kind": "style",
     "settings": {"prompt_template": "{prompt}, oil painting, impasto", "negative_prompt": "photo"}}

Built-in presets ship in presets/; the artist's own are saved from the form into a user folder.
A preset that does not validate is reported with its file and field; the others still load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import InputError
from studio.files import atomic_write_text
from studio.recipe import LoraRef, Recipe, RecipeError

SCHEMA_VERSION = 1
KINDS = ("style", "sampler", "character", "mixed")
PROMPT_SLOT = "{prompt}"
# Settings a preset may hold. Recipe fields apply as they are; the rest are combined as A1111 does.
RECIPE_SETTINGS = (
    "sampler",
    "scheduler",
    "steps",
    "cfg_scale",
    "clip_skip",
    "width",
    "height",
    "hires_scale",
    "hires_upscaler",
    "hires_steps",
    "hires_denoising_strength",
    "loras",
)
PROMPT_SETTINGS = ("prompt", "prompt_template", "negative_prompt", "trigger_words")
STYLE = "style"  # a style's settings are prompt text only, and it is toggled on, not applied to the form


class PresetError(InputError):
    """A preset file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    file: Path | None = None

    def apply(self, recipe: Recipe) -> Recipe:
        """The recipe with this preset applied; the artist's prompt goes where the template says."""
        settings = dict(self.settings)
        changes = {key: settings[key] for key in RECIPE_SETTINGS if key in settings and key != "loras"}
        # An own preset holds a whole prompt: it replaces the form's, so applying it twice changes nothing.
        prompt = settings["prompt"] if "prompt" in settings else _fill(settings.get("prompt_template"), recipe.prompt)
        triggers = [word for word in settings.get("trigger_words", []) if word not in prompt]
        if triggers:
            prompt = ", ".join([*triggers, prompt] if prompt else triggers)
        changes["prompt"] = prompt
        if "prompt" in settings:
            changes["negative_prompt"] = settings.get("negative_prompt", "")
        elif settings.get("negative_prompt"):
            changes["negative_prompt"] = _join(recipe.negative_prompt, settings["negative_prompt"])
        if "loras" in settings:
            added = [LoraRef(**lora) for lora in settings["loras"]]
            kept = [lora for lora in recipe.loras if lora.name not in {new.name for new in added}]
            changes["loras"] = tuple(kept + added)
        # `updated` reads older one-field sampler names ("DPM++ 2M Karras") as sampler + schedule type.
        return recipe.updated(changes)

    def styled(self, prompt: str, negative_prompt: str) -> tuple[str, str]:
        """A style's prompts around the artist's own: its template filled, its negative prompt appended."""
        negative = self.settings.get("negative_prompt")
        return _fill(self.settings.get("prompt_template"), prompt), _join(
            negative_prompt, negative
        ) if negative else negative_prompt

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "name": self.name, "kind": self.kind, "settings": dict(self.settings)}


def load_presets(folders: Iterable[Path]) -> tuple[list[Preset], list[str]]:
    """Every valid preset in `folders` (later folders win on equal names), and one line per problem."""
    presets: dict[str, Preset] = {}
    problems: list[str] = []
    for folder in folders:
        for file in sorted(Path(folder).glob("*.json")):
            try:
                preset = read_preset(file)
            except PresetError as error:
                problems.append(str(error))
                continue
            presets[preset.name] = preset
    return sorted(presets.values(), key=lambda preset: (KINDS.index(preset.kind), preset.name.lower())), problems


def read_preset(file: Path) -> Preset:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PresetError(f"{file.name}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{file.name}: expected a JSON object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise PresetError(f"{file.name}: schema_version: expected {SCHEMA_VERSION}, got {data.get('schema_version')!r}")
    name, kind, settings = data.get("name"), data.get("kind", "mixed"), data.get("settings", {})
    if not isinstance(name, str) or not name.strip():
        raise PresetError(f"{file.name}: name: missing")
    if kind not in KINDS:
        raise PresetError(f"{file.name}: kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(settings, dict):
        raise PresetError(f"{file.name}: settings: expected an object")
    unknown = sorted(set(settings) - set(RECIPE_SETTINGS) - set(PROMPT_SETTINGS))
    if unknown:
        raise PresetError(f"{file.name}: {unknown[0]}: not a preset setting")
    if kind == STYLE and set(settings) - {"prompt_template", "negative_prompt"}:
        extra = sorted(set(settings) - {"prompt_template", "negative_prompt"})[0]
        raise PresetError(f"{file.name}: {extra}: a style holds only prompt_template and negative_prompt")
    preset = Preset(name.strip(), kind, settings, file)
    try:  # every value must make a valid recipe
        preset.apply(Recipe(prompt="test"))
    except RecipeError as error:
        raise PresetError(f"{file.name}: {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise PresetError(f"{file.name}: settings: {error}") from None
    return preset


def preset_from_recipe(name: str, recipe: Recipe) -> Preset:
    """What the form holds now, as a preset: its prompts, sampler settings and LoRAs."""
    if not name.strip():
        raise PresetError("name: give the preset a name")
    settings: dict[str, Any] = {
        "prompt": recipe.prompt,
        "negative_prompt": recipe.negative_prompt,
        "sampler": recipe.sampler,
        "scheduler": recipe.scheduler,
        "steps": recipe.steps,
        "cfg_scale": recipe.cfg_scale,
        "clip_skip": recipe.clip_skip,
        "width": recipe.width,
        "height": recipe.height,
        "hires_scale": recipe.hires_scale,
        "hires_upscaler": recipe.hires_upscaler,
        "hires_steps": recipe.hires_steps,
        "hires_denoising_strength": recipe.hires_denoising_strength,
    }
    if recipe.loras:
        settings["loras"] = [{"name": lora.name, "weight": lora.weight} for lora in recipe.loras]
    return Preset(name.strip(), "mixed", settings)


def save_preset(folder: Path, preset: Preset) -> Path:
    """Write `preset` into `folder` as <slug>.json (replacing one of the same name)."""
    slug = re.sub(r"[^a-z0-9]+", "-", preset.name.lower()).strip("-") or "preset"
    file = folder / f"{slug}.json"
    atomic_write_text(file, json.dumps(preset.to_dict(), indent=2) + "\n")
    return file


def _fill(template: str | None, prompt: str) -> str:
    if not template:
        return prompt
    if PROMPT_SLOT in template:
        return template.replace(PROMPT_SLOT, prompt)
    return _join(prompt, template)  # A1111: a style without {prompt} is appended


def _join(first: str, second: str) -> str:
    return ", ".join(part for part in (first.strip().rstrip(","), second.strip()) if part)


def apply_styles(recipe: Recipe, presets: Iterable[Preset]) -> Recipe:
    """The recipe as it is encoded: its styles' templates around its prompt, in the order they were turned on.

    The result is what runs and what A1111's `parameters` show; the recipe the tree keeps is the artist's.
    """
    styles = {preset.name: preset for preset in presets if preset.kind == STYLE}
    prompt, negative = recipe.prompt, recipe.negative_prompt
    for name in recipe.styles:
        if name not in styles:
            known = ", ".join(sorted(styles)) or "none"
            raise PresetError(f"styles: {name!r} is not a style preset here (styles: {known})")
        prompt, negative = styles[name].styled(prompt, negative)
    return recipe.replace(prompt=prompt, negative_prompt=negative)


class PresetShelf:
    """The presets the studio offers: the built-in folder, then the artist's own (where saving goes)."""

    def __init__(self, folders: tuple[Path, Path] | None = None) -> None:
        self.folders = folders

    def all(self) -> tuple[list[Preset], list[str]]:
        """Every preset that loads, and one line per preset file that does not (file and field)."""
        return load_presets(self.folders or ())

    def apply(self, name: str, recipe: Recipe) -> Recipe:
        for preset in self.all()[0]:
            if preset.name == name:
                return preset.apply(recipe)
        raise PresetError(f"no preset named {name!r}")

    def save(self, name: str, recipe: Recipe) -> Path:
        """Save the recipe's prompts and settings as the artist's own preset."""
        if not self.folders:
            raise PresetError("this studio has no preset folder")
        return save_preset(self.folders[1], preset_from_recipe(name, recipe))

    def styled(self, recipe: Recipe) -> Recipe:
        """The recipe as the model reads it: its styles' words added to the prompts (A1111 encodes it so)."""
        return apply_styles(recipe, self.all()[0]) if recipe.styles else recipe
