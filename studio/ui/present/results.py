"""The Results tab: what the picked picture was made with, and a run's progress."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from studio.authorship.lineage import plural
from studio.history import Iteration
from studio.progress import RunReport
from studio.recipe import Mode, Recipe
from studio.ui.present import closeness as closeness_text
from studio.ui.present.history import what_happened


def recipe_summary(recipe: Recipe, seed: int | None = None) -> str:
    """One line of what a picture was made with."""
    upscale = recipe.upscale
    if upscale is not None and not upscale.refine:  # nothing was rendered: only the enlargement happened
        return f"upscale {upscale.factor:g}× with {upscale.upscaler}" + (
            f", tiles of {upscale.tile} px" if upscale.tile else ""
        )
    if recipe.regions:
        return " · ".join(
            [
                f"{len(recipe.regions)} region{'s' if len(recipe.regions) > 1 else ''} "
                f"({', '.join(region.label for region in recipe.regions)}) repainted at {recipe.width}×{recipe.height}",
                recipe.sampler if recipe.scheduler == "Automatic" else f"{recipe.sampler} ({recipe.scheduler})",
                plural(recipe.steps, "step"),
                f"CFG {recipe.cfg_scale:g}",
                f"seed {seed if seed is not None else recipe.seed}",
                "strength " + ", ".join(f"{region.denoising_strength:g}" for region in recipe.regions),
            ]
        )
    parts = [
        recipe.mode.value,
        recipe.sampler if recipe.scheduler == "Automatic" else f"{recipe.sampler} ({recipe.scheduler})",
        plural(recipe.steps, "step"),
        f"CFG {recipe.cfg_scale:g}",
        f"{recipe.width}×{recipe.height}",
        f"seed {seed if seed is not None else recipe.seed}",
    ]
    if recipe.mode is not Mode.TXT2IMG:
        parts.append(f"denoise {recipe.denoising_strength:g}")
    if recipe.variation_strength:
        parts.append(f"variation {recipe.variation_strength:g}")
    if recipe.hires_scale > 1:
        width, height = recipe.hires_size
        parts.append(
            f"hires {recipe.hires_scale:g}× {recipe.hires_upscaler} → {width}×{height}, {recipe.hires_denoising_strength:g}"
        )
    if recipe.controls:
        parts.append("control " + ", ".join(f"{unit.kind} {unit.weight:g}" for unit in recipe.controls))
    for reference in recipe.references:
        adapter = Path(reference.model).name.rsplit(".", 1)[0]
        area = " in its area" if reference.mask else ""
        parts.append(f"reference {adapter} ({reference.kind.value.lower()}) {reference.weight:g}{area}")
    if recipe.area_prompts:
        parts.append(plural(len(recipe.area_prompts), "area prompt"))
    if upscale is not None:
        parts.insert(
            0, f"SD upscale {upscale.factor:g}× with {upscale.upscaler}, tiles overlapping {upscale.overlap} px"
        )
    return " · ".join(parts)


def selection_text(node: Iteration | None, index: int | None) -> str:
    if node is None or index is None:
        return "Nothing selected: the next Generate starts a new root of the tree."
    made = datetime.fromtimestamp(node.created).strftime("%H:%M:%S")
    prompt = node.recipe.prompt.strip()
    prompt = prompt if len(prompt) <= 90 else prompt[:87] + "…"
    shown = f"*{markdown_literal(prompt)}*" if prompt else "(no prompt)"
    near = closeness_text.selection_words(node, index)
    return (
        f"**Selected {node.id}·{index + 1}** ({what_happened(node)}, {made}). "
        f"Edits and variations branch from here; Generate does when *Branch from the picked picture* is on.  \n{recipe_summary(node.recipe, node.seeds[index])}  \n{shown}"
        + (f"  \n**Closeness:** {markdown_literal(near)}" if near else "")
    )


def markdown_literal(text: str) -> str:
    """`text` shown as written in Markdown: a <lora:name:0.8> tag is no link, (word:1.2) and *stars* no markup."""
    escaped = "".join(f"\\{char}" if char in _MARKDOWN_SIGNS else char for char in text)
    return escaped.replace("<", "&lt;").replace(">", "&gt;")


_MARKDOWN_SIGNS = set("\\`*_{}[]()#+-!|~")


def progress_bar(step: int, total: int, width: int = 20) -> str:
    filled = round(width * step / total) if total else 0
    return f"`{'█' * filled}{'░' * (width - filled)}` step {step} of {total}"


def waiting_line(ahead: int) -> str:
    """ "**Waiting:** 2 runs ahead of this one…": a run that waits for the engine, and why nothing moves yet."""
    runs, they = ("1 run", "it is") if ahead == 1 else (f"{ahead} runs", "they are")
    return (
        f"**Waiting:** {runs} ahead of this one (another tab's or another artist's, a training or a model load). "
        f"It starts when {they} done. Stop takes it out of the line, and stops this session's run in another tab "
        "too, if one is under way (Stop acts on the whole session)."
    )


def job_progress(run: RunReport) -> str:
    """ "**Grid:** 3 of 9 cells done": a grid's or a prompt batch's progress, for a page loaded while it runs."""
    done, total = (run.progress.step, run.progress.total) if run.progress else (0, 0)
    what, each = ("Grid", "cells") if run.job == "grid" else ("Prompts", "lines")
    return f"**{what}:** {done} of {total or '…'} {each} done (started before this page was loaded)"


def job_saved(job: str | None, node_ids: list[str], *, with_picture: bool) -> str:
    """What a finished grid or prompt batch saved, for a page loaded while it ran."""
    span = f"{node_ids[0]} to {node_ids[-1]}" if len(node_ids) > 1 else node_ids[0]
    if job == "grid" and with_picture:
        return f"Saved a grid of {len(node_ids)} cells ({span}); its picture is linked above its cells in History."
    if job == "grid":
        return f"Stopped: {len(node_ids)} finished cells are saved ({span}), without a grid picture."
    return f"Saved {len(node_ids)} pictures, one per line ({span})."
