"""Reading a picture someone sent: its size from the header first, then the pixels, with messages a person understands.

A 30000x30000 PNG can be 100 KB on the wire and 2.7 GB decoded: the size is read (and refused)
before a single pixel is decoded. Pure: PIL only.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from studio.errors import InputError

# Larger than anything the engine renders (2048) so a big photo can still be a ControlNet source or
# be read for its metadata, small enough that decoding it costs at most ~200 MB.
MAX_PICTURE_SIDE = 8192


def open_picture(path: str | Path | IO[bytes], role: str = "image") -> Image.Image:
    """The picture at `path`, decoded. ValueError naming `role` when it is no picture, is damaged or too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                width, height = picture.size
                if max(width, height) > MAX_PICTURE_SIDE:
                    raise InputError(_too_large(role, f"{width}x{height} pixels"))
                picture.load()
                return picture.copy() if picture.mode != "P" else picture.convert("RGBA")
    except Image.DecompressionBombError:
        raise InputError(
            _too_large(role, f"over {2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} million pixels")
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{role}: is not a picture the studio can read; send a PNG, JPEG or WebP file") from None
    except (OSError, SyntaxError) as error:
        raise InputError(f"{role}: the picture is damaged or cut short ({error}); send the whole file again") from None


def check_side(picture: Image.Image, role: str) -> None:
    """ValueError naming `role` when a picture already decoded (e.g. by Gradio) is over the studio's size."""
    if max(picture.size) > MAX_PICTURE_SIDE:
        raise InputError(_too_large(role, f"{picture.width}x{picture.height} pixels"))


def _too_large(role: str, size: str) -> str:
    return (
        f"{role}: the picture is {size}; the studio takes sides up to {MAX_PICTURE_SIDE} pixels. Scale it down first."
    )


_PNG_DATA_URL = "data:image/png;base64,"


def picture_from_data_url(text: object, size: tuple[int, int], role: str) -> Image.Image | None:
    """A layer the window's editor sent as a PNG data URL (None when empty), checked to be `size`."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or not text.startswith(_PNG_DATA_URL):
        raise InputError(f"{role}: the editor sent something that is not a PNG layer; reload the page")
    try:
        raw = base64.b64decode(text[len(_PNG_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{role}: the editor's layer arrived damaged; paint it again") from None
    layer = open_picture(io.BytesIO(raw), role)
    if layer.size != size:
        raise InputError(
            f"{role}: is {layer.width}x{layer.height} but the picture is {size[0]}x{size[1]}; "
            "send the picture to the editor again"
        )
    return layer


def png_data_url(picture: Image.Image) -> str:
    """`picture` as a PNG data URL (what the window's map editors are given)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return _PNG_DATA_URL + base64.b64encode(buffer.getvalue()).decode("ascii")
