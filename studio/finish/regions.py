"""Regions of a picture to fix: boxes grown or shrunk, their masks, and how a fix is named. Pure: PIL and numpy.

A region is re-rendered alone ("only masked") and pasted back, so its mask decides which pixels may
change: the box itself, or the part of a painted mask inside the box. Outside the mask (and its blur)
the picture comes back byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from studio.errors import InputError
from studio.recipe import RegionRef

Box = tuple[int, int, int, int]  # left, top, right, bottom
MIN_REGION_SIDE = 8
# The detector that finds faces and hands (README, "Fixing hands and faces" says why this one).
FINDER = "openpose"


def clamp_box(box: Sequence[float], size: tuple[int, int]) -> Box:
    """`box` rounded to whole pixels and kept inside a picture of `size`. ValueError if nothing is left."""
    width, height = size
    left, top, right, bottom = (round(value) for value in box)
    left, right = sorted((max(0, min(width, left)), max(0, min(width, right))))
    top, bottom = sorted((max(0, min(height, top)), max(0, min(height, bottom))))
    if right - left < MIN_REGION_SIDE or bottom - top < MIN_REGION_SIDE:
        raise InputError(
            f"region: {left},{top} to {right},{bottom} is smaller than {MIN_REGION_SIDE} pixels on a side "
            f"inside the {width}x{height} picture; mark a larger area"
        )
    return left, top, right, bottom


def grown(box: Box, pixels: int, size: tuple[int, int]) -> Box:
    """`box` grown by `pixels` on every side (shrunk when negative), inside a picture of `size`."""
    left, top, right, bottom = box
    return clamp_box((left - pixels, top - pixels, right + pixels, bottom + pixels), size)


def region_mask(region: RegionRef, size: tuple[int, int], painted: Image.Image | None = None) -> Image.Image:
    """White where `region` may change: its box, or a painted mask's strokes inside the box."""
    mask = Image.new("L", size, 0)
    if painted is None:
        ImageDraw.Draw(mask).rectangle([region.box[0], region.box[1], region.box[2] - 1, region.box[3] - 1], fill=255)
        return mask
    strokes = np.asarray(painted.convert("L").resize(size, Image.Resampling.NEAREST)) > 127
    inside = np.zeros(strokes.shape, dtype=bool)
    left, top, right, bottom = region.box
    inside[top:bottom, left:right] = True
    return Image.fromarray(((strokes & inside) * 255).astype(np.uint8), "L")


def box_of_mask(mask: Image.Image) -> Box | None:
    """The bounding box of a mask's white pixels; None when it has none."""
    found = Image.fromarray(((np.asarray(mask.convert("L")) > 127) * 255).astype(np.uint8)).getbbox()
    return None if found is None else (found[0], found[1], found[2], found[3])


def painted_mask(data_url: str) -> Image.Image:
    """A painted region's strokes, sent by the board as a PNG data URL: white wherever any paint is."""
    import base64
    import binascii
    import io

    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise InputError("brush: the strokes did not arrive as a PNG; paint again")
    try:
        with Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :], validate=True))) as strokes:
            alpha = np.asarray(strokes.convert("RGBA"))[:, :, 3]
    except (binascii.Error, OSError, Image.DecompressionBombError):
        raise InputError("brush: the strokes could not be read; paint again") from None
    return Image.fromarray(((alpha > 0) * 255).astype(np.uint8), "L")


def fix_name(regions: Sequence[RegionRef]) -> str:
    """How the history names a fix: "fix hands", "fix face", "fix 3 regions"."""
    labels = {region.label for region in regions}
    if len(labels) == 1 and (label := labels.pop()) in ("face", "hand"):
        return f"fix {label}s" if len(regions) > 1 else f"fix {label}"
    return "fix region" if len(regions) == 1 else f"fix {len(regions)} regions"


def blurred_mask(mask: Image.Image, blur: int) -> Image.Image:
    """The mask as the inpaint blends with it: its edge feathered outwards by a Gaussian blur of `blur` pixels."""
    return mask.filter(ImageFilter.GaussianBlur(blur)) if blur else mask


def touched_area(regions: Sequence[RegionRef], masks: Sequence[Image.Image]) -> np.ndarray:
    """Where a fix of `regions` may change pixels: the union of their blurred masks; nothing else moves."""
    area = np.zeros(masks[0].size[::-1], dtype=bool)
    for region, mask in zip(regions, masks, strict=True):
        area |= np.asarray(blurred_mask(mask, region.mask_blur)) > 0
    return area


# The review table's columns in the Finish tab: one row per region, switched on or off by the artist.
REVIEW_COLUMNS: tuple[str, ...] = ("Use", "Kind", "Left", "Top", "Right", "Bottom", "Prompt", "Found by")
BY_HAND = "by hand"
PAINTED = "painted #"  # "Found by" of a brush region: its strokes are the board's painted mask of that number


def painted_number(found_by: object) -> int | None:
    """The painted mask a brush row names ("painted #3" -> 3); None for other rows."""
    text = str(found_by or "")
    return int(text[len(PAINTED) :]) if text.startswith(PAINTED) and text[len(PAINTED) :].isdigit() else None


def painted_role(number: int) -> str:
    """The name a painted mask takes among a fix node's inputs."""
    return f"region-{number}"


@dataclass(frozen=True)
class FixPlan:
    """The Finish tab's fix settings: the default prompts and how every region is re-rendered."""

    prompt: str = ""
    negative_prompt: str = ""
    denoising_strength: float = 0.4
    mask_blur: int = 4
    padding: int = 32
    grow: int = 4  # pixels added round every box (negative: taken off), as ADetailer's "dilate erode"


def review_row(label: str, box: Box, found_by: str = "") -> list:
    return [True, label, *box, "", found_by or BY_HAND]


def regions_from_rows(rows: Sequence[Sequence], plan: FixPlan, size: tuple[int, int]) -> tuple[RegionRef, ...]:
    """The regions a fix runs: the rows switched on, each box grown by `plan.grow`, with the plan's settings.

    ValueError, naming the row, for a row whose numbers are not a box inside the picture.
    """
    regions = []
    for number, row in enumerate(rows, start=1):
        use, label, left, top, right, bottom, prompt, found_by = (list(row) + [""] * 8)[:8]
        if not is_on(use):
            continue
        try:
            box = grown(clamp_box([float(v) for v in (left, top, right, bottom)], size), plan.grow, size)
        except (TypeError, ValueError) as error:
            raise InputError(f"region row {number}: {error}") from None
        label = str(label).strip().lower()
        painted = painted_number(found_by)
        if label == "brush" and painted is None:
            raise InputError(f"region row {number}: a brush region needs its strokes; paint it again on the board")
        regions.append(
            RegionRef(
                label if label in ("face", "hand", "brush") else "box",
                box,
                prompt=str(prompt or "").strip() or plan.prompt,
                negative_prompt=plan.negative_prompt,
                denoising_strength=plan.denoising_strength,
                mask_blur=plan.mask_blur,
                padding=plan.padding,
                mask=painted_role(painted) if label == "brush" and painted is not None else "",
                found_by="" if found_by in ("", BY_HAND, None) or painted is not None else str(found_by),
            )
        )
    return tuple(regions)


def is_on(value) -> bool:
    """A review row's Use cell switched on (a bool, or the text a table may give back)."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")
