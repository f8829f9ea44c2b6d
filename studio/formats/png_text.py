"""PNG text chunks: writing them atomically, reading them back.

Every output PNG carries our node JSON (enough to rebuild its history node, so the pictures are the
backup of the version tree) and A1111's `parameters` text (see studio/a1111.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.files import atomic_write

STUDIO_KEY = "studio"
PARAMETERS_KEY = "parameters"


def write_png(image: Image.Image, path: Path, texts: dict[str, str]) -> None:
    """Save `image` with text chunks, atomically: the file is either absent or whole."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_itxt(key, value)
    atomic_write(path, lambda handle: image.save(handle, format="PNG", pnginfo=info))


def write_plain_png(image: Image.Image, path: Path) -> None:
    atomic_write(path, lambda handle: image.save(handle, format="PNG"))


def read_texts(path: Path) -> dict[str, str]:
    """The text chunks of a PNG, without decoding its pixels."""
    with Image.open(path) as image:
        return {key: value for key, value in getattr(image, "text", {}).items() if isinstance(value, str)}


def read_studio_json(path: Path) -> dict[str, Any] | None:
    """Our own metadata from a PNG, or None when the file has none or it is unreadable: a stray file whose chunk is
    a number or nested past any use, or whose header claims a huge picture, costs only itself."""
    try:
        raw = read_texts(path).get(STUDIO_KEY)
        data = json.loads(raw) if raw else None
    except (OSError, ValueError, SyntaxError, RecursionError, Image.DecompressionBombError):
        return None
    return data if isinstance(data, dict) else None
