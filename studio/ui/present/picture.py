"""The Picture info tab: what a dropped picture says, applied and only shown."""

from __future__ import annotations

from studio.formats.unit_text import unit_words
from studio.recipe import AUTOMATIC, ControlMode, resolved_schedule
from studio.services.picture_info import PictureInfo, Source
from studio.ui.present import closeness as closeness_text
from studio.ui.present.history import what_happened
from studio.ui.present.results import markdown_literal

_FIELD_LABELS = {
    "prompt": "Prompt",
    "negative_prompt": "Negative prompt",
    "sampler": "Sampler",
    "scheduler": "Schedule type",
    "steps": "Steps",
    "cfg_scale": "CFG",
    "distilled_cfg_scale": "Distilled CFG Scale",
    "shift": "Shift",
    "seed": "Seed",
    "width": "Width",
    "height": "Height",
    "denoising_strength": "Denoising",
    "clip_skip": "Clip skip",
    "model": "Model",
    "mode": "Mode",
}


def picture_info_text(info: PictureInfo) -> str:
    """What a dropped picture says, for the artist: what will be applied, and what is only shown."""
    if info.source is Source.NONE:
        text = "**This picture carries no generation settings** (no PNG text, no EXIF comment)."
        return text + _unknown_lines(info.unknown)
    lines = [f"**Made with {info.source.value}.** Press *Use these settings* to put them in the form."]
    if info.node is not None:
        parent = f", from {info.node.parent_id}" if info.node.parent_id else ""
        lines.append(f"Node **{info.node.id}** of session `{info.session}` ({what_happened(info.node)}{parent}).")
        if info.node.job is not None:
            kind = "grid" if info.node.job.kind == "grid" else "batch of prompts"
            lines.append(f"A cell of {kind} `{info.node.job.job}`: {markdown_literal(info.node.job.label)}.")
        if info.node.inputs:
            lines.append("Its inputs: " + ", ".join(f"{role} `{name}`" for role, name in info.node.inputs.items()))
        lines += [f"- **Closeness:** {markdown_literal(words)}" for words in closeness_text.lines(info.closeness)]
    for key, label in _FIELD_LABELS.items():
        if key == "denoising_strength" and info.changes.get("mode") == "txt2img":
            continue  # a txt2img picture has no denoising: the field is only the recipe's default
        if key == "clip_skip" and info.changes.get(key) == 1:
            continue  # off
        if (key, info.changes.get(key)) in (("distilled_cfg_scale", 3.5), ("shift", 0.0)):
            continue  # Flux's defaults, which every recipe carries (SD models ignore them): no news
        if key in info.changes and info.changes[key] not in ("", None):
            lines.append(f"- {label}: {_clip(_shown(key, info.changes))}")
    lines.extend(_studio_lines(info.changes))
    if info.source is not Source.STUDIO:  # ours are among the recipe's lines
        lines += [f"- ControlNet {unit.number}: {unit_words(unit)} (goes to the Control tab)" for unit in info.units]
        lines += [
            f"- Area prompt {area.number}: *{_clip(area.prompt)}* · weight {area.weight:g} (goes to the Control tab)"
            for area in info.areas
        ]
    for number, settings in enumerate(info.fix_passes, start=1):
        lines.append(
            f"- Fix pass {number} ({settings.model}, goes to the Finish tab): {settings.label}s, strength "
            f"{settings.denoising_strength:g}, edge softness {settings.mask_blur}, padding {settings.padding}, "
            f"grow {settings.grow}" + (f", prompt *{_clip(settings.prompt)}*" if settings.prompt else "")
        )
    return "  \n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + _unknown_lines(info.unknown)


def _studio_lines(changes: dict) -> list[str]:
    """Settings in a line each: inpaint settings, the hires fix, variation, styles, LoRAs, control units, reference
    pictures, area prompts."""
    lines = []
    if changes.get("mode") == "inpaint":
        lines.append(
            f"- Inpaint: {changes.get('inpaint_area')}, mask blur {changes.get('mask_blur')} px"
            + (f", padding {changes.get('inpaint_padding')} px" if changes.get("inpaint_area") == "only masked" else "")
        )
    if (changes.get("hires_scale") or 1) > 1:
        steps = changes.get("hires_steps") or "as many as Steps"
        strength = changes.get("hires_denoising_strength")
        lines.append(
            f"- Hires fix: {changes['hires_scale']:g}× by {changes.get('hires_upscaler', 'Latent')}, steps {steps}, "
            + (f"strength {strength:g}" if strength is not None else "the form's strength")
        )
    if changes.get("variation_strength"):
        lines.append(f"- Variation: seed {changes.get('variation_seed')}, strength {changes['variation_strength']:g}")
    if changes.get("styles"):
        lines.append("- Styles: " + ", ".join(str(name) for name in changes["styles"]))
    for lora in changes.get("loras") or []:
        if isinstance(lora, dict):
            lines.append(f"- LoRA: {lora.get('name')} {lora.get('weight')}")
    for number, unit in enumerate(changes.get("controls") or [], start=1):
        if isinstance(unit, dict):
            made = "by hand" if unit.get("preprocessor") == "none" else f"by {unit.get('preprocessor')}"
            lines.append(
                f"- Control unit {number}: {unit.get('kind')} · `{unit.get('model')}` · weight {unit.get('weight')}"
                f" · steps {unit.get('guidance_start')}–{unit.get('guidance_end')} · map {made}"
                + (f" · {mode}" if (mode := unit.get("control_mode")) and mode != ControlMode.BALANCED.value else "")
            )
    for number, reference in enumerate(changes.get("references") or [], start=1):
        if isinstance(reference, dict):
            area = "its painted area" if reference.get("mask") else "the whole picture"
            lines.append(
                f"- Reference picture {number}: `{reference.get('model')}` · {reference.get('kind')} · weight "
                f"{reference.get('weight')} · steps {reference.get('guidance_start')}–{reference.get('guidance_end')}"
                f" · steers {area}"
            )
    for number, area in enumerate(changes.get("area_prompts") or [], start=1):
        if isinstance(area, dict):
            lines.append(f"- Area prompt {number}: *{_clip(str(area.get('prompt')))}* · weight {area.get('weight')}")
    return lines


def _shown(key: str, changes: dict) -> str:
    value = str(changes[key])
    if key == "scheduler" and value == AUTOMATIC and changes.get("sampler"):
        # Say what Automatic runs: a text's "Karras" for DPM++ 2M reads as Automatic, which is Karras.
        return f"{value} ({resolved_schedule(changes['sampler'], value)} for {changes['sampler']})"
    return value


def _unknown_lines(unknown: dict[str, str]) -> str:
    if not unknown:
        return ""
    rows = "\n".join(f"- {key}: {_clip(value)}" for key, value in unknown.items())
    return f"\n\n**Also in the picture (kept, not applied):**\n{rows}"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
