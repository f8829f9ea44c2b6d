"""How nodes read on screen: tree order, captions, the outline. Pure functions, no gradio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from studio.history import Action, Iteration, Mark
from studio.picture_info import PictureInfo, Source
from studio.recipe import Mode, Recipe

_MARK_BADGES = {Mark.KEEP: "★ kept", Mark.REJECT: "✗ rejected", Mark.NONE: ""}
_MAX_INDENT = 8


@dataclass(frozen=True)
class Picture:
    """One picture of one node, as a gallery shows it."""

    node_id: str
    index: int
    path: str
    caption: str


def tree_order(nodes: Sequence[Iteration]) -> list[tuple[Iteration, int]]:
    """Nodes depth-first (children after their parent, oldest first), each with its depth."""
    children: dict[str | None, list[Iteration]] = {}
    known = {node.id for node in nodes}
    for node in nodes:
        parent = node.parent_id if node.parent_id in known else None
        children.setdefault(parent, []).append(node)
    ordered: list[tuple[Iteration, int]] = []

    def visit(parent: str | None, depth: int) -> None:
        for child in children.get(parent, []):
            ordered.append((child, depth))
            visit(child.id, depth + 1)

    visit(None, 0)
    return ordered


def what_happened(node: Iteration) -> str:
    """'inpaint of 00002·1', 'generate', ... in the artist's words."""
    verb = {
        Action.GENERATE: "regenerate" if node.parent_id else "generate",
        Action.REPAINT: "repaint",
        Action.INPAINT: "inpaint",
        Action.VARY: "variations",
    }[node.action]
    if node.parent_id is None:
        return verb
    source = f"·{node.source_index + 1}" if node.source_index is not None else ""
    return f"{verb} of {node.parent_id}{source}"


def caption(node: Iteration, index: int) -> str:
    badge = _MARK_BADGES[node.marks[index]]
    label = f"{node.id}·{index + 1}  {what_happened(node)}"
    return f"{label}  {badge}" if badge else label


def pictures(nodes: Sequence[Iteration], folder_path) -> list[Picture]:
    """Every picture of `nodes`, in tree order."""
    return [
        Picture(node.id, index, str(folder_path(name)), caption(node, index))
        for node, _ in tree_order(nodes)
        for index, name in enumerate(node.outputs)
    ]


def node_pictures(node: Iteration, folder_path) -> list[Picture]:
    return [Picture(node.id, i, str(folder_path(name)), caption(node, i)) for i, name in enumerate(node.outputs)]


def outline(nodes: Sequence[Iteration], selected: str | None = None) -> str:
    """The version tree as indented Markdown lines, the selected node in bold."""
    if not nodes:
        return "*Nothing made yet in this session. Write a prompt and press Generate.*"
    lines = []
    for node, depth in tree_order(nodes):
        indent = "\u2003" * min(depth, _MAX_INDENT) + ("└ " if depth else "")
        kept = sum(mark is Mark.KEEP for mark in node.marks)
        rejected = sum(mark is Mark.REJECT for mark in node.marks)
        badges = " ".join(filter(None, [f"★{kept}" if kept else "", f"✗{rejected}" if rejected else ""]))
        count = f"{len(node.outputs)} pictures" if len(node.outputs) > 1 else "1 picture"
        text = f"`{node.id}` {what_happened(node)} · {count} {badges}".rstrip()
        lines.append(f"{indent}**{text}** ◀" if node.id == selected else f"{indent}{text}")
    return "  \n".join(lines)


def recipe_summary(recipe: Recipe, seed: int | None = None) -> str:
    """One line of what a picture was made with."""
    parts = [
        recipe.mode.value,
        recipe.sampler if recipe.scheduler == "Automatic" else f"{recipe.sampler} ({recipe.scheduler})",
        f"{recipe.steps} steps",
        f"CFG {recipe.cfg_scale:g}",
        f"{recipe.width}×{recipe.height}",
        f"seed {seed if seed is not None else recipe.seed}",
    ]
    if recipe.mode is not Mode.TXT2IMG:
        parts.append(f"denoise {recipe.denoising_strength:g}")
    if recipe.variation_strength:
        parts.append(f"variation {recipe.variation_strength:g}")
    if recipe.controls:
        parts.append("control " + ", ".join(f"{unit.kind} {unit.weight:g}" for unit in recipe.controls))
    return " · ".join(parts)


def input_pictures(node: Iteration, folder_path) -> list[tuple[str, str]]:
    """What the artist gave a node (picture, mask, control maps), as (path, caption) pairs."""
    kinds = {unit.image: unit for unit in node.recipe.controls}
    shown = []
    for role, name in node.inputs.items():
        unit = kinds.get(role)
        label = f"{role}: {unit.kind} map, weight {unit.weight:g}" if unit else role
        shown.append((str(folder_path(name)), f"{node.id} · {label}"))
    return shown


def selection_text(node: Iteration | None, index: int | None) -> str:
    if node is None or index is None:
        return "Nothing selected: the next Generate starts a new root of the tree."
    made = datetime.fromtimestamp(node.created).strftime("%H:%M:%S")
    prompt = node.recipe.prompt if len(node.recipe.prompt) <= 90 else node.recipe.prompt[:87] + "…"
    return (
        f"**Selected {node.id}·{index + 1}** ({what_happened(node)}, {made}). "
        f"New results branch from here.  \n{recipe_summary(node.recipe, node.seeds[index])}  \n*{prompt}*"
    )


def picture_recipe(node: Iteration, index: int) -> Recipe:
    """The recipe the form shows for one picture: exactly the one that makes it again (its seeds, its variation)."""
    return node.recipe_of(index)


def progress_bar(step: int, total: int, width: int = 20) -> str:
    filled = round(width * step / total) if total else 0
    return f"`{'█' * filled}{'░' * (width - filled)}` step {step} of {total}"


def session_line(session_id: str) -> str:
    return f"**Session:** `{session_id}` (this browser's; others are under *History*)"


def model_line(model: str | None) -> str:
    return f"**Model:** `{model}`" if model else "**Model:** none loaded — open *Model* on the left"


_FIELD_LABELS = {
    "prompt": "Prompt",
    "negative_prompt": "Negative prompt",
    "sampler": "Sampler",
    "scheduler": "Schedule type",
    "steps": "Steps",
    "cfg_scale": "CFG",
    "seed": "Seed",
    "width": "Width",
    "height": "Height",
    "denoising_strength": "Denoising",
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
        if info.node.inputs:
            lines.append("Its inputs: " + ", ".join(f"{role} `{name}`" for role, name in info.node.inputs.items()))
    for key, label in _FIELD_LABELS.items():
        if key in info.changes and info.changes[key] not in ("", None):
            lines.append(f"- {label}: {_clip(str(info.changes[key]))}")
    return "  \n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + _unknown_lines(info.unknown)


def _unknown_lines(unknown: dict[str, str]) -> str:
    if not unknown:
        return ""
    rows = "\n".join(f"- {key}: {_clip(value)}" for key, value in unknown.items())
    return f"\n\n**Also in the picture (kept, not applied):**\n{rows}"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def memorization_text(report) -> str:
    """A memorization report for the artist: the verdict, the threshold, the closest pairs."""
    verdict = (
        f"**Overfitted:** a sample is nearly identical to a training picture (score {report.worst:.2f} ≥ "
        f"{report.threshold:g}). The LoRA copies instead of learning: train fewer steps, a lower rate, or add pictures."
        if report.overfitted
        else f"**No memorization found:** the closest sample scores {report.worst:.2f} (flagged at ≥ {report.threshold:g})."
    )
    rows = "\n".join(
        f"- sample {pair.sample} ↔ `{pair.training_picture}`: {pair.score:.2f}" for pair in report.closest[:5]
    )
    return f"{verdict}\n\n{rows}\n\n*{report.metric}. Saved beside the LoRA.*"


def memorization_sheet(report) -> str | None:
    return report.sheet or None
