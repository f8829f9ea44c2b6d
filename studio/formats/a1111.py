"""AUTOMATIC1111's `parameters` text, both ways: what every picture says about how it was made.

    a knight in armour
    Negative prompt: blurry
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 5, Size: 512x768, ...

Parsing follows A1111's own rules (`parse_generation_parameters`), so what the studio writes and
what A1111, Forge and model sites write read back the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.embedding_library import hash_alias
from studio.engine.families import Family
from studio.formats import adetailer
from studio.lora_library import library_name
from studio.recipe import (
    AUTOMATIC,
    AUTOMATIC_SCHEDULES,
    FLUX_SCHEDULERS,
    HIRES_UPSCALERS,
    SAMPLERS,
    SCHEDULERS,
    InpaintArea,
    Mode,
    Recipe,
    ReferenceKind,
    is_upscaler_file,
)
from studio.recipe.prompt_syntax import prompt_with_lora_tags

FLUX = Family.FLUX.value
IP_ADAPTER_MODULE = "ip-adapter-auto"  # sd-webui-controlnet's module that picks the encoder for the adapter
FACE_ID_MODULE = "ip-adapter_face_id"  # and its insightface module, for FaceID adapters

# One "Key: value" of the last line; a value in double quotes may hold commas.
_PARAMETER = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class Parameters:
    """A `parameters` text taken apart: the prompts, and every "Key: value" in order."""

    prompt: str
    negative_prompt: str
    fields: dict[str, str] = field(default_factory=dict)


def format_parameters(
    recipe: Recipe,
    index: int = 0,
    *,
    model_hash: str | None = None,
    lora_hashes: dict[str, str] | None = None,
    ti_hashes: dict[str, str] | None = None,
    family: str | None = None,
) -> str:
    """The text A1111 writes for picture `index` of the recipe's batch (Forge's, for a Flux.1 `family`).

    LoRAs the recipe lists (not as tags) are written as `<lora:name:weight>` tags, as A1111 reads
    them back; `Lora hashes` name each by its library name without ':' and ',' (as A1111 does), and
    `TI hashes` each textual-inversion embedding the prompts use, after them (as A1111 adds them).
    """
    lines = [prompt_with_lora_tags(recipe.prompt, [(library_name(lora.name), lora.weight) for lora in recipe.loras])]
    if recipe.negative_prompt:
        lines.append(f"Negative prompt: {recipe.negative_prompt}")
    fields: list[tuple[str, Any]] = [
        ("Steps", recipe.steps),
        ("Sampler", recipe.sampler),
        # "Automatic" means in A1111 1.9+ what it means here: the sampler's own default schedule.
        ("Schedule type", recipe.scheduler),
        ("CFG scale", _number(recipe.cfg_scale)),
        # Forge's fields for Flux: the distilled guidance always, a shift where one was set.
        *([("Distilled CFG Scale", _number(recipe.distilled_cfg_scale))] if family == FLUX else []),
        *([("Shift", _number(recipe.shift))] if family == FLUX and recipe.shift > 0 else []),
        ("Seed", recipe.seeds()[index]),
        ("Size", f"{recipe.width}x{recipe.height}"),
    ]
    if model_hash:
        fields.append(("Model hash", model_hash))
    fields.append(("Model", _model_name(recipe.model)))
    if recipe.regions:
        pass  # each region has its own strength, blur and padding: ADetailer's fields say them, below
    elif recipe.mode is not Mode.TXT2IMG:
        fields.append(("Denoising strength", _number(recipe.denoising_strength)))
    elif recipe.hires_scale > 1:
        # A1111's hires fix: its strength is the txt2img's "Denoising strength"; steps only when set.
        fields += [
            ("Denoising strength", _number(recipe.hires_denoising_strength)),
            ("Hires upscale", _number(recipe.hires_scale)),
        ]
        if recipe.hires_steps:
            fields.append(("Hires steps", recipe.hires_steps))
        fields.append(("Hires upscaler", upscaler_name(recipe.hires_upscaler)))
    if recipe.mode is Mode.INPAINT and not recipe.regions:
        fields.append(("Mask blur", recipe.mask_blur))
        if recipe.inpaint_area is InpaintArea.ONLY_MASKED:
            fields += [("Inpaint area", "Only masked"), ("Masked area padding", recipe.inpaint_padding)]
    if recipe.clip_skip > 1:  # A1111 writes it only when it is on
        fields.append(("Clip skip", recipe.clip_skip))
    variation_seeds = recipe.variation_seeds()
    if variation_seeds:
        fields += [
            ("Variation seed", variation_seeds[index]),
            ("Variation seed strength", _number(recipe.variation_strength)),
        ]
    for number, unit in enumerate(() if recipe.regions else recipe.controls):  # a fix's unit: ADetailer's fields
        # sd-webui-controlnet's own line, so A1111 users and Civitai see which control made the picture.
        settings = [
            ("Module", unit.preprocessor),
            ("Model", _model_name(unit.model)),
            ("Weight", _number(unit.weight)),
            ("Guidance Start", _number(unit.guidance_start)),
            ("Guidance End", _number(unit.guidance_end)),
            ("Control Mode", unit.control_mode.value),
        ]
        fields.append((f"ControlNet {number}", ", ".join(f"{key}: {value}" for key, value in settings)))
    first = 0 if recipe.regions else len(recipe.controls)
    for number, reference in enumerate(recipe.references, start=first):
        # sd-webui-controlnet writes an IP-Adapter unit as any unit: its module, the adapter, weight and steps.
        settings = [
            ("Module", FACE_ID_MODULE if reference.kind is ReferenceKind.FACE else IP_ADAPTER_MODULE),
            ("Model", _model_name(reference.model)),
            ("Weight", _number(reference.weight)),
            ("Guidance Start", _number(reference.guidance_start)),
            ("Guidance End", _number(reference.guidance_end)),
            ("Control Mode", "Balanced"),
        ]
        fields.append((f"ControlNet {number}", ", ".join(f"{key}: {value}" for key, value in settings)))
    for number, area in enumerate(recipe.area_prompts, start=1):
        # The studio's own fields (A1111 has no area prompts of its own; Regional Prompter's take another shape).
        fields += [(f"Area prompt {number}", area.prompt), (f"Area weight {number}", _number(area.weight))]
    fields += adetailer.format_fields(recipe.regions, recipe.controls)
    if recipe.upscale is not None:
        if recipe.upscale.refine:  # A1111's "SD upscale" script
            fields += [
                ("SD upscale overlap", recipe.upscale.overlap),
                ("SD upscale upscaler", upscaler_name(recipe.upscale.upscaler)),
            ]
        else:  # A1111's Extras tab
            fields += [
                ("Postprocess upscale by", _number(recipe.upscale.factor)),
                ("Postprocess upscaler", upscaler_name(recipe.upscale.upscaler)),
            ]
    if lora_hashes:
        named = {_hash_alias(name): value for name, value in lora_hashes.items()}
        fields.append(("Lora hashes", ", ".join(f"{name}: {value}" for name, value in named.items())))
    if ti_hashes:
        fields.append(("TI hashes", ", ".join(f"{hash_alias(name)}: {value}" for name, value in ti_hashes.items())))
    fields.append(("Version", "studio"))
    lines.append(", ".join(f"{key}: {quote(value)}" for key, value in fields))
    return "\n".join(lines)


def named_hashes(value: str) -> dict[str, str]:
    """A `Lora hashes` or `TI hashes` value ("name: hash, name: hash") read back, by name."""
    pairs = (item.rsplit(":", 1) for item in value.split(",") if ":" in item)
    return {name.strip(): digest.strip() for name, digest in pairs if name.strip() and digest.strip()}


def upscaler_name(name: str) -> str:
    """An upscaler as A1111 names it: a model by its file's stem ("4x-UltraSharp"), a built-in by its name."""
    return name.rsplit(".", 1)[0] if is_upscaler_file(name) else name


def parse_parameters(text: str) -> Parameters:
    """Take a `parameters` text apart as A1111 does: prompt lines, "Negative prompt:" lines, fields."""
    *lines, last_line = text.strip().split("\n")
    if len(_PARAMETER.findall(last_line)) < 3:  # no field line: it is all prompt
        lines.append(last_line)
        last_line = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            negative.append(line[len("Negative prompt:") :].strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    fields: dict[str, str] = {}
    for key, value in _PARAMETER.findall(last_line):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        fields[key.strip()] = value
    return Parameters("\n".join(prompt), "\n".join(negative), fields)


def recipe_changes(parameters: Parameters) -> tuple[dict[str, Any], dict[str, str]]:
    """Recipe fields the text sets, and the fields the studio keeps but does not apply (shown, never dropped)."""
    fields = dict(parameters.fields)
    changes: dict[str, Any] = {"prompt": parameters.prompt, "negative_prompt": parameters.negative_prompt}
    unknown: dict[str, str] = {}

    def take(key: str, name: str, convert) -> None:
        if key in fields:
            raw = fields.pop(key)
            try:
                changes[name] = convert(raw)
            except ValueError:
                unknown[key] = raw

    take("Steps", "steps", int)
    take("CFG scale", "cfg_scale", float)
    take("Distilled CFG Scale", "distilled_cfg_scale", float)
    take("Shift", "shift", float)
    take("Seed", "seed", int)
    take("Denoising strength", "denoising_strength", float)
    take("Mask blur", "mask_blur", int)
    take("Masked area padding", "inpaint_padding", int)
    take("Variation seed", "variation_seed", int)
    take("Variation seed strength", "variation_strength", float)
    take("Clip skip", "clip_skip", int)
    _take_hires(fields, changes)
    if "Size" in fields:
        size = _SIZE.match(fields.pop("Size"))
        if size:
            changes["width"], changes["height"] = int(size.group(1)), int(size.group(2))
    if "Inpaint area" in fields:
        area = fields.pop("Inpaint area")
        changes["inpaint_area"] = (
            InpaintArea.ONLY_MASKED.value if area.lower() == "only masked" else InpaintArea.WHOLE_PICTURE.value
        )
    if "Sampler" in fields:
        found = sampler_and_schedule(fields.pop("Sampler"), fields.pop("Schedule type", None))
        if found:
            changes["sampler"], changes["scheduler"] = found
        else:
            unknown["Sampler"] = parameters.fields["Sampler"]
            if "Schedule type" in parameters.fields:
                unknown["Schedule type"] = parameters.fields["Schedule type"]
    unknown.update(fields)  # Model, Model hash, Lora hashes, Hires ..., Version, ...
    return changes, unknown


def _take_hires(fields: dict[str, str], changes: dict[str, Any]) -> None:
    """The hires fix, all or nothing: applied only when the studio has its upscaler (a model it lacks would
    make a silently different picture); then "Denoising strength" is the hires strength, as A1111 writes it."""
    if "Hires upscale" not in fields or fields.get("Hires upscaler", "Latent") not in HIRES_UPSCALERS:
        return
    try:
        hires = {
            "hires_scale": float(fields["Hires upscale"]),
            "hires_upscaler": fields.get("Hires upscaler", "Latent"),
            "hires_steps": int(fields.get("Hires steps", "0")),
        }
    except ValueError:
        return
    for key in ("Hires upscale", "Hires upscaler", "Hires steps"):
        fields.pop(key, None)
    changes |= hires
    if "denoising_strength" in changes:  # only txt2img has a hires fix in A1111
        changes["hires_denoising_strength"] = changes.pop("denoising_strength")


# A1111's schedule types (`modules/sd_schedulers.py`): name, label, aliases. Those the studio runs are in SCHEDULERS.
_A1111_SCHEDULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("automatic", "Automatic", ()),
    ("uniform", "Uniform", ()),
    ("karras", "Karras", ()),
    ("exponential", "Exponential", ()),
    ("polyexponential", "Polyexponential", ()),
    ("sgm_uniform", "SGM Uniform", ("SGMUniform",)),
    ("kl_optimal", "KL Optimal", ()),
    ("align_your_steps", "Align Your Steps", ()),
    ("simple", "Simple", ()),
    ("normal", "Normal", ()),
    ("ddim", "DDIM", ()),
    ("beta", "Beta", ()),
)


def sampler_and_schedule(sampler: str, schedule: str | None = None) -> tuple[str, str] | None:
    """(sampler, schedule type) as A1111 1.9+ reads a text's `Sampler` and `Schedule type`, or None if we lack one.

    As A1111's `get_sampler_and_scheduler`: a missing or unknown schedule is Automatic; a sampler name
    that ends in a schedule ("DPM++ 2M Karras") names that schedule; a schedule that is the sampler's
    own default is Automatic again.
    """
    labels = {key: label for name, label, aliases in _A1111_SCHEDULES for key in (name, label, *aliases)}
    found = labels.get(schedule.strip(), AUTOMATIC) if schedule else AUTOMATIC
    name = sampler.strip()
    for schedule_name, label, aliases in _A1111_SCHEDULES:
        for option in (label, schedule_name, *aliases):
            if name.endswith(" " + option):
                found, name = label, name[: -len(option) - 1]
                break
    if name not in SAMPLERS:
        return None
    if found == AUTOMATIC_SCHEDULES.get(name):
        found = AUTOMATIC
    return (name, found) if found in SCHEDULERS + FLUX_SCHEDULERS else None


def _hash_alias(name: str) -> str:
    # A1111's lora_script drops these, which would break its "name: hash, name: hash" list.
    return library_name(name).replace(":", "").replace(",", "")


def _model_name(model: str) -> str:
    path = Path(model)
    return path.stem if path.suffix.lower() in (".safetensors", ".ckpt", ".bin", ".pth") else model


def _number(value: float) -> str:
    return f"{value:g}"


def quote(value: Any) -> str:
    # A1111 quotes values that would otherwise break its "key: value, key: value" line.
    text = str(value)
    return json.dumps(text) if any(char in text for char in ',:"\n') else text
