"""Hand-made control maps: blank canvases, strokes in exact colours, and cleaning what a browser painted.

A segmentation map is a set of class colours; a browser's brush antialiases its edges, and each blended
edge pixel would be a colour (a class) nobody painted. `clean_semantic_map` snaps every pixel back to
the classes the artist used. Scribbles become pure white on black, the way the scribble model saw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from studio.control import ade20k
from studio.control.catalogue import KINDS

Colour = tuple[int, int, int]

# A class counts as painted when it covers this share of the map exactly; edge blends never do.
_PAINTED_SHARE = 0.002


def blank_map(kind: str, size: tuple[int, int]) -> Image.Image:
    """The canvas a hand-made map of `kind` starts from (a wall-grey semantic map, black otherwise)."""
    return Image.new("RGB", size, KINDS[kind].blank)


def paint_stroke(canvas: Image.Image, points: Sequence[tuple[int, int]], colour: Colour, width: int) -> Image.Image:
    """A copy of `canvas` with a hard-edged stroke through `points`: only `colour`, no blended pixels."""
    painted = canvas.convert("RGB").copy()
    draw = ImageDraw.Draw(painted)  # PIL draws without antialiasing
    radius = width / 2
    if len(points) > 1:
        draw.line(list(points), fill=colour, width=width)
    for x, y in points:  # round caps and joins
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return painted


def fill_area(canvas: Image.Image, box: tuple[int, int, int, int], colour: Colour) -> Image.Image:
    """A copy of `canvas` with the rectangle `box` (left, top, right, bottom) filled with `colour`."""
    filled = canvas.convert("RGB").copy()
    ImageDraw.Draw(filled).rectangle(box, fill=colour)
    return filled


def painted_classes(semantic_map: Image.Image) -> list[ade20k.SemanticClass]:
    """The ADE20K classes that cover a real part of the map, largest first."""
    pixels = np.asarray(semantic_map.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    by_colour = {c.colour: c for c in reversed(ade20k.CLASSES)}  # road before skyscraper, which shares its colour
    minimum = max(1, int(_PAINTED_SHARE * len(pixels)))
    found = [
        (count, by_colour[(int(colour[0]), int(colour[1]), int(colour[2]))])
        for colour, count in zip(colours, counts, strict=True)
        if count >= minimum and (int(colour[0]), int(colour[1]), int(colour[2])) in by_colour
    ]
    return [semantic_class for _, semantic_class in sorted(found, key=lambda pair: -pair[0])]


def clean_semantic_map(semantic_map: Image.Image) -> Image.Image:
    """Every pixel snapped to the nearest colour among the classes painted (wall if none is)."""
    classes = painted_classes(semantic_map) or [ade20k.CLASSES[0]]
    return snap_to_colours(semantic_map, [c.colour for c in classes])


def snap_to_colours(picture: Image.Image, colours: Sequence[Colour]) -> Image.Image:
    """Every pixel replaced by the nearest of `colours` (one pass per colour, so big maps stay small in memory)."""
    pixels = np.asarray(picture.convert("RGB")).astype(np.int32)
    palette = np.array(colours, dtype=np.int32)
    best = np.full(pixels.shape[:2], np.iinfo(np.int32).max)
    choice = np.zeros(pixels.shape[:2], dtype=np.int64)
    for index, colour in enumerate(palette):
        distance = ((pixels - colour) ** 2).sum(axis=2)
        closer = distance < best
        best[closer], choice[closer] = distance[closer], index
    return Image.fromarray(palette[choice].astype(np.uint8))


def clean_scribble(scribble: Image.Image) -> Image.Image:
    """Lines as pure white on black; a drawing on light paper (dark lines) is inverted first."""
    grey = np.asarray(scribble.convert("L"))
    if grey.mean() > 127:  # mostly light: dark lines on paper
        grey = 255 - grey
    return Image.fromarray(np.where(grey > 127, 255, 0).astype(np.uint8)).convert("RGB")
