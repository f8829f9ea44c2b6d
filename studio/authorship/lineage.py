"""The lineage of a picture: the nodes from its first generation to it, each with the human's and the machine's acts.

Everything is derived from the tree and the files it saved (no bookkeeping of its own that could
drift): a mask's area and a paint-over's changed pixels are measured from the node's saved inputs
against its parent's saved picture. Pure: PIL and numpy.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from studio.authorship.outside import OutsideCloseness, measure
from studio.closeness import Fingerprint, fingerprint
from studio.control.catalogue import KINDS, NO_PREPROCESSOR
from studio.errors import InputError
from studio.formats import a1111, png_text
from studio.history import Action, Iteration, Mark
from studio.pictures import open_picture
from studio.recipe import Mode

HUMAN, MACHINE = "human", "machine"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Act:
    """One thing done at a step: by whom, what kind of act, in plain words, with its measured figures."""

    by: str
    kind: str
    words: str
    figures: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutsideSource:
    """A picture that came from outside the studio (an upload), by content hash, with what the artist said of it."""

    role: str
    sha256: str
    file: str
    origin: str = UNKNOWN
    licence: str = UNKNOWN


@dataclass(frozen=True)
class Step:
    """One node of the lineage and the picture of it that the next step (or the export) took."""

    node_id: str
    action: str
    picture: str  # the output's file name in the session folder
    output_index: int
    acts: tuple[Act, ...]
    outside: tuple[OutsideSource, ...] = ()
    # Its picture's closeness to every outside picture given up to this step, closest first.
    closeness: tuple[OutsideCloseness, ...] = ()

    @property
    def by_hand(self) -> tuple[Act, ...]:
        return tuple(act for act in self.acts if act.by == HUMAN)


def chain(node_of: Callable[[str], Iteration], node_id: str) -> list[Iteration]:
    """The nodes from the root to `node_id`, in the order they were made."""
    nodes = [node_of(node_id)]
    while nodes[-1].parent_id is not None:
        nodes.append(node_of(nodes[-1].parent_id))
    return nodes[::-1]


def lineage(
    node_of: Callable[[str], Iteration],
    path_of: Callable[[str], Path],
    node_id: str,
    index: int,
    lora_trained_on: Callable[[str], str | None] = lambda name: None,
) -> list[Step]:
    """Each step from the first generation to picture `index` of `node_id`, its acts measured from the saved files.

    `lora_trained_on(name)` is the hash of the folder the artist trained that LoRA on (None: not their own).
    """
    nodes = chain(node_of, node_id)
    steps = []
    given: list[tuple[str, OutsideSource]] = []  # every outside picture so far, by the node it entered at
    fingerprint_of = fingerprints(path_of)
    for position, node in enumerate(nodes):
        parent = nodes[position - 1] if position else None
        used = index if position == len(nodes) - 1 else _used_output(nodes[position + 1])
        if not 0 <= used < len(node.outputs):
            raise InputError(f"index: node {node.id} has no picture {used}")
        acts = [*_human_acts(node, parent, path_of, used, lora_trained_on), *_machine_acts(node, path_of, used)]
        outside = _outside(node, parent, path_of)
        given += [(node.id, source) for source in outside]
        closeness = measure(fingerprint_of(node.outputs[used]), given, fingerprint_of) if given else ()
        steps.append(Step(node.id, node.action.value, node.outputs[used], used, tuple(acts), outside, closeness))
    return steps


def outside_of_chain(nodes: list[Iteration], path_of: Callable[[str], Path]) -> list[tuple[str, OutsideSource]]:
    """Every outside picture of a chain of nodes (root first), by the node it entered at."""
    return [
        (node.id, source)
        for position, node in enumerate(nodes)
        for source in _outside(node, nodes[position - 1] if position else None, path_of)
    ]


def fingerprints(path_of: Callable[[str], Path]) -> Callable[[str], Fingerprint]:
    """A session file's closeness fingerprint, read once per file for as long as the returned function is kept."""
    kept: dict[str, Fingerprint] = {}

    def fingerprint_of(name: str) -> Fingerprint:
        if name not in kept:
            kept[name] = fingerprint(open_picture(path_of(name), name))
        return kept[name]

    return fingerprint_of


def _used_output(child: Iteration) -> int:
    return child.source_index if child.source_index is not None else 0


def _human_acts(node: Iteration, parent: Iteration | None, path_of, used: int, lora_trained_on) -> list[Act]:
    recipe, acts = node.recipe, []
    before = parent.recipe if parent is not None else None
    for name, label in (("prompt", "prompt"), ("negative_prompt", "negative prompt")):
        now, then = getattr(recipe, name), getattr(before, name) if before else ""
        if now != then:
            added, removed = _word_changes(then, now)
            if not then:
                words = f"wrote the {label} “{now}”"
            else:
                changes = [
                    f"{what} “{' '.join(part)}”" for what, part in (("added", added), ("removed", removed)) if part
                ]
                words = f"changed the {label}: {', '.join(changes) or 'spacing only'}"
            acts.append(Act(HUMAN, name, words, {"added": " ".join(added), "removed": " ".join(removed)}))
    if parent is not None and node.source_index is not None and len(parent.outputs) > 1:  # one of one is no choice
        acts.append(
            Act(HUMAN, "pick", f"picked picture {node.source_index + 1} of {len(parent.outputs)}",
                {"picked": node.source_index + 1, "of": len(parent.outputs)})
        )  # fmt: skip
    if "mask" in node.inputs and node.action is not Action.OUTPAINT:  # an outpaint's mask is the new area it made
        area = _white_percent(path_of(node.inputs["mask"]))
        acts.append(Act(HUMAN, "mask", f"masked {area:.1f} % of the picture", {"area_percent": area}))
    if "image" in node.inputs and parent is not None and node.source_index is not None:
        changed = _changed_percent(path_of(node.inputs["image"]), path_of(parent.outputs[node.source_index]))
        if changed is not None and changed > 0 and node.action is not Action.OUTPAINT:
            acts.append(
                Act(HUMAN, "paint-over", f"painted over {changed:.1f} % of the picture", {"changed_percent": changed})
            )
    for number, unit in enumerate(recipe.controls, start=1):
        label = KINDS[unit.kind].label if unit.kind in KINDS else unit.kind
        if unit.preprocessor == NO_PREPROCESSOR:
            words = "set the pose by hand" if unit.kind == "openpose" else f"drew the {label} map by hand"
            acts.append(Act(HUMAN, "control map", words, {"unit": number, "kind": unit.kind}))
    for number, reference in enumerate(recipe.references, start=1):
        if _kept_from(parent, node, reference, path_of):
            continue  # the parent's reference, as it was: chosen once, said once
        stated = node.sources.get(reference.image, {})
        origin = stated.get("origin") or UNKNOWN
        words = f"chose reference picture {number} ({reference.kind.value.lower()}, weight {reference.weight:g}, from {origin})"
        figures = {"reference": number, "weight": reference.weight, "kind": reference.kind.value}
        acts.append(Act(HUMAN, "reference", words, figures))
        if reference.mask and reference.mask in node.inputs:
            area = _white_percent(path_of(node.inputs[reference.mask]))
            acts.append(
                Act(HUMAN, "reference area", f"painted the area reference picture {number} steers: {area:.1f} % of "
                    "the picture", {"reference": number, "area_percent": area})
            )  # fmt: skip
    for number, area in enumerate(recipe.area_prompts, start=1):
        covered = _white_percent(path_of(node.inputs[area.mask])) if area.mask in node.inputs else 0.0
        acts.append(
            Act(HUMAN, "area prompt", f"painted area {number} ({covered:.1f} % of the picture) and wrote for it "
                f"“{area.prompt}”", {"area": number, "area_percent": covered, "weight": area.weight})
        )  # fmt: skip
    for region in recipe.regions:
        how = f"found by {region.found_by}" if region.found_by else "marked by hand"
        acts.append(Act(HUMAN, "region", f"asked to fix a {region.label} region ({how})", {"label": region.label}))
    if recipe.styles:
        acts.append(Act(HUMAN, "styles", f"chose the styles {', '.join(recipe.styles)}"))
    for name, weight in ((lora.name, lora.weight) for lora in recipe.effective_loras):
        shown = Path(name).stem if "/" in name or "\\" in name else name  # a path names a folder: never published
        folder = lora_trained_on(name)
        own = f", your own, trained on folder {folder[:12]}…" if folder else ""
        figures = {"lora": shown, "weight": weight} | ({"training_folder_sha256": folder} if folder else {})
        acts.append(Act(HUMAN, "lora", f"chose the LoRA {shown} ({weight:g}{own})", figures))
    if node.action is Action.OUTPAINT:
        acts.append(Act(HUMAN, "outpaint", "widened the canvas"))
    if recipe.upscale is not None:
        acts.append(Act(HUMAN, "upscale", f"enlarged the picture {recipe.upscale.factor:g}x"))
    if used < len(node.marks) and node.marks[used] is not Mark.NONE:
        acts.append(Act(HUMAN, "mark", f"marked the picture '{node.marks[used].value}'"))
    return acts


def _machine_acts(node: Iteration, path_of, used: int) -> list[Act]:
    recipe = node.recipe
    fields = a1111.parse_parameters(
        png_text.read_texts(path_of(node.outputs[used])).get(png_text.PARAMETERS_KEY, "")
    ).fields
    figures: dict[str, float | int | str] = {
        "model": recipe.model.rsplit("/", 1)[-1],
        "model_hash": fields.get("Model hash", UNKNOWN),
        "sampler": recipe.sampler,
        "schedule": recipe.scheduler,
        "steps": recipe.steps,
        "seed": node.seeds[used],
    }
    if recipe.mode is not Mode.TXT2IMG:
        figures["strength"] = recipe.denoising_strength
    words = {
        Action.GENERATE: "generated", Action.VARY: "generated variations", Action.REPAINT: "repainted (img2img)",
        Action.INPAINT: "inpainted the masked area", Action.OUTPAINT: "painted the new area",
        Action.FIX: "re-rendered the regions", Action.UPSCALE: "upscaled",
        Action.KONTEXT: "made the change described in words (Flux Kontext)",
    }[node.action]  # fmt: skip
    upscale = recipe.upscale
    if node.action is Action.UPSCALE and upscale is not None and not upscale.refine:
        # A plain enlargement runs no diffusion model: no sampler, steps or seed are credited to it.
        figures = {"upscaler": upscale.upscaler, "factor": upscale.factor}
        return [Act(MACHINE, node.action.value, f"enlarged it {upscale.factor:g}x with {upscale.upscaler}", figures)]
    model_hash = figures["model_hash"]
    hashed = f"hash {model_hash}" if model_hash != UNKNOWN else "no file hash: a folder or hub id"
    how = [
        f"{figures['model']} ({hashed})",
        f"{recipe.sampler}, {recipe.scheduler.lower()} schedule",
        plural(recipe.steps, "step"),
        f"seed {figures['seed']}",
    ]
    if "strength" in figures:
        how.append(f"strength {figures['strength']:g}")
    acts = [Act(MACHINE, node.action.value, f"{words} with {', '.join(how)}", figures)]
    for number, unit in enumerate(recipe.controls, start=1):
        if unit.preprocessor != NO_PREPROCESSOR:
            acts.append(Act(MACHINE, "control map", f"made control map {number} with {unit.preprocessor}"))
    for number, reference in enumerate(recipe.references, start=1):
        adapter = Path(reference.model).stem
        acts.append(Act(MACHINE, "reference", f"read reference picture {number} with the IP-Adapter {adapter}"))
    embeddings = a1111.named_hashes(fields.get("TI hashes", ""))
    if embeddings:
        named = ", ".join(f"{name} (hash {digest})" for name, digest in embeddings.items())
        figures = {f"embedding {name}": digest for name, digest in embeddings.items()}
        acts.append(Act(MACHINE, "embeddings", f"read the embeddings {named} named in the prompts", dict(figures)))
    return acts


def _outside(node: Iteration, parent: Iteration | None, path_of) -> tuple[OutsideSource, ...]:
    """Pictures the node was given that no node of the tree made: uploads (an img2img or inpaint base without a
    parent) and reference pictures (always outside material: they steer, and are not painted on)."""
    roles = [reference.image for reference in node.recipe.references]
    if parent is None and "image" in node.inputs:
        roles.insert(0, "image")
    found = []
    for role in roles:
        if role not in node.inputs:
            continue
        name, stated = node.inputs[role], node.sources.get(role, {})
        origin, licence = stated.get("origin") or UNKNOWN, stated.get("licence") or UNKNOWN
        found.append(OutsideSource(role, file_sha256(path_of(name)), name, origin, licence))
    return tuple(found)


def _kept_from(parent: Iteration | None, node: Iteration, reference, path_of) -> bool:
    """Whether `parent` ran the same reference unit on the same pictures (a variation, a repaint under it)."""
    if parent is None or reference not in parent.recipe.references:
        return False
    roles = [role for role in (reference.image, reference.mask) if role]
    if any(role not in node.inputs or role not in parent.inputs for role in roles):
        return False
    return all(file_sha256(path_of(node.inputs[r])) == file_sha256(path_of(parent.inputs[r])) for r in roles)


def plural(count: int, word: str) -> str:
    """ "1 step", "4 steps"."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _word_changes(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.split(), after.split()
    added, removed = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if tag in ("replace", "delete"):
            removed += old[i1:i2]
        if tag in ("replace", "insert"):
            added += new[j1:j2]
    return added, removed


def _white_percent(path: Path) -> float:
    with Image.open(path) as mask:
        values = np.asarray(mask.convert("L"))
    return round(float((values >= 128).mean() * 100), 2)


def _changed_percent(painted: Path, original: Path) -> float | None:
    """Pixels that differ between the painted picture and the picture it was painted on (None: other sizes)."""
    with Image.open(painted) as a, Image.open(original) as b:
        if a.size != b.size:
            return None
        first, second = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
    return round(float(np.any(first != second, axis=2).mean() * 100), 2)
