"""Read back how any picture was made: ours, A1111/Forge, ComfyUI, or EXIF UserComment in JPEG/WebP."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image

from studio.authorship.outside import OutsideCloseness
from studio.errors import InputError
from studio.formats import a1111, adetailer, comfyui, png_text
from studio.formats.a1111 import IP_ADAPTER_MODULE
from studio.formats.adetailer import FixSettings
from studio.formats.unit_text import AreaWords, UnitSettings, read_units
from studio.history import Iteration
from studio.recipe import Recipe, RecipeError

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286


class Source(StrEnum):
    STUDIO = "this studio"
    A1111 = "AUTOMATIC1111 / Forge"
    COMFYUI = "ComfyUI"
    NONE = "no metadata"


@dataclass(frozen=True)
class PictureInfo:
    """What a picture says: recipe fields to apply, what we keep but do not apply, and our node if ours."""

    source: Source
    changes: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    node: Iteration | None = None
    session: str | None = None
    # Region-fix settings (ADetailer's passes, or our own fix's), for the Finish area.
    fix_passes: tuple[FixSettings, ...] = ()
    # The steering units' settings (control units, reference pictures) and the area prompts' words, for the
    # Control tab: the text holds no maps, pictures or painted areas.
    units: tuple[UnitSettings, ...] = ()
    areas: tuple[AreaWords, ...] = ()
    # Ours: the picture's closeness to each outside picture of its lineage, as its node recorded it.
    closeness: tuple[OutsideCloseness, ...] = ()

    def recipe(self, base: Recipe) -> Recipe:
        """`base` with every field the picture sets (all of them, for our own pictures)."""
        return base.updated(self.changes)


def read_picture_info(path: Path) -> PictureInfo:
    """Everything `path` says about how it was made. Raises ValueError if it is not a picture."""
    try:
        with Image.open(path) as image:
            texts = {key: value for key, value in image.info.items() if isinstance(key, str) and isinstance(value, str)}
            comment = _exif_user_comment(image)
    except Image.DecompressionBombError:
        raise InputError(
            f"{Path(path).name} is over {2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} million pixels: too large to open"
        ) from None
    except (OSError, SyntaxError) as error:
        raise InputError(f"{Path(path).name} is not a picture this studio can read ({error})") from None

    if png_text.STUDIO_KEY in texts:
        info = _ours(texts)
        if info:
            return info
    parameters = texts.get(png_text.PARAMETERS_KEY) or comment
    if parameters:
        parsed = a1111.parse_parameters(parameters)
        fix_passes, _ = adetailer.read_passes(parsed.fields)  # applied to the Finish area, not the form
        changes, unknown = a1111.recipe_changes(parsed)
        units, areas, used = read_units(parsed.fields)
        kept = {key: value for key, value in unknown.items() if key not in used}
        return PictureInfo(
            Source.A1111, changes, kept | _other_texts(texts), fix_passes=tuple(fix_passes), units=units, areas=areas
        )
    for key, reader in (("prompt", comfyui.from_prompt_graph), ("workflow", comfyui.from_workflow)):
        if key in texts:
            try:
                changes, unknown = reader(json.loads(texts[key]))
            except (ValueError, TypeError, AttributeError):
                continue
            return PictureInfo(Source.COMFYUI, changes, unknown | _other_texts(texts, key))
    return PictureInfo(Source.NONE, {}, _other_texts(texts))


def _ours(texts: dict[str, str]) -> PictureInfo | None:
    try:
        data = json.loads(texts[png_text.STUDIO_KEY])
        node = Iteration.from_dict(data["node"])
    except (ValueError, KeyError, TypeError, RecipeError):
        return None
    index = data.get("output_index", 0)
    known = isinstance(index, int) and 0 <= index < len(node.outputs)
    recipe = node.recipe_of(index) if known else node.recipe
    closeness = node.closeness[index] if known and node.closeness else ()
    changes = recipe.to_dict()
    changes.pop("schema_version")
    return PictureInfo(
        Source.STUDIO,
        changes,
        {},
        node,
        data.get("session"),
        fix_passes=tuple(adetailer.passes(recipe.regions, recipe.controls)),
        units=_units_of(recipe),
        areas=tuple(AreaWords(n, area.prompt, area.weight) for n, area in enumerate(recipe.area_prompts, start=1)),
        closeness=tuple(OutsideCloseness.from_dict(entry) for entry in closeness),
    )


def _units_of(recipe: Recipe) -> tuple[UnitSettings, ...]:
    """A recipe's control units and references, as an A1111 text would give them (a fix's units are its own)."""
    controls = () if recipe.regions else recipe.controls
    units = [
        UnitSettings(
            n, c.preprocessor, c.model, c.weight, c.guidance_start, c.guidance_end, c.control_mode, kind=c.kind
        )
        for n, c in enumerate(controls)
    ]
    units += [
        UnitSettings(len(units) + n, IP_ADAPTER_MODULE, r.model, r.weight, r.guidance_start, r.guidance_end)
        for n, r in enumerate(recipe.references)
    ]
    return tuple(units)


def _other_texts(texts: dict[str, str], *skip: str) -> dict[str, str]:
    known = {png_text.STUDIO_KEY, png_text.PARAMETERS_KEY, "prompt", "workflow", *skip}
    return {f"text: {key}": value for key, value in texts.items() if key not in known}


def _exif_user_comment(image: Image.Image) -> str | None:
    """A1111 writes JPEG/WebP parameters as EXIF UserComment: an 8-byte charset code, then the text."""
    try:
        raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except (AttributeError, KeyError, OSError, ValueError):
        return None
    if isinstance(raw, str):
        return raw or None
    if not isinstance(raw, bytes) or len(raw) <= 8:
        return None
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        # piexif writes UTF-16 big-endian; some tools write little-endian. ASCII text shows which.
        encoding = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        return body.decode(encoding, errors="replace").rstrip("\x00") or None
    return body.decode("utf-8", errors="replace").rstrip("\x00") or None
