"""The version tree: every turn of the loop is a node, stored under outputs/<session>/.

Layout of a session folder:
    history.json        the tree (schema-versioned, replaced atomically on every change)
    marks.json          the artist's keep/reject marks, by picture file (a rebuild from the PNGs finds them here)
    00007-0.png ...     the outputs of node 00007; each carries the node as JSON in its metadata
    00007-mask.png      the human's inputs to node 00007 (painted picture, mask, control maps)

The PNGs are the ground truth: if history.json is lost or damaged, the tree is rebuilt from them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from studio.errors import InputError, SessionError
from studio.files import atomic_write_text
from studio.formats import png_text
from studio.node import Action, Iteration, JobCell, Mark
from studio.recipe import upgrade_recipe_dict

__all__ = [  # the node's own names too: most callers know the tree by this module
    "HISTORY_FILE",
    "MARKS_FILE",
    "SCHEMA_VERSION",
    "Action",
    "HistoryError",
    "HistoryStore",
    "Iteration",
    "JobCell",
    "Mark",
    "SessionHistory",
    "SessionInfo",
    "tree_order",
]

# 3: nodes say where outside pictures came from (sources); 4: how close each output stays to them; 5: grid cells
SCHEMA_VERSION = 5
HISTORY_FILE = "history.json"
MARKS_FILE = "marks.json"
MARKS_SCHEMA_VERSION = 1


def _history_v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2: recipes name the sampler and the schedule type apart (see recipe.upgrade_recipe_dict)."""
    nodes = document.get("nodes")
    if isinstance(nodes, list):
        nodes = [
            {**node, "recipe": upgrade_recipe_dict(node.get("recipe"))} if isinstance(node, dict) else node
            for node in nodes
        ]
    return {**document, "schema_version": 2, "nodes": nodes}


def _history_v2_to_v3(document: dict[str, Any]) -> dict[str, Any]:
    """Version 3: a node may say what the artist stated about its outside pictures; older nodes stated nothing."""
    return {**document, "schema_version": 3}


def _history_v3_to_v4(document: dict[str, Any]) -> dict[str, Any]:
    """Version 4: a node may hold its outputs' closeness to the outside pictures of its lineage; older nodes hold
    none (the authorship report measures it from the files)."""
    return {**document, "schema_version": 4}


def _history_v4_to_v5(document: dict[str, Any]) -> dict[str, Any]:
    """Version 5: a node may be one cell of a grid or of a batch of prompts (its `job`); older nodes are none."""
    return {**document, "schema_version": 5}


# Each entry turns a history document of version N into version N + 1.
_MIGRATIONS: dict[int, Any] = {
    1: _history_v1_to_v2,
    2: _history_v2_to_v3,
    3: _history_v3_to_v4,
    4: _history_v4_to_v5,
}


class HistoryError(SessionError):
    """The history cannot be read or changed as asked."""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    folder: Path
    node_count: int
    modified: float
    # Why the session can only be looked at (written by a newer studio), or None.
    read_only: str | None = None


class SessionHistory:
    """The tree of one session, kept on disk. Safe to use from several threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.id = folder.name
        self._lock = threading.Lock()
        self._nodes: dict[str, Iteration] = {}
        self.recovered: list[str] = []  # node ids brought back from PNG metadata on the last load
        self.damage_note: str | None = None  # set when a damaged history.json was put aside
        self.read_only: str | None = None  # set when a newer studio wrote this folder: shown, never changed
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

    def in_tree_order(self) -> list[tuple[Iteration, int]]:
        """Every node depth-first (children after their parent, oldest first), each with its depth."""
        return tree_order(self.nodes())

    def children(self, node_id: str) -> list[Iteration]:
        return [node for node in self.nodes() if node.parent_id == node_id]

    def path(self, file_name: str) -> Path:
        return self.folder / file_name

    # --- writing -------------------------------------------------------------------------------

    def new_node_id(self) -> str:
        with self._lock:
            return self._next_id()

    def check_writable(self) -> None:
        if self.read_only:
            raise HistoryError(self.read_only)

    def add(self, node: Iteration) -> None:
        """Record a node whose files are already written. Saved before this returns."""
        with self._lock:
            self.check_writable()
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
            self.check_writable()
            node = self._nodes.get(node_id)
            if node is None:
                raise HistoryError(f"no node {node_id!r} in session {self.id}")
            if not 0 <= index < len(node.outputs):
                raise HistoryError(f"node {node_id} has no output {index}")
            try:
                marks = list(node.marks)
                marks[index] = Mark(mark)
            except ValueError:
                raise HistoryError(f"mark: {mark!r} is not one of 'keep', 'reject' or '' (none)") from None
            updated = replace(node, marks=tuple(marks))
            self._nodes[node_id] = updated
            self._save_marks()
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

    def _save_marks(self) -> None:
        marks = {
            name: mark.value
            for node in self._nodes.values()
            for name, mark in zip(node.outputs, node.marks, strict=True)
            if mark is not Mark.NONE
        }
        document = {"schema_version": MARKS_SCHEMA_VERSION, "marks": marks}
        atomic_write_text(self.folder / MARKS_FILE, json.dumps(document, indent=1, sort_keys=True))

    def _load(self) -> None:
        # The folder appears with the first picture, so a session that makes nothing leaves no trace.
        history_file = self.folder / HISTORY_FILE
        nodes: dict[str, Iteration] = {}
        damaged = False
        if history_file.exists():
            try:
                nodes = _parse_history(history_file.read_text(encoding="utf-8"))
            except HistoryFromTheFuture as error:
                # Listed and shown, never rewritten: the newer studio's file stays exactly as it was.
                self.read_only = f"session {self.id} is read-only here: {error}"
                return
            except (ValueError, KeyError, TypeError, AttributeError, HistoryError, RecursionError, OSError) as error:
                # OSError: history.json is a folder, or cannot be read at all; it is set aside like a damaged one.
                # Keep the damaged file for the artist (and for us); never overwrite it.
                damaged = True
                aside = history_file.with_name(f"{HISTORY_FILE}.damaged-{time.time_ns()}")
                history_file.replace(aside)
                self.damage_note = f"{history_file} was unreadable ({error}); kept as {aside.name}"
        # Nodes whose PNGs exist but that the history does not know (deleted, damaged or torn file).
        # File names start with the node id, so only unknown files need their metadata read.
        unknown = [path for path in self.folder.glob("*.png") if path.name.split("-", 1)[0] not in nodes]
        for node in _nodes_from_pngs(unknown):
            if node.id not in nodes:
                nodes[node.id] = node
                self.recovered.append(node.id)
        # A crash between two pictures of a batch leaves some outputs unwritten: show those that exist.
        complete = {
            node_id: node.keeping_outputs(lambda name: self.path(name).is_file()) for node_id, node in nodes.items()
        }
        trimmed = any(complete[node_id] is not node for node_id, node in nodes.items())
        complete = {node_id: node for node_id, node in complete.items() if node.outputs}
        marked = self._apply_saved_marks(complete)
        self._nodes = dict(sorted(complete.items(), key=lambda item: (item[1].created, item[0])))
        if self.recovered or damaged or trimmed or marked:
            self._save()

    def _apply_saved_marks(self, nodes: dict[str, Iteration]) -> bool:
        """Put back the marks kept in marks.json; whether any node changed."""
        marks_file = self.folder / MARKS_FILE
        if not marks_file.exists():
            return False
        try:
            document = json.loads(marks_file.read_text(encoding="utf-8"))
            saved = {str(name): Mark(value) for name, value in document["marks"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            aside = marks_file.with_name(f"{MARKS_FILE}.damaged-{time.time_ns()}")
            marks_file.replace(aside)
            note = f"{marks_file} was unreadable ({error}); kept as {aside.name}"
            self.damage_note = f"{self.damage_note}; {note}" if self.damage_note else note
            return False
        changed = False
        for node_id, node in nodes.items():
            marks = tuple(saved.get(name, Mark.NONE) for name in node.outputs)
            if marks != node.marks:
                nodes[node_id] = replace(node, marks=marks)
                changed = True
        return changed


def tree_order(nodes: Iterable[Iteration]) -> list[tuple[Iteration, int]]:
    """`nodes` depth-first (children after their parent, oldest first), each with its depth.

    A node whose parent is not among `nodes` is shown as a root.
    """
    nodes = list(nodes)
    children: dict[str | None, list[Iteration]] = {}
    known = {node.id for node in nodes}
    for node in nodes:
        children.setdefault(node.parent_id if node.parent_id in known else None, []).append(node)
    ordered: list[tuple[Iteration, int]] = []
    # A stack, not recursion: a session may be a chain of thousands of nodes, far past Python's recursion limit.
    stack = [(root, 0) for root in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        ordered.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(node.id, [])))
    return ordered


class HistoryFromTheFuture(HistoryError):
    """history.json was written by a newer studio: refuse rather than overwrite it."""


def _parse_history(text: str) -> dict[str, Iteration]:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise InputError(f"history is a JSON {type(document).__name__}, not an object")
    version = document.get("schema_version")
    if not isinstance(version, int):
        raise InputError("history has no schema_version")
    if version > SCHEMA_VERSION:
        raise HistoryFromTheFuture(
            f"history version {version} is newer than this studio understands ({SCHEMA_VERSION}); update the studio"
        )
    while version < SCHEMA_VERSION:
        document = _MIGRATIONS[version](document)
        version += 1
    if not isinstance(document.get("nodes"), list):
        raise InputError("history has no list of nodes")
    nodes = [Iteration.from_dict(data) for data in document["nodes"]]
    by_id = {node.id: node for node in nodes}
    if len(by_id) != len(nodes):
        raise InputError("history lists a node twice")
    return by_id


def _nodes_from_pngs(paths: Iterable[Path]) -> list[Iteration]:
    found: dict[str, Iteration] = {}
    for path in sorted(paths):
        data = png_text.read_studio_json(path)
        if not data or not isinstance(data.get("node"), dict):
            continue
        try:
            node = Iteration.from_dict(data["node"])
        except (ValueError, KeyError, TypeError, AttributeError):
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
        """A session of its own: an id no session on disk or open here has (two made in one second may draw the
        same four hex digits; it happened in CI, and the second session wrote into the first's folder)."""
        while True:
            session_id = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(2)}"
            with self._lock:
                taken = session_id in self._open or (self.root / session_id).exists()
            if not taken:
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
            try:
                session = self.session(folder.name)
            except HistoryError:
                continue  # not a session folder (a name this studio never makes)
            nodes = session.nodes()
            if session.read_only:
                infos.append(SessionInfo(session.id, folder, 0, folder.stat().st_mtime, session.read_only))
            elif nodes:
                infos.append(SessionInfo(session.id, folder, len(nodes), max(node.created for node in nodes)))
        return sorted(infos, key=lambda info: info.modified, reverse=True)
