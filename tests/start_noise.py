"""The starting noise a txt2img run hands the pipeline, caught on its way in, and A1111's variation noise computed
independently (float64 numpy), so a claim about variation seeds rests on arithmetic, not on a random network."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


def seed_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The noise diffusers draws for one picture from `seed` on the CPU."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)).double().numpy()


def slerp(strength: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A1111's variation blend: spherical interpolation from `low` to `high`, per picture."""
    flat_low, flat_high = low.reshape(-1), high.reshape(-1)
    cosine = np.dot(flat_low / np.linalg.norm(flat_low), flat_high / np.linalg.norm(flat_high))
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))
    blended = np.sin((1 - strength) * omega) / np.sin(omega) * flat_low + np.sin(strength * omega) / np.sin(omega) * (
        flat_high
    )
    return blended.reshape(low.shape)


@contextlib.contextmanager
def caught_start_noise(pipe) -> Iterator[list]:
    """Every `latents` the pipeline is given to start from (None when it draws its own), while the block runs."""
    caught: list = []
    original = pipe.prepare_latents

    def catch(*args, **kwargs):
        latents = kwargs.get("latents", args[7] if len(args) > 7 else None)
        caught.append(None if latents is None else latents.detach().double().cpu().numpy())
        return original(*args, **kwargs)

    pipe.prepare_latents = catch
    try:
        yield caught
    finally:
        del pipe.prepare_latents
