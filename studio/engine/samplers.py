"""A1111 sampler names -> diffusers schedulers, built fresh for every run.

Pipelines made with `from_pipe` share one scheduler object, so the engine never mutates a scheduler:
it builds the one the recipe names from the model's own base configuration, every call.
"""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSDEScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

_KARRAS = {"use_karras_sigmas": True}
_SDE_DPMPP = {"algorithm_type": "sde-dpmsolver++"}

# name -> (scheduler class, extra configuration)
SCHEDULERS: dict[str, tuple[type[SchedulerMixin], dict[str, Any]]] = {
    "DPM++ 2M": (DPMSolverMultistepScheduler, {}),
    "DPM++ 2M Karras": (DPMSolverMultistepScheduler, _KARRAS),
    "DPM++ 2M SDE": (DPMSolverMultistepScheduler, _SDE_DPMPP),
    "DPM++ 2M SDE Karras": (DPMSolverMultistepScheduler, {**_SDE_DPMPP, **_KARRAS}),
    "DPM++ SDE": (DPMSolverSDEScheduler, {}),
    "DPM++ SDE Karras": (DPMSolverSDEScheduler, _KARRAS),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "Euler": (EulerDiscreteScheduler, {}),
    "LMS": (LMSDiscreteScheduler, {}),
    "LMS Karras": (LMSDiscreteScheduler, _KARRAS),
    "Heun": (HeunDiscreteScheduler, {}),
    "DPM2": (KDPM2DiscreteScheduler, {}),
    "DPM2 Karras": (KDPM2DiscreteScheduler, _KARRAS),
    "DPM2 a": (KDPM2AncestralDiscreteScheduler, {}),
    "DPM2 a Karras": (KDPM2AncestralDiscreteScheduler, _KARRAS),
    "DDIM": (DDIMScheduler, {}),
    "PLMS": (PNDMScheduler, {"skip_prk_steps": True}),
    "UniPC": (UniPCMultistepScheduler, {}),
    "LCM": (LCMScheduler, {}),
}


def make_scheduler(sampler: str, base_config: Any, *, seed: int) -> SchedulerMixin:
    """A new scheduler for `sampler`, configured like the model's own, deterministic for `seed`."""
    try:
        scheduler_class, extra = SCHEDULERS[sampler]
    except KeyError:
        raise ValueError(f"sampler: unknown sampler {sampler!r}") from None
    if scheduler_class is DPMSolverSDEScheduler:
        # Its Brownian-tree noise ignores the pipeline's generator; only this seed makes it repeatable.
        extra = {**extra, "noise_sampler_seed": seed}
    return scheduler_class.from_config(base_config, **extra)
