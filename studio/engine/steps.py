"""What happens between a pipeline's steps (Stop, progress, previews), and the starting noise of variation seeds."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers.utils.torch_utils import randn_tensor

from studio.engine import prompts
from studio.engine.families import Family
from studio.engine.lane import Halt
from studio.engine.preview import PreviewTap
from studio.progress import StepProgress
from studio.recipe import Recipe

StepCallback = Callable[[StepProgress], None]


def step_callback(
    on_step: StepCallback | None,
    family: Family,
    halt: Halt,
    before_step: Callable[[int, int], None] | None = None,
    *,
    unpack: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable:
    """The pipeline's step callback: Stop, progress with previews, and `before_step(next step, steps)`.

    `unpack`: one picture's latents as channels x rows x columns, where the pipeline keeps them otherwise (Flux's
    2x2 patches)."""
    previews = PreviewTap(family)  # throttled, and never makes the GPU wait

    def callback(pipe, step_index: int, timestep, tensors: dict) -> dict:
        if halt.halted:
            pipe._interrupt = True  # diffusers skips the remaining steps
            return tensors
        if on_step is not None:
            latents = tensors["latents"][0]
            preview = previews.take(unpack(latents) if unpack is not None else latents)
            on_step(StepProgress(step_index + 1, pipe.num_timesteps, preview))
        if before_step is not None:
            before_step(step_index + 1, pipe.num_timesteps)
        return tensors

    return callback


def variation_noise(pipe, recipe: Recipe, generators: list[torch.Generator]) -> torch.Tensor:
    """A1111's variation seed: each picture's noise, slerped towards the variation seed's noise."""
    shape = (
        recipe.batch_size,
        pipe.unet.config.in_channels,
        recipe.height // pipe.vae_scale_factor,
        recipe.width // pipe.vae_scale_factor,
    )
    dtype = pipe.unet.dtype
    # Drawn exactly as the pipeline would draw it, so strength 0 gives the plain seed's picture.
    noise = randn_tensor(shape, generator=generators, device=prompts.execution_device(pipe), dtype=dtype)
    variation_generators = [torch.Generator("cpu").manual_seed(seed) for seed in recipe.variation_seeds() or []]
    variation = randn_tensor(shape, generator=variation_generators, device=prompts.execution_device(pipe), dtype=dtype)
    return slerp(recipe.variation_strength, noise, variation)


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation per picture; keeps the noise's scale, unlike a straight blend."""
    flat_low, flat_high = low.flatten(1).float(), high.flatten(1).float()
    cosine = (flat_low / flat_low.norm(dim=1, keepdim=True) * flat_high / flat_high.norm(dim=1, keepdim=True)).sum(1)
    omega = torch.acos(cosine.clamp(-1.0, 1.0)).unsqueeze(1)
    sin_omega = torch.sin(omega)
    blended = (torch.sin((1.0 - strength) * omega) / sin_omega) * flat_low + (
        torch.sin(strength * omega) / sin_omega
    ) * flat_high
    return blended.reshape(low.shape).to(low.dtype)
