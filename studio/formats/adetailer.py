"""ADetailer's fields in A1111's `parameters` text, both ways, for region fixes.

ADetailer (Bing-su/adetailer, `adetailer/args.py`) writes one group of fields per detection pass ("tab"):
`ADetailer model`, `ADetailer prompt`, `ADetailer denoising strength`, ..., the second pass with the
suffix " 2nd", the third " 3rd", and so on. A studio fix is a list of reviewed regions; consecutive
regions that share a detector and settings are one pass. A pass's model is the detector and what it
found ("openpose_face"), or how the artist marked it ("box", "brush"). Reading gives the settings of
each pass, to fill the Finish area; which pixels a pass covered is in the studio's own JSON only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.recipe import ControlRef, RegionRef

VERSION = "studio"  # what "ADetailer version" says, so nobody mistakes it for the extension's own run


@dataclass(frozen=True)
class FixSettings:
    """A detection pass's settings: what to find, and how each found region is re-rendered."""

    model: str  # "openpose_face", "face_yolov8n.pt", "box", ...
    prompt: str = ""
    negative_prompt: str = ""
    denoising_strength: float = 0.4
    mask_blur: int = 4
    padding: int = 32
    grow: int = 4  # ADetailer's "dilate erode": pixels added round each found region (negative: removed)
    structure: float = 0.0  # the tile ControlNet's weight ("keep structure"); 0: none

    @property
    def label(self) -> str:
        """What the pass fixes, in the studio's words: face, hand, or a marked box."""
        name = self.model.lower()
        return "face" if "face" in name else "hand" if "hand" in name else "box"


def suffix(index: int) -> str:
    """ADetailer's suffix for pass `index` (0-based): "", " 2nd", " 3rd", " 4th", ..."""
    if index == 0:
        return ""
    number = index + 1
    ending = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f" {number}{ending}"


def model_name(region: RegionRef) -> str:
    return f"{region.found_by}_{region.label}" if region.found_by else region.label


def passes(regions: tuple[RegionRef, ...], controls: tuple[ControlRef, ...] = ()) -> list[FixSettings]:
    """The regions as ADetailer passes: consecutive regions with the same detector and settings are one."""
    structure = next((unit.weight for unit in controls if unit.kind == "tile"), 0.0)
    found: list[FixSettings] = []
    for region in regions:
        settings = FixSettings(
            model_name(region),
            region.prompt,
            region.negative_prompt,
            region.denoising_strength,
            region.mask_blur,
            region.padding,
            grow=0,  # the studio's boxes are the reviewed, already grown ones
            structure=structure,
        )
        if not found or found[-1] != settings:
            found.append(settings)
    return found


def format_fields(regions: tuple[RegionRef, ...], controls: tuple[ControlRef, ...] = ()) -> list[tuple[str, Any]]:
    """ADetailer's fields for a fix of `regions` (under `controls`' tile unit), in ADetailer's order and omissions."""
    fields: list[tuple[str, Any]] = []
    tile = next((unit for unit in controls if unit.kind == "tile"), None)
    for index, settings in enumerate(passes(regions, controls)):
        end = suffix(index)
        fields.append((f"ADetailer model{end}", settings.model))
        if settings.prompt:
            fields.append((f"ADetailer prompt{end}", settings.prompt))
        if settings.negative_prompt:
            fields.append((f"ADetailer negative prompt{end}", settings.negative_prompt))
        fields += [
            (f"ADetailer dilate erode{end}", settings.grow),
            (f"ADetailer mask blur{end}", settings.mask_blur),
            (f"ADetailer denoising strength{end}", _number(settings.denoising_strength)),
            (f"ADetailer inpaint only masked{end}", "True"),
            (f"ADetailer inpaint padding{end}", settings.padding),
        ]
        if tile is not None:
            fields += [
                (f"ADetailer ControlNet model{end}", tile.model.rsplit("/", 1)[-1]),
                (f"ADetailer ControlNet module{end}", tile.preprocessor),
                (f"ADetailer ControlNet weight{end}", _number(tile.weight)),
            ]
    if fields:
        fields.append(("ADetailer version", VERSION))
    return fields


def read_passes(fields: dict[str, str]) -> tuple[list[FixSettings], dict[str, str]]:
    """The ADetailer passes a text's fields hold, and those fields' raw values (taken out of `fields`).

    A value that is not a number where one belongs leaves that pass out; its fields stay in the raw values.
    """
    taken = {key: fields.pop(key) for key in list(fields) if key.startswith("ADetailer ")}
    found: list[FixSettings] = []
    index = 0
    while f"ADetailer model{suffix(index)}" in taken:
        end = suffix(index)
        index += 1
        try:
            found.append(
                FixSettings(
                    taken[f"ADetailer model{end}"],
                    taken.get(f"ADetailer prompt{end}", ""),
                    taken.get(f"ADetailer negative prompt{end}", ""),
                    float(taken.get(f"ADetailer denoising strength{end}", "0.4")),
                    int(taken.get(f"ADetailer mask blur{end}", "4")),
                    int(taken.get(f"ADetailer inpaint padding{end}", "32")),
                    int(taken.get(f"ADetailer dilate erode{end}", "4")),
                    _structure(taken, end),
                )
            )
        except ValueError:
            continue
    return found, taken


def _structure(taken: dict[str, str], end: str) -> float:
    """A pass's tile ControlNet weight ("keep structure"); 0 when it ran no tile ControlNet."""
    model = taken.get(f"ADetailer ControlNet model{end}", "None")
    if "tile" not in model.lower():
        return 0.0
    return float(taken.get(f"ADetailer ControlNet weight{end}", "1"))


def _number(value: float) -> str:
    return f"{value:g}"
