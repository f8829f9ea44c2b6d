"""A cheap look at latents mid-run: a fixed linear map to RGB, no VAE decode (A1111's "Approx cheap")."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from studio.engine.families import Family

# Least-squares fits of each family's latent channels to RGB (and an offset), as A1111 and ComfyUI
# use for their previews: SDXL's VAE lays its latents out differently from SD 1.x's.
_LATENT_TO_RGB = {
    Family.SD15: torch.tensor(
        [
            [0.298, 0.207, 0.208],
            [0.187, 0.286, 0.173],
            [-0.158, 0.189, 0.264],
            [-0.184, -0.271, -0.473],
        ]
    ),
    Family.SDXL: torch.tensor(
        [
            [0.3651, 0.4232, 0.4341],
            [-0.2533, -0.0042, 0.1068],
            [0.1076, 0.1111, -0.0362],
            [-0.3165, -0.2492, -0.2188],
        ]
    ),
}
_RGB_OFFSET = {Family.SD15: torch.zeros(3), Family.SDXL: torch.tensor([0.1084, -0.0175, -0.0011])}


def latents_to_preview(latents: torch.Tensor, family: Family = Family.SD15) -> Image.Image:
    """One picture's latents (4 x h/8 x w/8) as a small RGB image, 1/8 of the final size."""
    rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), _LATENT_TO_RGB[family]) + _RGB_OFFSET[family]
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")
