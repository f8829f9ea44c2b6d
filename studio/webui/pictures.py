"""Pictures as A1111's API sends and takes them: base64 in, base64 PNG out, and its img2img resizing and
"fill" of the masked area. Pure: PIL only.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

from studio.errors import InputError
from studio.pictures import open_picture, png_data_url

# A1111's img2img resize modes, by number (modules/images.py resize_image; the API takes the number).
JUST_RESIZE, CROP_AND_RESIZE, RESIZE_AND_FILL, LATENT_RESIZE = 0, 1, 2, 3
# img2img's resize_mode by number, as A1111 names them (ControlNet units name theirs: RESIZE_MODES below).
IMG2IMG_RESIZE_MODES = {
    JUST_RESIZE: "just resize",
    CROP_AND_RESIZE: "crop and resize",
    RESIZE_AND_FILL: "resize and fill",
    LATENT_RESIZE: "latent upscale",
}
RESIZE_MODES = {"Just Resize": JUST_RESIZE, "Crop and Resize": CROP_AND_RESIZE, "Resize and Fill": RESIZE_AND_FILL}


def decode_picture(text: object, role: str) -> Image.Image:
    """A base64 picture (a `data:image/...;base64,` prefix allowed), with a message naming `role` if it is none."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{role}: expected a base64-encoded picture")
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        raw = base64.b64decode(payload.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise InputError(f"{role}: is not base64; send the picture's bytes base64-encoded") from None
    return open_picture(io.BytesIO(raw), role)


def encode_file(path: Path) -> str:
    """A saved PNG as base64, byte for byte: its `parameters` and recipe text chunks come along."""
    return base64.b64encode(path.read_bytes()).decode("ascii")


def encode_picture(picture: Image.Image) -> str:
    """A picture as A1111 answers with one: PNG, base64, without the data-URL prefix."""
    return png_data_url(picture).split(",", 1)[1]


def resize_for(
    mode: int, picture: Image.Image, width: int, height: int, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> Image.Image:
    """A1111's img2img resizing of the init picture to width x height (a picture already that size is kept).

    `resample` NEAREST keeps a hand-made control map's colours (a blended seg colour is another class)."""
    if picture.size == (width, height):
        return picture
    if mode == JUST_RESIZE:
        return picture.resize((width, height), resample)
    ratio, source_ratio = width / height, picture.width / picture.height
    if mode == CROP_AND_RESIZE:
        cover_w = width if ratio > source_ratio else picture.width * height // picture.height
        cover_h = height if ratio <= source_ratio else picture.height * width // picture.width
        return _centred(picture.resize((cover_w, cover_h), resample), width, height)
    if mode == RESIZE_AND_FILL:
        fit_w = width if ratio < source_ratio else picture.width * height // picture.height
        fit_h = height if ratio >= source_ratio else picture.height * width // picture.width
        fitted = picture.resize((fit_w, fit_h), resample)
        result = _centred(fitted, width, height)
        # The empty bands repeat the fitted picture's edge rows (or columns), stretched.
        if ratio < source_ratio and (band := height // 2 - fit_h // 2) > 0:
            result.paste(fitted.resize((width, band), box=(0, 0, width, 0)), box=(0, 0))
            result.paste(fitted.resize((width, band), box=(0, fit_h, width, fit_h)), box=(0, band + fit_h))
        elif ratio > source_ratio and (band := width // 2 - fit_w // 2) > 0:
            result.paste(fitted.resize((band, height), box=(0, 0, 0, height)), box=(0, 0))
            result.paste(fitted.resize((band, height), box=(fit_w, 0, fit_w, height)), box=(band + fit_w, 0))
        return result
    raise InputError(
        f"resize_mode: {mode} is not one the studio runs; use 0 (just resize), 1 (crop and resize) or "
        "2 (resize and fill), or send the picture at width x height"
    )


def _centred(picture: Image.Image, width: int, height: int) -> Image.Image:
    canvas = Image.new("RGB", (width, height))
    canvas.paste(picture, box=(width // 2 - picture.width // 2, height // 2 - picture.height // 2))
    return canvas


def filled(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill" masked content: the masked area painted with ever less blurred colours of its surroundings.

    Outside the mask every pixel stays exactly as it was (the last layer is the picture itself, unblurred).
    """
    outside = Image.new("RGBa", picture.size)
    outside.paste(picture.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    result = Image.new("RGBA", picture.size)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = outside.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            result.alpha_composite(blurred)
    return result.convert("RGB")
