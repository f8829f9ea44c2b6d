"""What the artist painted in the editor, as the engine wants it: a picture and a mask. Pure PIL."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageChops


def mask_from_layers(layers: Sequence[Image.Image], size: tuple[int, int]) -> Image.Image:
    """White wherever any layer has paint (alpha > 0), black elsewhere."""
    mask = Image.new("L", size, 0)
    for layer in layers:
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != size:
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
        mask = ImageChops.lighter(mask, alpha.point(lambda value: 255 if value > 0 else 0))
    return mask


def flatten(image: Image.Image, backdrop: str = "white") -> Image.Image:
    """An RGB picture; transparent parts (an empty canvas) become `backdrop`."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, backdrop)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
