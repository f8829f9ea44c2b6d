"""A cheap look at latents mid-run: a fixed linear map to RGB, no VAE decode (A1111's "Approx cheap").

Cheap enough to cost a run nothing measurable on a GPU: at most a few a second, projected on the GPU,
and copied back without making the GPU wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

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


# The window shows a few previews a second; more would only cost encoding work beside the run.
PREVIEW_INTERVAL = 0.25


class PreviewTap:
    """One run's step previews: one at the first step, then at most one every `interval` seconds.

    On a GPU the latents become RGB there (a 4x3 matrix: a few tiny kernels) and are copied to the CPU
    without blocking; the picture is handed on at a later step, once the copy has landed. The step
    callback therefore never waits for the GPU, which keeps queueing the next step's work. On the CPU
    the preview is made and handed on at once.
    """

    def __init__(
        self, family: Family, *, interval: float = PREVIEW_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._family = family
        self._interval = interval
        self._clock = clock
        self._last = -math.inf
        self._pending: tuple[torch.Tensor, torch.cuda.Event | None] | None = None
        self._projection: tuple[torch.Tensor, torch.Tensor] | None = None

    def take(self, latents: torch.Tensor) -> Image.Image | None:
        """Called at every step with one picture's latents (4 x h/8 x w/8); a preview when one is ready."""
        ready = self._collect()
        now = self._clock()
        if self._pending is None and now - self._last >= self._interval:
            self._last = now
            self._start(latents)
            ready = ready or self._collect()
        return ready

    def _start(self, latents: torch.Tensor) -> None:
        if self._projection is None:
            channels = latents.shape[0]
            # No fit for this family (Flux): each channel weighs alike, a grey look at the layout taking shape.
            matrix = _LATENT_TO_RGB.get(self._family, torch.full((channels, 3), 0.5 / channels**0.5))
            self._projection = (
                matrix.to(latents.device),
                _RGB_OFFSET.get(self._family, torch.zeros(3)).to(latents.device),
            )
        matrix, offset = self._projection
        rgb = torch.einsum("chw,cr->hwr", latents.detach().float(), matrix) + offset
        pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)
        if pixels.is_cuda:
            host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(pixels, non_blocking=True)
            landed = torch.cuda.Event()
            landed.record()
            self._pending = (host, landed)
        else:
            self._pending = (pixels.cpu(), None)

    def _collect(self) -> Image.Image | None:
        if self._pending is None:
            return None
        pixels, landed = self._pending
        if landed is not None and not landed.query():
            return None
        self._pending = None
        return Image.fromarray(np.ascontiguousarray(pixels.numpy()), mode="RGB")
