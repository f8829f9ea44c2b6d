"""The live painting's state in the session's draft: the seed, and the last live picture with what it ran on.

Not a node until the artist keeps it, but never lost on a reload or a restart:

    draft/live.json         {"schema_version": 1, "seed": 1234,
                             "last": {"recipe": {...}, "action": "inpaint", "parent": {"node": "00003", "index": 0},
                                      "sources": {...}, "seconds": 0.09, "steps": 4,} | null}
    draft/live-canvas.png   the canvas it ran on (the picture with the artist's paint)
    draft/live-mask.png     the mask it ran with (an inpaint; absent for an img2img)
    draft/live-picture.png  the live picture
    draft/live-control-0.png ... each control unit's map it ran with (a sketch's lines, say)
    draft/live-kept.json    {"schema_version": 1, "run": "<sha256 of the recipe, parent, canvas and mask>",
                             "node": "00004"}: the node the last kept run became (a second Keep makes no copy)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from studio.files import atomic_write, atomic_write_text
from studio.history import Action
from studio.pictures import open_picture
from studio.recipe import Recipe

SCHEMA_VERSION = 1
_STATE = "live.json"
_KEPT = "live-kept.json"
_PICTURES = {"canvas": "live-canvas.png", "mask": "live-mask.png", "picture": "live-picture.png"}


@dataclass(frozen=True)
class LivePicture:
    """One live run: the picture, exactly the recipe and inputs it ran on, and how long it took."""

    picture: Image.Image
    recipe: Recipe  # with its concrete seed, unstyled, as a node records it
    action: Action  # REPAINT (img2img of the canvas) or INPAINT (where the mask is)
    canvas: Image.Image
    mask: Image.Image | None
    parent: tuple[str, int] | None  # the node picture being painted on; None for an upload
    sources: dict[str, dict[str, str]]  # an upload's stated origin and licence
    seconds: float
    steps: int
    control_maps: dict[str, Image.Image] = field(default_factory=dict)  # each control unit's map, by its role

    @property
    def fingerprint(self) -> str:
        return run_fingerprint(self.recipe, self.parent, self.canvas, self.mask, self.control_maps)

    @property
    def timing(self) -> str:
        """ "0.09 s, 4 steps": what the artist reads beside the live picture."""
        return f"{self.seconds:.2f} s, {self.steps} step{'s' if self.steps != 1 else ''}"


def run_fingerprint(
    recipe: Recipe,
    parent: tuple[str, int] | None,
    canvas: Image.Image,
    mask: Image.Image | None,
    control_maps: dict[str, Image.Image],
) -> str:
    """What a live run is (recipe, parent, canvas, mask, maps): the same fingerprint paints the same picture."""
    digest = hashlib.sha256(recipe.to_json().encode() + repr(parent).encode())
    for picture in (canvas, mask, *(control_maps[role] for role in sorted(control_maps))):
        if picture is not None:
            digest.update(f"{picture.mode}{picture.size}".encode() + picture.tobytes())
    return digest.hexdigest()


class LiveDraft:
    """The live state of one session, in its draft folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def seed(self) -> int | None:
        seed = self._state().get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    def save_seed(self, seed: int) -> None:
        self._save_state(self._state() | {"seed": int(seed)})

    def save(self, live: LivePicture) -> None:
        """The last live picture, with its canvas and mask, written before it is shown."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, picture in (("canvas", live.canvas), ("mask", live.mask), ("picture", live.picture)):
            path = self.folder / _PICTURES[name]
            if picture is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, lambda handle, picture=picture: picture.save(handle, format="PNG"))
        last = {
            "recipe": live.recipe.to_dict(),
            "action": live.action.value,
            "parent": {"node": live.parent[0], "index": live.parent[1]} if live.parent else None,
            "sources": live.sources,
            "seconds": live.seconds,
            "steps": live.steps,
            "control_maps": sorted(live.control_maps),
            "fingerprint": live.fingerprint,
        }
        for role, picture in live.control_maps.items():
            atomic_write(self.folder / f"live-{role}.png", lambda handle, picture=picture: picture.save(handle, "PNG"))
        self._save_state(self._state() | {"last": last})

    def last(self) -> LivePicture | None:
        """The last live picture as it was saved; None when there is none or it cannot be read (only a draft)."""
        last = self._state().get("last")
        if not isinstance(last, dict):
            return None
        try:
            parent = last["parent"]
            pictures = {name: self.folder / file for name, file in _PICTURES.items()}
            mask = open_picture(pictures["mask"], "live mask") if pictures["mask"].is_file() else None
            return LivePicture(
                picture=open_picture(pictures["picture"], "live picture"),
                recipe=Recipe.from_dict(last["recipe"]),
                action=Action(last["action"]),
                canvas=open_picture(pictures["canvas"], "live canvas"),
                mask=mask,
                parent=(str(parent["node"]), int(parent["index"])) if parent else None,
                sources=dict(last.get("sources") or {}),
                seconds=float(last["seconds"]),
                steps=int(last["steps"]),
                control_maps={
                    str(role): open_picture(self.folder / f"live-{role}.png", "live control map")
                    for role in last.get("control_maps") or []
                    if str(role).startswith("control-") and str(role)[8:].isdigit()
                },
            )
        except (KeyError, TypeError, ValueError):
            return None

    def last_fingerprint(self) -> str | None:
        """The last live run's fingerprint, read without decoding its pictures."""
        last = self._state().get("last")
        return last.get("fingerprint") if isinstance(last, dict) else None

    def kept_as(self, live: LivePicture) -> str | None:
        """The node `live` became if it was kept: the same recipe on the same canvas and mask, kept once."""
        try:
            kept = json.loads((self.folder / _KEPT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(kept, dict) or kept.get("schema_version") != SCHEMA_VERSION:
            return None
        return str(kept["node"]) if kept.get("run") == live.fingerprint and kept.get("node") else None

    def mark_kept(self, live: LivePicture, node_id: str) -> None:
        record = {"schema_version": SCHEMA_VERSION, "run": live.fingerprint, "node": node_id}
        atomic_write_text(self.folder / _KEPT, json.dumps(record))

    def picture_path(self) -> Path | None:
        """The last live picture's file, when there is a last run (read from live.json, no picture decoded)."""
        path = self.folder / _PICTURES["picture"]
        return path if path.is_file() and isinstance(self._state().get("last"), dict) else None

    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.folder / _STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            return {}
        return data

    def _save_state(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / _STATE, json.dumps(data | {"schema_version": SCHEMA_VERSION}))
