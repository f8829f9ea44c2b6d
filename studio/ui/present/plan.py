"""What the next run will use, in one short block under Generate: nothing runs that is not listed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from studio.control.catalogue import KINDS, NO_PREPROCESSOR
from studio.control.references import reference_problem
from studio.embedding_library import names_used
from studio.recipe.parts import ControlMode
from studio.recipe.prompt_syntax import lora_tags


@dataclass(frozen=True)
class UnitPlan:
    number: int
    enabled: bool
    kind: str
    weight: float
    made_by: dict | None  # the unit's map origin (see UnitWidgets.made_by); None: no map yet
    control_mode: str = ControlMode.BALANCED.value  # sd-webui-controlnet's mode, by its name


@dataclass(frozen=True)
class ReferencePlan:
    number: int
    model: str
    weight: float
    kind: str


def plan_text(
    model: str,
    prompt: str,
    units: Sequence[UnitPlan],
    styles: Sequence[str] = (),
    parent: str | None = None,
    family: str | None = None,
    hires: tuple[float, str, float] | None = None,
    loaded: str | None = None,
    negative_prompt: str = "",
    embeddings: Sequence[str] = (),
    references: Sequence[ReferencePlan] = (),
    areas: Sequence[tuple[int, str]] = (),
    faces_ready: bool = False,
) -> str:
    """Markdown listing the model, LoRAs, styles and control units the next Generate, Inpaint or Repaint runs,
    and where a Generate goes in the tree (`parent`: "00003·1" when it branches from the picked picture).

    `hires`: the form's hires fix (scale, upscaler, strength), shown when it is on. `loaded`: the model loaded
    now (the header's); a run of another loads that one first, which the plan says. `embeddings`: the library's
    names; those the prompts use are listed (a word that is an embedding is not just a word)."""
    loras = lora_tags(prompt or "")[1]
    model = (model or "").strip()
    lines = [f"**Will run:** `{model or 'no model'}`" + (f" · {family}" if family else "")]
    if loaded and model and model != loaded:
        lines[0] += f" — **not loaded yet**: a run loads it first (loaded now: `{loaded}`)"
    lines.append(f"Generate: a child of {parent}" if parent else "Generate: a new root of the tree")
    lines.append("LoRAs: " + (", ".join(f"{name} {weight:g}" for name, weight in loras) if loras else "none"))
    used = names_used([prompt or ""], list(embeddings))
    used_negative = [name for name in names_used([negative_prompt or ""], list(embeddings)) if name not in used]
    if used or used_negative:
        named = used + [f"{name} (negative)" for name in used_negative]
        lines.append("Embeddings: " + ", ".join(named))
    lines.append("Styles: " + (", ".join(styles) if styles else "none"))
    if hires and hires[0] > 1:
        lines.append(f"Hires fix: {hires[0]:g}× by {hires[1]}, strength {hires[2]:g} (Generate only)")
    active = [unit for unit in units if unit.enabled]
    if not active:
        lines.append("Control: off")
    for unit in active:
        label = KINDS[unit.kind].label if unit.kind in KINDS else unit.kind
        mode = "" if unit.control_mode == ControlMode.BALANCED.value else f", mode: {unit.control_mode}"
        lines.append(f"Control unit {unit.number}: {label}, weight {unit.weight:g}{mode}, {_origin(unit.made_by)}")
    for reference in references:
        adapter = reference.model.rsplit(".", 1)[0] or "**no IP-Adapter chosen**"
        problem = reference_problem(reference.model, reference.kind, faces_ready)
        cannot = f" — **cannot run:** {problem}" if problem else ""
        lines.append(
            f"Reference {reference.number}: {adapter}, weight {reference.weight:g}, {reference.kind.lower()}{cannot}"
        )
    for number, words in areas:
        lines.append(f"Area {number}: “{words.strip()}”" if words.strip() else f"Area {number}: **no words yet**")
    return "  \n".join(lines)


def _origin(made_by: dict | None) -> str:
    if not made_by:
        return "**no map yet** (the run will stop and say so)"
    preprocessor = made_by.get("preprocessor") or NO_PREPROCESSOR
    return "map by hand" if preprocessor == NO_PREPROCESSOR else f"map by {preprocessor}"
