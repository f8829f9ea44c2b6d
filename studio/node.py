"""A node of the version tree: the recipe that made it, the human's inputs, its outputs and their marks.

Checked when it is made, not trusted: a hand-edited or damaged history is refused here, never half-used.
studio/history.py stores nodes; this module only says what one is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from studio.errors import InputError
from studio.recipe import Recipe

_NODE_ID = re.compile(r"^\d{5,}$")
_JOB_ID = re.compile(r"^(grid|prompts)-[0-9A-Za-z-]{1,64}$")  # also the grid picture's file name: no path in it
JOB_KINDS = ("grid", "prompts")
# What the artist states about a picture from outside the studio: where it is from, and under which licence.
SOURCE_FIELDS = ("origin", "licence")
MAX_SOURCE_TEXT = 500


class Mark(StrEnum):
    NONE = ""
    KEEP = "keep"
    REJECT = "reject"


class Action(StrEnum):
    """What the human asked for when the node was made."""

    GENERATE = "generate"
    REPAINT = "repaint"
    INPAINT = "inpaint"
    VARY = "vary"
    OUTPAINT = "outpaint"
    FIX = "fix"
    UPSCALE = "upscale"
    KONTEXT = "kontext"  # a change the artist described in words, made by a Flux.1 Kontext model

    @property
    def as_words(self) -> str:
        """ "an outpaint", "a repaint (img2img)": what a node made this way is, in a sentence."""
        return {
            Action.GENERATE: "a generation",
            Action.REPAINT: "a repaint (img2img)",
            Action.INPAINT: "an inpaint",
            Action.VARY: "a variation",
            Action.OUTPAINT: "an outpaint",
            Action.FIX: "a region fix",
            Action.UPSCALE: "an upscale",
            Action.KONTEXT: "a change described in words (Kontext)",
        }[self]


@dataclass(frozen=True)
class JobCell:
    """Where a node sits in a job that made many nodes at once (a grid, a batch of prompts): the job, its kind,
    and this cell's values in words ("CFG Scale: 7 · Steps: 20", "line 3"). The tree draws a job's cells as one
    group."""

    job: str
    kind: str
    label: str
    columns: int = 0  # how many cells a row of the job has (a grid's X values); 0: one row

    def __post_init__(self) -> None:
        if not isinstance(self.job, str) or not _JOB_ID.match(self.job):
            raise InputError(f"job id {self.job!r} is not a grid or prompts job's id")
        if self.kind not in JOB_KINDS or not self.job.startswith(f"{self.kind}-"):
            raise InputError(f"job {self.job}: kind {self.kind!r} is not one of {', '.join(JOB_KINDS)}")
        if not isinstance(self.label, str) or len(self.label) > MAX_SOURCE_TEXT:
            raise InputError(f"job {self.job}: a cell's label is a text of at most {MAX_SOURCE_TEXT} characters")
        if isinstance(self.columns, bool) or not isinstance(self.columns, int) or self.columns < 0:
            raise InputError(f"job {self.job}: columns {self.columns!r} is not a count")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.job, "kind": self.kind, "cell": self.label, "columns": self.columns}

    @classmethod
    def from_dict(cls, data: Any) -> JobCell:
        if not isinstance(data, Mapping) or set(data) != {"id", "kind", "cell", "columns"}:
            raise InputError(f"a node's job {data!r} is not a mapping of id, kind, cell and columns")
        return cls(data["id"], data["kind"], data["cell"], data["columns"])


@dataclass(frozen=True)
class Iteration:
    """One node of the tree: the recipe that made it, the human's inputs, and its outputs."""

    id: str
    parent_id: str | None
    recipe: Recipe
    action: Action
    outputs: tuple[str, ...]
    seeds: tuple[int, ...]
    inputs: Mapping[str, str] = field(default_factory=dict)
    # Which of the parent's outputs the human worked from (None for a fresh generation).
    source_index: int | None = None
    marks: tuple[Mark, ...] = ()
    created: float = 0.0
    # For inputs that came from outside the studio (an upload): what the artist said of them, by role.
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Per output: its closeness to each outside picture of the lineage, closest first, as
    # studio.authorship.outside.OutsideCloseness.to_dict() writes it. Empty: none measured (no outside picture).
    closeness: tuple[tuple[Mapping[str, Any], ...], ...] = ()
    job: JobCell | None = None  # made as one cell of a grid or a batch of prompts

    def __post_init__(self) -> None:
        # Checked, not trusted: a hand-edited or damaged history must be refused here, never half-used.
        if not isinstance(self.id, str) or not _NODE_ID.match(self.id):
            raise InputError(f"node id {self.id!r} is not a string of digits")
        if self.parent_id is not None and (not isinstance(self.parent_id, str) or not _NODE_ID.match(self.parent_id)):
            raise InputError(f"node {self.id}: parent id {self.parent_id!r} is not a string of digits")
        if not isinstance(self.recipe, Recipe):
            raise InputError(f"node {self.id}: recipe is not a Recipe")
        if (
            isinstance(self.created, bool)
            or not isinstance(self.created, (int, float))
            or not math.isfinite(self.created)
        ):
            raise InputError(f"node {self.id}: created {self.created!r} is not a time")
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "outputs", _strings(self.id, "outputs", self.outputs))
        if any(isinstance(seed, bool) or not isinstance(seed, int) for seed in self.seeds):
            raise InputError(f"node {self.id}: seeds are not whole numbers")
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if len(self.seeds) != len(self.outputs):
            raise InputError(f"node {self.id}: {len(self.seeds)} seeds for {len(self.outputs)} outputs")
        if not isinstance(self.inputs, Mapping):
            raise InputError(f"node {self.id}: inputs are not a mapping of role to file")
        object.__setattr__(
            self, "inputs", dict(zip(self.inputs, _strings(self.id, "inputs", self.inputs.values()), strict=True))
        )
        if self.source_index is not None and (
            isinstance(self.source_index, bool) or not isinstance(self.source_index, int)
        ):
            raise InputError(f"node {self.id}: source_index {self.source_index!r} is not a whole number")
        marks = tuple(Mark(mark) for mark in self.marks) or (Mark.NONE,) * len(self.outputs)
        if len(marks) != len(self.outputs):
            raise InputError(f"node {self.id}: {len(marks)} marks for {len(self.outputs)} outputs")
        object.__setattr__(self, "marks", marks)
        object.__setattr__(self, "sources", _checked_sources(self.id, self.sources, self.inputs))
        object.__setattr__(self, "closeness", _checked_closeness(self.id, self.closeness, len(self.outputs)))
        if self.job is not None and not isinstance(self.job, JobCell):
            raise InputError(f"node {self.id}: job is not a JobCell")

    def recipe_of(self, index: int) -> Recipe:
        """The recipe that makes picture `index` again, as the first picture of its batch.

        Its own seed and, for a variation, its own variation seed with the same strength: generating
        it (any batch size) makes exactly that picture first.
        """
        position = _batch_position(self.outputs[index], index)
        variation_seeds = self.recipe.variation_seeds()
        return self.recipe.replace(
            seed=self.seeds[index],
            variation_seed=variation_seeds[position] if variation_seeds else self.recipe.variation_seed,
        )

    def keeping_outputs(self, exists) -> Iteration:
        """This node with only the outputs for which `exists(file name)` holds (a batch cut short by a crash)."""
        kept = [index for index, name in enumerate(self.outputs) if exists(name)]
        if len(kept) == len(self.outputs):
            return self
        return replace(
            self,
            outputs=tuple(self.outputs[i] for i in kept),
            seeds=tuple(self.seeds[i] for i in kept),
            marks=tuple(self.marks[i] for i in kept),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "recipe": self.recipe.to_dict(),
            "action": self.action.value,
            "outputs": list(self.outputs),
            "seeds": list(self.seeds),
            "inputs": dict(self.inputs),
            "source_index": self.source_index,
            "marks": [mark.value for mark in self.marks],
            "created": self.created,
            "sources": {role: dict(statement) for role, statement in self.sources.items()},
            "closeness": [[dict(entry) for entry in entries] for entries in self.closeness],
            **({"job": self.job.to_dict()} if self.job is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Iteration:
        job = JobCell.from_dict(data["job"]) if data.get("job") is not None else None
        return cls(**{**data, "recipe": Recipe.from_dict(data["recipe"]), "job": job})


def _checked_sources(node_id: str, sources: Any, inputs: Mapping[str, str]) -> dict[str, dict[str, str]]:
    if not isinstance(sources, Mapping):
        raise InputError(f"node {node_id}: sources are not a mapping of role to statement")
    checked = {}
    for role, statement in sources.items():
        if role not in inputs or not isinstance(statement, Mapping) or set(statement) - set(SOURCE_FIELDS):
            raise InputError(f"node {node_id}: sources[{role!r}] is not a statement about one of its inputs")
        values = {name: statement.get(name, "") for name in SOURCE_FIELDS}
        if any(not isinstance(value, str) or len(value) > MAX_SOURCE_TEXT for value in values.values()):
            raise InputError(f"node {node_id}: sources[{role!r}] must be texts of at most {MAX_SOURCE_TEXT} characters")
        checked[role] = values
    return checked


def _checked_closeness(node_id: str, closeness: Any, outputs: int) -> tuple[tuple[dict[str, Any], ...], ...]:
    if not isinstance(closeness, (list, tuple)) or (closeness and len(closeness) != outputs):
        raise InputError(f"node {node_id}: closeness must hold one list per output")
    checked = []
    for entries in closeness:
        if not isinstance(entries, (list, tuple)) or not all(
            isinstance(entry, Mapping) and isinstance(entry.get("score"), (int, float)) for entry in entries
        ):
            raise InputError(f"node {node_id}: closeness entries must each be a mapping with a score")
        checked.append(tuple(dict(entry) for entry in entries))
    return tuple(checked)


def _batch_position(file_name: str, fallback: int) -> int:
    """Which picture of its batch an output file is ("00007-2.png" is the third), even after a crash cut the batch."""
    stem = file_name.rsplit(".", 1)[0]
    suffix = stem.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else fallback


def _strings(node_id: str, name: str, values: Iterable[Any]) -> tuple[str, ...]:
    values = tuple(values)
    for value in values:
        # File names only: a history must not point outside its own session folder.
        if not isinstance(value, str) or not value or "/" in value or "\\" in value or value.startswith("."):
            raise InputError(f"node {node_id}: {name} holds {value!r}, not a file name")
    return values
