"""Outpainting: a picture on a larger canvas, and the mask of the new area, ready for an inpaint.

The new area starts as the picture's border colours carried outwards and heavily blurred (a soft
continuation, not streaks), so that even a moderate change strength paints into plausible colour.
The mask is white exactly over the new area: the inpaint's mask blur blends the seam, and every
pixel of the picture outside that blur comes back untouched, as in any inpaint. Pure: PIL and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from studio.errors import InputError
from studio.recipe import MAX_SIDE

MAX_EXTENSION = 1024  # pixels on one side in one step
_FILL_BLUR = 24


@dataclass(frozen=True)
class Extension:
    """How many pixels the canvas grows by on each side."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    def check(self, size: tuple[int, int]) -> None:
        """ValueError, saying what to do, for amounts that cannot be outpainted."""
        for side in ("left", "top", "right", "bottom"):
            value = getattr(self, side)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EXTENSION:
                raise InputError(f"outpaint: {side} is {value!r}; extend each side by 0 to {MAX_EXTENSION} pixels")
        if not any((self.left, self.top, self.right, self.bottom)):
            raise InputError("outpaint: every side is 0; say how many pixels to add on at least one side")
        width, height = self.canvas_size(size)
        if max(width, height) > MAX_SIDE:
            raise InputError(
                f"outpaint: the canvas would be {width}x{height}; the studio renders sides up to {MAX_SIDE} pixels"
            )

    def canvas_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return size[0] + self.left + self.right, size[1] + self.top + self.bottom


def outpaint_canvas(picture: Image.Image, extension: Extension) -> tuple[Image.Image, Image.Image]:
    """(canvas, mask): the picture at its place on the larger canvas, and white where the canvas is new."""
    extension.check(picture.size)
    rgb = np.asarray(picture.convert("RGB"))
    padding = ((extension.top, extension.bottom), (extension.left, extension.right), (0, 0))
    carried = Image.fromarray(np.pad(rgb, padding, mode="edge"))
    canvas = carried.filter(ImageFilter.GaussianBlur(_FILL_BLUR))
    canvas.paste(picture.convert("RGB"), (extension.left, extension.top))
    mask = Image.new("L", canvas.size, 255)
    mask.paste(0, (extension.left, extension.top, extension.left + picture.width, extension.top + picture.height))
    return canvas, mask
