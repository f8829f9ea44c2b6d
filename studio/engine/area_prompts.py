"""Area prompts (regional prompting): each painted area's words steer only that area, by masking the UNet's
cross-attention (as A1111's Regional Prompter does in its attention mode), on SD 1.5 and SDXL.

Every cross-attention runs as usual with the whole picture's prompt. For the conditional half of the batch it also
runs with each area's prompt, and each place takes a blend: inside area i, `weight_i` of its own words' attention and
the rest of the whole prompt's (Regional Prompter's "base ratio" is 1 - weight); outside every area, the whole
prompt's alone. Where areas overlap, they share. The unconditional half (the negative prompt) is left as it is.

The wrapper calls the processor that was there (plain attention, or an IP-Adapter's), so reference pictures and
their masks keep working inside areas: their contribution does not depend on the words, and the blend's weights sum
to one at every place.

What the method cannot do: a LoRA changes the UNet's weights for the whole picture, so an area cannot carry a LoRA
weight of its own (an area prompt's `<lora:…>` tag is refused by name).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio.engine import prompts
from studio.recipe import Recipe


@dataclass(frozen=True)
class Area:
    """One area as the UNet reads it: its prompt's hidden states (1 x tokens x width) and its mask (H x W, 0-1)."""

    embeds: torch.Tensor
    mask: torch.Tensor
    weight: float


class AreaAttention:
    """A cross-attention processor that blends each area's prompt into its area (see the module's docstring)."""

    def __init__(self, inner, areas: list[Area], guided: bool) -> None:
        self.inner = inner
        self.areas = areas
        self.guided = guided

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states=None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        ip_adapter_masks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        extra = {"ip_adapter_masks": ip_adapter_masks} if ip_adapter_masks is not None else {}
        whole = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **extra)
        if encoder_hidden_states is None or hidden_states.dim() != 3:
            return whole
        batch, places, _ = hidden_states.shape
        first = batch // 2 if self.guided else 0  # the conditional rows (CFG puts the unconditional ones first)
        rows = slice(first, batch)
        count = batch - first
        text, pictures = (
            encoder_hidden_states if isinstance(encoder_hidden_states, tuple) else (encoder_hidden_states, None)
        )
        blended = torch.zeros_like(whole[rows])
        share = torch.zeros(1, places, 1, device=whole.device, dtype=whole.dtype)
        for area in self.areas:
            mask = _places(area.mask, places).to(device=whole.device, dtype=whole.dtype) * area.weight
            words = area.embeds.to(device=text.device, dtype=text.dtype).expand(count, -1, -1)
            given = (words, [p[rows] for p in pictures]) if pictures is not None else words
            own = self.inner(attn, hidden_states[rows], given, None, temb, **extra)
            blended = blended + mask * own
            share = share + mask
        # Inside areas their words take their weights' share (shared where areas overlap); the whole prompt the rest.
        scale = share.clamp(min=1.0)
        mixed = whole[rows] * (1 - share / scale) + blended / scale
        return torch.cat([whole[:first], mixed]) if first else mixed


def _places(mask: torch.Tensor, places: int) -> torch.Tensor:
    """The mask at an attention layer's grid (`places` = rows x columns, the picture's aspect), as 1 x places x 1."""
    height, width = mask.shape
    rows = round(math.sqrt(places * height / width))
    columns = places // rows
    small = F.interpolate(mask[None, None].float(), size=(rows, columns), mode="area")
    return small.reshape(1, rows * columns, 1)


@contextlib.contextmanager
def areas_on(unet, areas: list[Area], guided: bool) -> Iterator[None]:
    """While inside, every cross-attention of `unet` blends the areas' prompts; its processors are put back after."""
    before = dict(unet.attn_processors)
    wrapped = {
        name: AreaAttention(processor, areas, guided) if name.endswith("attn2.processor") else processor
        for name, processor in before.items()
    }
    unet.set_attn_processor(wrapped)
    try:
        yield
    finally:
        unet.set_attn_processor(before)


def areas_for(pipe, recipe: Recipe, masks: Mapping[str, Image.Image], embeddings) -> contextlib.AbstractContextManager:
    """The UNet's cross-attention blending each of the recipe's area prompts into its painted area, while inside
    (nothing when it has none). `embeddings`: the textual-inversion embeddings its words may name."""
    if not recipe.area_prompts:
        return contextlib.nullcontext()
    areas = []
    with torch.inference_mode():
        for area in recipe.area_prompts:
            embeds = prompts.encode(pipe, area.prompt, "", recipe.clip_skip, embeddings)["prompt_embeds"]
            painted = np.asarray(masks[area.mask].convert("L"), dtype=np.float32) / 255.0
            areas.append(Area(embeds, torch.from_numpy(painted), float(area.weight)))
    return areas_on(pipe.unet, areas, guided=recipe.cfg_scale > 1)
