"""Reference pictures without torch: the IP-Adapter folder's files, and the window's reference units as recipe parts.

An ipadapter folder holds adapter files (`.safetensors`, or a pickled `.bin`) beside an `image_encoder/` folder with
the CLIP vision encoder they were trained with (studio/engine/references.py loads them). Face references (IP-Adapter
FaceID) read a face's identity instead, which insightface finds with its buffalo_l models in `insightface/models/`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from studio.errors import InputError
from studio.recipe import ReferenceKind, ReferenceRef

SAFE_SUFFIXES = (".safetensors",)
PICKLED_SUFFIXES = (".bin",)
IMAGE_ENCODER = "image_encoder"
FACE_MODELS = Path("insightface", "models", "buffalo_l")  # insightface's root, then its model pack, in the folder


def list_adapters(folder: Path | None) -> list[Path]:
    """Every adapter file in the folder and its sub-folders (the encoders' own files aside)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in SAFE_SUFFIXES + PICKLED_SUFFIXES
        and IMAGE_ENCODER not in path.parts
    )


@dataclass(frozen=True)
class ReferenceLibrary:
    """The IP-Adapter folder (None: a studio without one), as the window lists it."""

    folder: Path | None = None

    def names(self) -> list[str]:
        return [path.name for path in list_adapters(self.folder)]

    def first_choice(self) -> str | None:
        """The adapter a new reference unit starts with: the first that reads pictures (its kind's default)."""
        names = self.names()
        return next((name for name in names if not is_face_adapter(name)), names[0] if names else None)

    def face_refusal(self) -> str | None:
        """Why a Face reference cannot run in this studio (None: it can)."""
        return face_refusal(self.folder)


def is_face_adapter(name: str) -> bool:
    """Whether an adapter's name says it reads faces (h94's ip-adapter-faceid_* files), as sd-webui-controlnet
    tells them apart."""
    return "faceid" in name.lower().replace("-", "").replace("_", "")


def kind_for(adapter: str, kind: str) -> str:
    """The kind that fits an adapter the artist chose: Face for a FaceID adapter; a Face unit given an adapter that
    reads pictures goes back to Style and content; otherwise the kind as it was."""
    if is_face_adapter(adapter):
        return ReferenceKind.FACE.value
    return ReferenceKind.STYLE_CONTENT.value if kind == ReferenceKind.FACE.value else kind


def face_refusal(folder: Path | None) -> str | None:
    """Why a Face reference (IP-Adapter FaceID) cannot run with this ipadapter folder, in words that say what to
    do; None when insightface and its face models are there. insightface would download its models on first use,
    which this studio never lets it do."""
    pack = (folder or Path("ipadapter")) / FACE_MODELS
    if importlib.util.find_spec("insightface") is None:
        return (
            "a Face reference (IP-Adapter FaceID) reads the face with insightface, which this studio was installed "
            f"without: `pip install insightface onnxruntime`, put its buffalo_l face models in {pack} "
            "(ipadapter/README.md says how), then restart the studio; or choose an adapter that reads pictures and "
            "give it a picture of the face, lending Style and content"
        )
    if not pack.is_dir() or not any(pack.glob("*.onnx")):
        return (
            f"a Face reference needs insightface's buffalo_l face models (its .onnx files) in {pack}; "
            "copy them there from ~/.insightface/models/buffalo_l (ipadapter/README.md says how)"
        )
    return None


def reference_problem(adapter: str, kind: str, faces_ready: bool) -> str | None:
    """Why a reference unit set like this cannot run, in a few words (None: it can, as far as its settings say;
    the engine checks the loaded file itself)."""
    if not adapter:
        return None
    face_kind = kind == ReferenceKind.FACE.value
    if is_face_adapter(adapter) and not face_kind:
        return "a FaceID adapter reads a face: set It lends to Face"
    if face_kind and not is_face_adapter(adapter):
        return f"{adapter} reads whole pictures: a Face reference needs a FaceID adapter (ip-adapter-faceid_*)"
    if face_kind and not faces_ready:
        return "needs insightface and its face models (ipadapter/README.md)"
    return None


def reference_advice(adapter: str, kind: str, refusal: str | None) -> str:
    """The line under a reference unit: why it cannot run as set and what to do (empty when nothing stands in its
    way). `refusal`: face_refusal's answer for this studio."""
    problem = reference_problem(adapter, kind, refusal is None)
    if problem is None:
        return ""
    if kind == ReferenceKind.FACE.value and is_face_adapter(adapter) and refusal is not None:
        problem = refusal[0].upper() + refusal[1:]
    return f"**This reference cannot run:** {problem}."


def adapters_info(names: list[str], folder: Path | None) -> str:
    """The adapter list's help line: where its files come from, or what to do when there are none."""
    if folder is None:
        return "This studio was started without an IP-Adapter folder (python launch.py --ipadapter PATH)"
    if not names:
        return f"None yet: put IP-Adapter files in {folder} (its README.md says which)"
    return f"The files in {folder}; a FaceID one (ip-adapter-faceid_*) lends a face"


def reference_role(number: int) -> str:
    return f"reference-{number}"


@dataclass(frozen=True)
class ReferenceValues:
    """One reference unit of the window, as the artist set it."""

    enabled: bool
    picture: Image.Image | None
    model: str
    kind: str
    weight: float
    guidance_start: float
    guidance_end: float
    mask: Image.Image | None  # white where it steers; None: the whole picture
    origin: str = ""
    licence: str = ""


def build_references(
    units: Sequence[ReferenceValues],
) -> tuple[tuple[ReferenceRef, ...], dict[str, Image.Image], dict[str, dict[str, str]]]:
    """The enabled units as recipe entries, their pictures and masks by role, and what the artist said of each
    picture. InputError names the unit at fault."""
    references: list[ReferenceRef] = []
    pictures: dict[str, Image.Image] = {}
    sources: dict[str, dict[str, str]] = {}
    for number, unit in enumerate(units, start=1):
        if not unit.enabled:
            continue
        if unit.picture is None:
            raise InputError(f"reference {number}: it has no picture yet; upload one, or switch the reference off")
        if not unit.model.strip():
            raise InputError(
                f"reference {number}: choose an IP-Adapter (put its files in the ipadapter folder, see ipadapter/README.md)"
            )
        role = reference_role(len(references) + 1)
        pictures[role] = unit.picture.convert("RGB")  # the picture first, then its area (as History shows them)
        mask_role = ""
        if unit.mask is not None:
            area = unit.mask.convert("L").point([0] * 128 + [255] * 128)
            if not area.getbbox():
                raise InputError(
                    f"reference {number}: its area is blank; paint white where it steers, or press "
                    "'Clear the area' to let it steer the whole picture"
                )
            mask_role = f"{role}-mask"
            pictures[mask_role] = area
        references.append(
            ReferenceRef(
                model=unit.model.strip(),
                image=role,
                weight=float(unit.weight),
                guidance_start=float(unit.guidance_start),
                guidance_end=float(unit.guidance_end),
                kind=ReferenceKind(unit.kind),
                mask=mask_role,
            )
        )
        sources[role] = {"origin": unit.origin.strip() or "unknown", "licence": unit.licence.strip() or "unknown"}
    return tuple(references), pictures, sources
