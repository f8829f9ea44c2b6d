"""Two pictures of the tree side by side, in words: what changed in the prompt and in the settings."""

from __future__ import annotations

import difflib
from dataclasses import fields
from html import escape

from studio.history import Iteration
from studio.recipe import Recipe
from studio.ui.present.history import what_happened

_SETTINGS = [f.name for f in fields(Recipe) if f.name not in {"prompt", "negative_prompt", "batch_size", "seed"}]


def word_diff(before: str, after: str) -> str:
    """`after` against `before`, word by word: removed words struck through, added words in bold (HTML)."""
    old, new = before.split(), after.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(' '.join(old[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(' '.join(new[j1:j2]))}</ins>")
        if op == "equal":
            parts.append(escape(" ".join(old[i1:i2])))
    return " ".join(parts) or "<em>(empty)</em>"


def setting_changes(first: Recipe, second: Recipe) -> list[str]:
    """'steps: 20 → 30' for every setting that differs (prompts apart)."""
    changes = []
    for name in _SETTINGS:
        a, b = getattr(first, name), getattr(second, name)
        if a != b:
            changes.append(f"{name.replace('_', ' ')}: {_shown(a)} → {_shown(b)}")
    return changes


def comparison(first: Iteration, first_index: int, second: Iteration, second_index: int) -> str:
    a, b = first.recipe_of(first_index), second.recipe_of(second_index)
    lines = [
        f"**A** {first.id}·{first_index + 1} ({what_happened(first)})  \n"
        f"**B** {second.id}·{second_index + 1} ({what_happened(second)})",
        "**Prompt** (A → B): " + ("unchanged" if a.prompt == b.prompt else word_diff(a.prompt, b.prompt)),
    ]
    if a.negative_prompt != b.negative_prompt:
        lines.append("**Negative prompt**: " + word_diff(a.negative_prompt, b.negative_prompt))
    seeds = f"seed: {first.seeds[first_index]} → {second.seeds[second_index]}"
    changes = setting_changes(a, b)
    if first.seeds[first_index] != second.seeds[second_index]:
        changes.append(seeds)
    lines.append("**Settings**: " + ("the same" if not changes else "; ".join(escape(c) for c in changes)))
    return "\n\n".join(lines)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(getattr(item, "name", None) or getattr(item, "kind", item)) for item in value) or "none"
    return str(getattr(value, "value", value))
