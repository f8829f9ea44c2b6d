"""Pictures of any size made ready for the engine, and the results brought back to that size.

The model works on sides that are multiples of 8. A picture the artist made or uploaded is never
resized for that (a resize moves every pixel): it is extended at its right and bottom edges to the
next multiple of 8, rendered, and the result cropped back, so every pixel outside the area the
artist asked to change stays exactly as it was. Pure: PIL only.
"""

from __future__ import annotations

from PIL import Image

from studio.recipe import MAX_SIDE, MIN_SIDE

MULTIPLE = 8


def render_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size the model renders a picture of `size` at: each side up to a multiple of 8 (at least 64).

    Raises ValueError, with what to do, for a picture larger than the studio renders.
    """
    width, height = size
    if max(width, height) > MAX_SIDE:
        raise ValueError(
            f"image: the picture is {width}x{height}; the studio renders sides up to {MAX_SIDE} pixels. "
            "Scale it down or crop it first."
        )
    return tuple(max(MIN_SIDE, -(-side // MULTIPLE) * MULTIPLE) for side in (width, height))  # type: ignore[return-value]


def extend(image: Image.Image, size: tuple[int, int], *, fill: int | None = None) -> Image.Image:
    """`image` on a canvas of `size`, its last column and row repeated into the new area (or `fill`, for masks)."""
    if image.size == size:
        return image
    width, height = image.size
    canvas = Image.new(image.mode, size, fill if fill is not None else 0)
    canvas.paste(image, (0, 0))
    if fill is None:
        if size[0] > width:
            canvas.paste(image.crop((width - 1, 0, width, height)).resize((size[0] - width, height)), (width, 0))
        if size[1] > height:
            row = canvas.crop((0, height - 1, size[0], height))
            canvas.paste(row.resize((size[0], size[1] - height)), (0, height))
    return canvas


def crop_back(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A rendered picture cut back to the artist's picture size."""
    return picture if picture.size == size else picture.crop((0, 0, *size))
