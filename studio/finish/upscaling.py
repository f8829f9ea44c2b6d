"""Enlarging pictures: sizes, Lanczos, and the tiles that upscaler models and SD upscale work in. Pure: PIL, numpy.

Two kinds of tiles. An upscaler model sees each tile with a margin of context around it and keeps
only the tile's own part of its output, so tiles agree with an untiled run wherever the margin covers
the network's reach (the test states the tolerance). SD upscale repaints overlapping tiles, which
never agree exactly, so their overlaps are cross-faded with linear ramps: no seam, no hard edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from studio.errors import InputError
from studio.recipe import MAX_SIDE

Box = tuple[int, int, int, int]  # left, top, right, bottom


def upscaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """A1111's rounding: each side times the factor, to whole pixels. ValueError beyond the largest picture."""
    width, height = (round(side * factor) for side in size)
    if max(width, height) > MAX_SIDE * 2:
        raise InputError(
            f"upscale: {size[0]}x{size[1]} times {factor:g} is {width}x{height}; "
            f"the studio keeps pictures up to {MAX_SIDE * 2} pixels a side: choose a smaller factor"
        )
    return width, height


def lanczos(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    return picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]  # the last tile ends at the edge, so no tile is smaller than the others


def tile_boxes(size: tuple[int, int], tile: tuple[int, int], overlap: int = 0) -> list[Box]:
    """Tiles of at most `tile` (width, height) covering a picture of `size`, neighbours overlapping by `overlap` or more."""
    tile_width, tile_height = tile
    if min(tile_width, tile_height) <= overlap:
        raise InputError(f"tiles of {tile_width}x{tile_height} pixels cannot overlap by {overlap}")
    width, height = size
    return [
        (left, top, min(width, left + tile_width), min(height, top + tile_height))
        for top in _starts(height, tile_height, tile_height - overlap)
        for left in _starts(width, tile_width, tile_width - overlap)
    ]


@dataclass(frozen=True)
class ModelTile:
    """One tile of an upscaler model's run: what it reads (with context) and which part of its output is kept."""

    read: Box  # the tile grown by the margin, in source pixels
    keep: Box  # the tile itself, in source pixels

    def kept_part(self, scale: int) -> Box:
        """The tile's own part of the model's output (the output of `read`, `scale` times larger)."""
        left, top = self.keep[0] - self.read[0], self.keep[1] - self.read[1]
        return (
            left * scale,
            top * scale,
            (left + self.keep[2] - self.keep[0]) * scale,
            (top + self.keep[3] - self.keep[1]) * scale,
        )


def model_tiles(size: tuple[int, int], tile: int, margin: int) -> Iterator[ModelTile]:
    """Tiles that partition the picture (no overlap), each read with `margin` pixels of context around it."""
    width, height = size
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            keep = (left, top, min(width, left + tile), min(height, top + tile))
            read = (
                max(0, keep[0] - margin),
                max(0, keep[1] - margin),
                min(width, keep[2] + margin),
                min(height, keep[3] + margin),
            )
            yield ModelTile(read, keep)


def ramp_weights(box: Box, size: tuple[int, int], overlap: int) -> np.ndarray:
    """A tile's blending weights: 1 inside, rising linearly across `overlap` pixels on each side it shares."""
    left, top, right, bottom = box
    width, height = size

    def ramp(length: int, rises_at_start: bool, rises_at_end: bool) -> np.ndarray:
        weights = np.ones(length, dtype=np.float64)
        span = min(overlap, length // 2)
        if span:
            rise = (np.arange(span, dtype=np.float64) + 1) / (span + 1)
            if rises_at_start:
                weights[:span] = rise
            if rises_at_end:
                weights[-span:] = rise[::-1]
        return weights

    across = ramp(right - left, left > 0, right < width)
    down = ramp(bottom - top, top > 0, bottom < height)
    return down[:, None] * across[None, :]


class Blender:
    """Accumulates overlapping tiles with their weights; `picture()` is their weighted average."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._sum = np.zeros((size[1], size[0], 3), dtype=np.float64)
        self._weight = np.zeros((size[1], size[0], 1), dtype=np.float64)

    def add(self, tile: Image.Image, box: Box, weights: np.ndarray) -> None:
        left, top, right, bottom = box
        pixels = np.asarray(tile.convert("RGB"), dtype=np.float64)
        self._sum[top:bottom, left:right] += pixels * weights[:, :, None]
        self._weight[top:bottom, left:right] += weights[:, :, None]

    def picture(self) -> Image.Image:
        if (self._weight == 0).any():
            raise RuntimeError("blender: some pixels are covered by no tile")
        average = np.rint(self._sum / self._weight).clip(0, 255).astype(np.uint8)
        return Image.fromarray(average, "RGB")
