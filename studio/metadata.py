"""What a PNG says about how it was made: our node JSON plus A1111's `parameters` text.

Every output PNG carries enough to rebuild its history node, so the pictures themselves are the
backup of the version tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.files import atomic_write
from studio.recipe import InpaintArea, Mode, Recipe

STUDIO_KEY = "studio"
PARAMETERS_KEY = "parameters"


def a1111_parameters(recipe: Recipe, index: int = 0) -> str:
    """The `parameters` text A1111 writes, for picture `index` of the recipe's batch."""
    lines = [recipe.prompt]
    if recipe.negative_prompt:
        lines.append(f"Negative prompt: {recipe.negative_prompt}")
    fields: list[tuple[str, Any]] = [
        ("Steps", recipe.steps),
        ("Sampler", recipe.sampler),
        ("CFG scale", _number(recipe.cfg_scale)),
        ("Seed", recipe.seeds()[index]),
        ("Size", f"{recipe.width}x{recipe.height}"),
        ("Model", Path(recipe.model).stem if recipe.model.endswith(".safetensors") else recipe.model),
    ]
    if recipe.mode is not Mode.TXT2IMG:
        fields.append(("Denoising strength", _number(recipe.denoising_strength)))
    if recipe.mode is Mode.INPAINT:
        fields.append(("Mask blur", recipe.mask_blur))
        if recipe.inpaint_area is InpaintArea.ONLY_MASKED:
            fields += [("Inpaint area", "Only masked"), ("Masked area padding", recipe.inpaint_padding)]
    variation_seeds = recipe.variation_seeds()
    if variation_seeds:
        fields += [
            ("Variation seed", variation_seeds[index]),
            ("Variation seed strength", _number(recipe.variation_strength)),
        ]
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in fields))
    return "\n".join(lines)


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
    """Our own metadata from a PNG, or None when the file has none (or it is unreadable)."""
    try:
        raw = read_texts(path).get(STUDIO_KEY)
        return json.loads(raw) if raw else None
    except (OSError, ValueError, SyntaxError):
        return None


def _number(value: float) -> str:
    return f"{value:g}"


def _quote(value: Any) -> str:
    # A1111 quotes values that would otherwise break its "key: value, key: value" list.
    text = str(value)
    if any(char in text for char in ',:"\n'):
        return json.dumps(text)
    return text
