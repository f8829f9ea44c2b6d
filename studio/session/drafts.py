"""Work in progress that is not a node yet: the editor's picture and layers, the control maps, and the Control tab's
reference pictures and painted areas.

Kept in the session's `draft/` folder as it changes, so a reload (or a restart) brings it back as the
artist left it. Never part of the tree: the history reads only the session folder's own PNGs.

    draft/editor.json   {"schema_version": 1, "source": {"node": "00003", "index": 0} | {"upload": true},
                         "picture": "editor-picture.png" | null, "mask": "editor-mask.png" | null,
                         "paint": "editor-paint.png" | null, "uploaded_from": "<upload path>" | null}
    draft/control-1.png ... the map of each control unit
    draft/region-1.png ...  the strokes of each region painted on the Finish board (white where painted)
    draft/reference-1.png, draft/reference-1-area.png, draft/area-1.png ...  the Control tab's reference pictures,
                        their areas, and the areas of the area prompts (white where they steer)
    draft/form.json     {"schema_version": 1, "values": {"form.prompt": "...", "unit1.kind": "seg", ...}}
    draft/aside/<picture>/editor.json ...  unsent mask and paint of a picture another replaced in the editor
                        (<picture>: "00003-0" for a node's picture, "upload" for an upload), as the editor's
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image

from studio.errors import InputError
from studio.files import atomic_write, atomic_write_text
from studio.pictures import open_picture
from studio.recipe import RegionRef

SCHEMA_VERSION = 1
# "reference-1" (its picture), "reference-1-area" (where it steers), "area-1" (an area prompt's area)
STEERING = re.compile(r"(reference-\d+(-area)?|area-\d+)")
FOLDER = "draft"
_ASIDE = "aside"
_EDITOR = "editor.json"
_FORM = "form.json"


@dataclass(frozen=True)
class EditorDraft:
    source: dict[str, Any]  # {"node": id, "index": i}, or {"upload": True} for a picture kept in the draft
    picture: Path | None  # an uploaded picture's copy; None for a node's picture (it is in the tree)
    mask: Path | None
    paint: Path | None
    uploaded_from: str | None  # the upload the copy was made from (so a stroke does not copy it again)


class Drafts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # --- the editor ---------------------------------------------------------------------------

    def save_editor(
        self,
        source: dict[str, Any],
        *,
        mask: Image.Image | None,
        paint: Image.Image | None,
        upload: Path | Image.Image | None = None,
    ) -> None:
        """Keep the editor's picture (an upload is copied here once; a picture given as such is written) and its
        layers."""
        kept = self.editor()
        picture = None
        uploaded_from = None
        if isinstance(upload, Image.Image):
            picture = self.folder / "editor-picture.png"
            _write_png(upload, picture)
        elif upload is not None:
            uploaded_from = str(upload)
            picture = self.folder / "editor-picture.png"
            if kept is None or kept.uploaded_from != uploaded_from or kept.picture is None:
                _write_png(Image.open(upload), picture)
        elif "upload" in source and kept is not None and kept.picture is not None:
            picture, uploaded_from = kept.picture, kept.uploaded_from  # the kept upload, edited further
        layers = {}
        for name, layer in (("mask", mask), ("paint", paint)):
            path = self.folder / f"editor-{name}.png"
            if layer is None:
                path.unlink(missing_ok=True)
                layers[name] = None
            else:
                _write_png(layer, path)
                layers[name] = path.name
        atomic_write_text(
            self.folder / _EDITOR,
            json.dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "source": {"upload": True} if picture is not None else source,
                    "picture": picture.name if picture is not None else None,
                    **layers,
                    "uploaded_from": uploaded_from,
                }
            ),
        )

    def editor(self) -> EditorDraft | None:
        """The editor as it was left; None when there is none, or it cannot be read (it is only a draft)."""
        try:
            data = json.loads((self.folder / _EDITOR).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            return None
        source = data.get("source")
        if not isinstance(source, dict):
            return None
        files = {name: self._file(data.get(name)) for name in ("picture", "mask", "paint")}
        if source.get("upload") and files["picture"] is None:
            return None
        uploaded_from = data.get("uploaded_from")
        return EditorDraft(
            source, files["picture"], files["mask"], files["paint"], uploaded_from if uploaded_from else None
        )

    # --- work set aside in the editor ----------------------------------------------------------

    def aside(self, source: dict[str, Any]) -> Drafts:
        """Where the editor's unsent work on picture `source` is kept while another picture is edited."""
        if "upload" in source:
            return Drafts(self.folder / _ASIDE / "upload")
        node, index = str(source.get("node")), source.get("index")
        if not node.isdigit() or not isinstance(index, int):
            raise InputError(f"editor: no such picture {source!r}; send the picture to the editor again")
        return Drafts(self.folder / _ASIDE / f"{node}-{index}")

    def set_aside(self) -> list[EditorDraft]:
        """The work kept aside, newest first."""
        kept = [
            (path.stat().st_mtime, draft)
            for path in (self.folder / _ASIDE).glob(f"*/{_EDITOR}")
            if (draft := Drafts(path.parent).editor()) is not None
        ]
        return [draft for _, draft in sorted(kept, key=lambda pair: pair[0], reverse=True)]

    def discard(self) -> None:
        """Forget this draft folder (work set aside, once it is back in the editor)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- the form ------------------------------------------------------------------------------

    def save_form(self, values: dict[str, Any]) -> None:
        """The window's form by widget name (plain JSON values), written before the window is answered."""
        atomic_write_text(self.folder / _FORM, json.dumps({"schema_version": SCHEMA_VERSION, "values": values}))

    def form(self) -> dict[str, Any]:
        """The form as it was left; {} when there is none or it cannot be read."""
        try:
            data = json.loads((self.folder / _FORM).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            return {}
        values = data.get("values")
        return values if isinstance(values, dict) else {}

    # --- control maps --------------------------------------------------------------------------

    def save_map(self, unit: int, picture: Image.Image | None) -> None:
        path = self.folder / f"control-{int(unit)}.png"
        if picture is None:
            path.unlink(missing_ok=True)
        else:
            _write_png(picture, path)

    def map(self, unit: int) -> Path | None:
        return self._file(f"control-{int(unit)}.png")

    # --- reference pictures and painted areas (the Control tab) ----------------------------------

    def save_steering(self, name: str, picture: Image.Image | None) -> None:
        """Keep (or, given None, forget) a reference picture or a painted area: `name` as STEERING names them."""
        path = self.folder / f"{_steering_name(name)}.png"
        if picture is None:
            path.unlink(missing_ok=True)
        else:
            _write_png(picture, path)

    def steering(self, name: str) -> Image.Image | None:
        """A kept reference picture or area, read whole; None when there is none or it cannot be read (a draft
        is only a draft: the page opens without it)."""
        path = self._file(f"{_steering_name(name)}.png")
        if path is None:
            return None
        try:
            return open_picture(path, "kept reference or area")
        except ValueError:
            return None

    # --- painted regions (the Finish board) -------------------------------------------------------

    def save_region_mask(self, mask: Image.Image) -> int:
        """Keep a painted region's strokes; returns its number (one more than the last kept)."""
        taken = [int(path.stem.split("-")[1]) for path in self.folder.glob("region-*.png") if path.stem[7:].isdigit()]
        number = max(taken, default=0) + 1
        _write_png(mask.convert("L"), self.folder / f"region-{number}.png")
        return number

    def region_mask(self, number: int) -> Path | None:
        return self._file(f"region-{int(number)}.png")

    def painted_masks(self, regions: Iterable[RegionRef]) -> dict[str, Image.Image]:
        """The strokes of each brush region, by the role its `mask` names (read whole, the file closed)."""
        masks = {}
        for region in regions:
            if region.mask:
                path = self._file(f"{region.mask}.png")
                if path is None:
                    raise InputError(
                        f"painted mask {region.mask!r} is missing: its strokes are gone; paint the region again on the board"
                    )
                masks[region.mask] = open_picture(path, "painted region").convert("L")
        return masks

    def _file(self, name: object) -> Path | None:
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = self.folder / name
        return path if path.is_file() else None


def _steering_name(name: str) -> str:
    if not STEERING.fullmatch(name):
        raise ValueError(f"not a reference or area draft: {name!r}")
    return name


def _write_png(picture: Image.Image, path: Path) -> None:
    def write(handle: IO[bytes]) -> None:
        picture.save(handle, format="PNG")

    atomic_write(path, write)
