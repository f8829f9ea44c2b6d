"""The History tab (and every gallery): captions, the tree outline, what a node was given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from studio.history import Action, Iteration, Mark, tree_order

_MARK_BADGES = {Mark.KEEP: "★ kept", Mark.REJECT: "✗ rejected", Mark.NONE: ""}
_MAX_INDENT = 8


@dataclass(frozen=True)
class Picture:
    """One picture of one node, as a gallery shows it."""

    node_id: str
    index: int
    path: str
    caption: str


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


def input_pictures(node: Iteration, folder_path) -> list[tuple[str, str]]:
    """What the artist gave a node (picture, mask, control maps), as (path, caption) pairs."""
    kinds = {unit.image: unit for unit in node.recipe.controls}
    shown = []
    for role, name in node.inputs.items():
        unit = kinds.get(role)
        label = f"{role}: {unit.kind} map, weight {unit.weight:g}" if unit else role
        shown.append((str(folder_path(name)), f"{node.id} · {label}"))
    return shown
