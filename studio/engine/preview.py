"""A cheap look at latents mid-run: a fixed linear map to RGB, no VAE decode (A1111's "Approx cheap")."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

# Least-squares fit of SD 1.x latent channels to RGB, as used by A1111 and ComfyUI previews.
_LATENT_TO_RGB = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)


def latents_to_preview(latents: torch.Tensor) -> Image.Image:
    """One picture's latents (4 x h/8 x w/8) as a small RGB image, 1/8 of the final size."""
    rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), _LATENT_TO_RGB)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")
