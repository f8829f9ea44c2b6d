"""Words for nodes and pictures: what happened, captions, what a node was given."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from studio.finish.regions import fix_name
from studio.history import Action, Iteration, Mark
from studio.ui.present import closeness as closeness_text
from studio.ui.present.viewer import file_url

_MARK_BADGES = {Mark.KEEP: "★ kept", Mark.REJECT: "✗ rejected", Mark.NONE: ""}


@dataclass(frozen=True)
class Picture:
    """One picture of one node, as a gallery shows it."""

    node_id: str
    index: int
    path: str
    caption: str


def finish_name(node: Iteration) -> str | None:
    """'fix hands', 'hires fix 2x', 'upscale 2x', 'SD upscale 2x' for a finishing node; None for others."""
    if node.action is Action.FIX:
        return fix_name(node.recipe.regions)
    if node.action is Action.GENERATE and node.source_index is not None and node.recipe.hires_scale > 1:
        return f"hires fix {node.recipe.hires_scale:g}x"  # a picked picture, remade with the hires fix
    if node.action is Action.UPSCALE and node.recipe.upscale is not None:
        upscale = node.recipe.upscale
        return f"{'SD upscale' if upscale.refine else 'upscale'} {upscale.factor:g}x"
    return None


def what_happened(node: Iteration) -> str:
    """'inpaint of 00002·1', 'generate', 'fix hands of 00003·1', ... in the artist's words."""
    verb = (
        finish_name(node)
        or {
            Action.GENERATE: "regenerate" if node.parent_id else "generate",
            Action.REPAINT: "repaint",
            Action.INPAINT: "inpaint",
            Action.VARY: "variations",
            Action.OUTPAINT: "outpaint",
            Action.KONTEXT: "kontext",
        }[node.action]
    )
    if node.job is not None:  # one of many made at once: which one says more than "generate"
        verb = f"{'grid cell' if node.job.kind == 'grid' else 'prompt'} {node.job.label}"
    if node.parent_id is None:
        return verb
    source = f"·{node.source_index + 1}" if node.source_index is not None else ""
    return f"{verb} of {node.parent_id}{source}"


def caption(node: Iteration, index: int) -> str:
    badge = _MARK_BADGES[node.marks[index]]
    label = f"{node.id}·{index + 1}  {what_happened(node)}"
    label = f"{label}  {badge}" if badge else label
    near = closeness_text.tag(node, index)
    return f"{label} · {near}" if near else label


def node_pictures(node: Iteration, folder_path) -> list[Picture]:
    return [Picture(node.id, i, str(folder_path(name)), caption(node, i)) for i, name in enumerate(node.outputs)]


def input_pictures(node: Iteration, folder_path) -> list[tuple[str, str]]:
    """What the artist gave a node (picture, mask, control maps), as (path, caption) pairs."""
    kinds = {unit.image: unit for unit in node.recipe.controls}
    shown = []
    for role, name in node.inputs.items():
        unit = kinds.get(role)
        label = f"{role}: {unit.kind} map, weight {unit.weight:g}" if unit else role
        shown.append((str(folder_path(name)), f"{node.id} · {label}"))
    return shown


PREVIEW_PICTURES = 4


def session_preview(session_id: str, nodes: list[Iteration], folder_path) -> str:
    """What a session in the History list holds, before the artist moves there: its size, its newest prompt
    and its newest pictures (HTML)."""
    if not nodes:
        return f"<div class='session-preview'><p><b>{escape(session_id)}</b>: no pictures yet.</p></div>"
    newest = nodes[-1]
    pictures = [picture for node in reversed(nodes) for picture in node_pictures(node, folder_path)]
    thumbs = "".join(
        f"<img alt='{escape(picture.caption, quote=True)}' title='{escape(picture.caption, quote=True)}' "
        f"src='{file_url(picture.path)}'>"
        for picture in pictures[:PREVIEW_PICTURES]
    )
    count = f"{len(nodes)} node{'' if len(nodes) == 1 else 's'}"
    prompt = newest.recipe.prompt.strip() or "(no prompt)"
    return (
        "<div class='session-preview'>"
        f"<p><b>{escape(session_id)}</b>: {count}; newest {newest.id}: “{escape(prompt)}”</p>"
        f"<div class='thumbs'>{thumbs}</div>"
        "<p class='hint'>Press <i>Continue in this session</i> to work in it.</p></div>"
    )
