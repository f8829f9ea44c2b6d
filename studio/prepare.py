"""Preparing a request: what the window holds (the editor's layers, the picked picture) made ready for the engine.

As Krita AI Diffusion's `prepare()`: pure functions from UI state to the pictures a run takes, tested
without a window or an engine. Two jobs live here:

- The editor: its picture, the mask the artist brushed and the colours they painted become the picture
  and the mask of an inpaint or a repaint, and the node picture it was given becomes the parent.
- Sizes: the model works on sides that are multiples of 8. A picture the artist made or uploaded is
  never resized for that (a resize moves every pixel): it is extended at its right and bottom edges to
  the next multiple of 8, rendered, and the result cropped back, so every pixel outside the area the
  artist asked to change stays exactly as it was.

Pure: PIL only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops

from studio.errors import InputError, NothingToEdit
from studio.recipe import MAX_SIDE, MIN_SIDE

MULTIPLE = 8


@dataclass(frozen=True)
class Edit:
    """What an inpaint or a repaint runs on, from the editor."""

    picture: Image.Image  # RGB: the background, or the painted composite when the paint is a guide
    mask: Image.Image  # L: white where the artist painted (for a repaint: unused)
    parent_id: str | None  # the node whose picture the editor holds, if it still holds exactly that picture
    source_index: int | None


def edit_from_layers(
    background: Image.Image,
    *,
    mask: Image.Image | None,
    paint: Image.Image | None,
    parent: tuple[str, int] | None,
) -> Edit:
    """The picture, mask and parent of the window's editor: a picture, a mask layer and a paint layer.

    Paint guides the run (it is part of the picture) and marks what may change, as the mask brush does;
    the mask brush only marks. `parent` is the node picture the editor was given, None for an upload.
    """
    layers = [layer.convert("RGBA") for layer in (mask, paint) if layer is not None]
    picture = flatten(background)
    if paint is not None:
        picture = Image.alpha_composite(picture.convert("RGBA"), paint.convert("RGBA")).convert("RGB")
    parent_id, source_index = parent if parent else (None, None)
    return Edit(picture, mask_from_layers(layers, background.size), parent_id, source_index)


def require_mask(edit: Edit) -> Edit:
    if not edit.mask.getbbox():
        raise NothingToEdit("Brush over the part to change first; the rest stays as it is.")
    return edit


def mask_from_layers(layers: Sequence[Image.Image], size: tuple[int, int]) -> Image.Image:
    """White wherever any layer has paint (alpha > 0), black elsewhere."""
    mask = Image.new("L", size, 0)
    for layer in layers:
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != size:
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
        mask = ImageChops.lighter(mask, alpha.point([0] + [255] * 255))  # any paint at all: alpha > 0
    return mask


def flatten(image: Image.Image, backdrop: str = "white") -> Image.Image:
    """An RGB picture; transparent parts (an empty canvas) become `backdrop`."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, backdrop)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def fit_control_maps(
    control_images: Mapping[str, Image.Image] | None,
    size: tuple[int, int],
    whole: Collection[str] = (),
    painted: Collection[str] = (),
) -> dict[str, Image.Image]:
    """Each map at the size of the picture it steers, scaled without blending (a blended seg colour is another class).

    The roles in `whole` (reference pictures) are kept as they are: they steer as a whole, not place by place. The
    roles in `painted` (areas) must have the picture's shape: an area painted for another shape would be squashed
    onto other places, so it is refused. A missing or unused map is left for the engine's check_inputs to refuse,
    before anything is saved.
    """
    fitted = {}
    for role, control in (control_images or {}).items():
        control = control.convert("RGB")
        if role in whole:
            fitted[role] = control
            continue
        if role in painted and abs(control.width * size[1] - control.height * size[0]) > max(size) * 2:
            raise InputError(
                f"{role}: was painted on a {control.width}x{control.height} area, but the picture is "
                f"{size[0]}x{size[1]}: press Blank area and paint it again at the picture's shape"
            )
        fitted[role] = control if control.size == size else control.resize(size, Image.Resampling.NEAREST)
    return fitted


def render_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size the model renders a picture of `size` at: each side up to a multiple of 8 (at least 64).

    Raises ValueError, with what to do, for a picture larger than the studio renders.
    """
    width, height = size
    if max(width, height) > MAX_SIDE:
        raise InputError(
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
