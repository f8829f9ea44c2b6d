"""The version tree: every turn of the loop is a node, stored under outputs/<session>/.

Layout of a session folder:
    history.json        the tree (schema-versioned, replaced atomically on every change)
    00007-0.png ...     the outputs of node 00007; each carries the node as JSON in its metadata
    00007-mask.png      the human's inputs to node 00007 (painted picture, mask, control maps)

The PNGs are the ground truth: if history.json is lost or damaged, the tree is rebuilt from them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from studio import metadata
from studio.files import atomic_write_text
from studio.recipe import Recipe

SCHEMA_VERSION = 1
HISTORY_FILE = "history.json"

# Each entry turns a history document of version N into version N + 1.
_MIGRATIONS: dict[int, Any] = {}


class HistoryError(RuntimeError):
    """The history cannot be read or changed as asked."""


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "inputs", dict(self.inputs))
        marks = tuple(Mark(mark) for mark in self.marks) or (Mark.NONE,) * len(self.outputs)
        if len(marks) != len(self.outputs):
            raise HistoryError(f"node {self.id}: {len(marks)} marks for {len(self.outputs)} outputs")
        object.__setattr__(self, "marks", marks)

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Iteration:
        return cls(**{**data, "recipe": Recipe.from_dict(data["recipe"])})


@dataclass(frozen=True)
class SessionInfo:
    id: str
    folder: Path
    node_count: int
    modified: float


class SessionHistory:
    """The tree of one session, kept on disk. Safe to use from several threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.id = folder.name
        self._lock = threading.Lock()
        self._nodes: dict[str, Iteration] = {}
        self.recovered: list[str] = []  # node ids brought back from PNG metadata on the last load
        self.damage_note: str | None = None  # set when a damaged history.json was put aside
        self._load()

    # --- reading -------------------------------------------------------------------------------

    def nodes(self) -> list[Iteration]:
        """All nodes, oldest first."""
        with self._lock:
            return list(self._nodes.values())

    def get(self, node_id: str) -> Iteration:
        with self._lock:
            try:
                return self._nodes[node_id]
            except KeyError:
                raise HistoryError(f"no node {node_id!r} in session {self.id}") from None

    def children(self, node_id: str) -> list[Iteration]:
        return [node for node in self.nodes() if node.parent_id == node_id]

    def path(self, file_name: str) -> Path:
        return self.folder / file_name

    # --- writing -------------------------------------------------------------------------------

    def new_node_id(self) -> str:
        with self._lock:
            return self._next_id()

    def add(self, node: Iteration) -> None:
        """Record a node whose files are already written. Saved before this returns."""
        with self._lock:
            if node.id in self._nodes:
                raise HistoryError(f"node {node.id} already exists in session {self.id}")
            if node.parent_id is not None and node.parent_id not in self._nodes:
                raise HistoryError(f"parent {node.parent_id!r} of node {node.id} is not in session {self.id}")
            missing = [name for name in (*node.outputs, *node.inputs.values()) if not self.path(name).is_file()]
            if missing:
                raise HistoryError(f"node {node.id} refers to missing files: {', '.join(missing)}")
            self._nodes[node.id] = node
            self._save()

    def set_mark(self, node_id: str, index: int, mark: Mark | str) -> Iteration:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None:
                raise HistoryError(f"no node {node_id!r} in session {self.id}")
            if not 0 <= index < len(node.outputs):
                raise HistoryError(f"node {node_id} has no output {index}")
            marks = list(node.marks)
            marks[index] = Mark(mark)
            updated = replace(node, marks=tuple(marks))
            self._nodes[node_id] = updated
            self._save()
            return updated

    # --- persistence ---------------------------------------------------------------------------

    def _next_id(self) -> str:
        taken = {int(node_id) for node_id in self._nodes if node_id.isdigit()}
        taken |= {int(p.name[:5]) for p in self.folder.glob("[0-9][0-9][0-9][0-9][0-9]-*")}
        return f"{max(taken, default=0) + 1:05d}"

    def _save(self) -> None:
        document = {
            "schema_version": SCHEMA_VERSION,
            "session": self.id,
            "nodes": [node.to_dict() for node in self._nodes.values()],
        }
        atomic_write_text(self.folder / HISTORY_FILE, json.dumps(document, indent=1))

    def _load(self) -> None:
        # The folder appears with the first picture, so a session that makes nothing leaves no trace.
        history_file = self.folder / HISTORY_FILE
        nodes: dict[str, Iteration] = {}
        damaged = False
        if history_file.exists():
            try:
                nodes = _parse_history(history_file.read_text(encoding="utf-8"))
            except HistoryFromTheFuture:
                raise
            except (ValueError, KeyError, TypeError) as error:
                # Keep the damaged file for the artist (and for us); never overwrite it.
                damaged = True
                aside = history_file.with_name(f"{HISTORY_FILE}.damaged-{int(time.time())}")
                history_file.replace(aside)
                self.damage_note = f"{history_file} was unreadable ({error}); kept as {aside.name}"
        # Nodes whose PNGs exist but that the history does not know (deleted, damaged or torn file).
        # File names start with the node id, so only unknown files need their metadata read.
        unknown = [path for path in self.folder.glob("*.png") if path.name.split("-", 1)[0] not in nodes]
        for node in _nodes_from_pngs(unknown):
            if node.id not in nodes:
                nodes[node.id] = node
                self.recovered.append(node.id)
        self._nodes = dict(sorted(nodes.items(), key=lambda item: (item[1].created, item[0])))
        if self.recovered or damaged:
            self._save()


class HistoryFromTheFuture(HistoryError):
    """history.json was written by a newer studio: refuse rather than overwrite it."""


def _parse_history(text: str) -> dict[str, Iteration]:
    document = json.loads(text)
    version = document.get("schema_version")
    if not isinstance(version, int):
        raise ValueError("history has no schema_version")
    if version > SCHEMA_VERSION:
        raise HistoryFromTheFuture(
            f"history version {version} is newer than this studio understands ({SCHEMA_VERSION}); update the studio"
        )
    while version < SCHEMA_VERSION:
        document = _MIGRATIONS[version](document)
        version += 1
    nodes = [Iteration.from_dict(data) for data in document["nodes"]]
    return {node.id: node for node in nodes}


def _nodes_from_pngs(paths: Iterable[Path]) -> list[Iteration]:
    found: dict[str, Iteration] = {}
    for path in sorted(paths):
        data = metadata.read_studio_json(path)
        if not data or "node" not in data:
            continue
        try:
            node = Iteration.from_dict(data["node"])
        except (ValueError, KeyError, TypeError):
            continue
        found.setdefault(node.id, node)
    return list(found.values())


class HistoryStore:
    """All sessions under one outputs folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, SessionHistory] = {}
        self._lock = threading.Lock()

    def new_session(self) -> SessionHistory:
        session_id = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(2)}"
        return self.session(session_id)

    def session(self, session_id: str) -> SessionHistory:
        if not session_id or "/" in session_id or "\\" in session_id or session_id.startswith("."):
            raise HistoryError(f"invalid session id {session_id!r}")
        with self._lock:
            if session_id not in self._open:
                self._open[session_id] = SessionHistory(self.root / session_id)
            return self._open[session_id]

    def sessions(self) -> list[SessionInfo]:
        """Every session on disk that holds at least one node, newest first."""
        infos = []
        if not self.root.is_dir():
            return infos
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            session = self.session(folder.name)
            nodes = session.nodes()
            if nodes:
                infos.append(SessionInfo(session.id, folder, len(nodes), max(node.created for node in nodes)))
        return sorted(infos, key=lambda info: info.modified, reverse=True)
