"""A1111 sampler names and schedule types -> diffusers schedulers, built fresh for every run.

Pipelines made with `from_pipe` share one scheduler object, so the engine never mutates a scheduler:
it builds the one the recipe names from the model's own base configuration, every call.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

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
    TCDScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from studio.errors import InputError
from studio.recipe import FLUX_SCHEDULERS, resolved_schedule
from studio.recipe import SCHEDULERS as SCHEDULE_TYPES

_SDE_DPMPP = {"algorithm_type": "sde-dpmsolver++"}

# A1111 sampler -> (scheduler class, extra configuration)
# (diffusers' `from_config` is typed too loosely to check; each class is a SchedulerMixin.)
SCHEDULERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "DPM++ 2M": (DPMSolverMultistepScheduler, {}),
    "DPM++ SDE": (DPMSolverSDEScheduler, {}),
    "DPM++ 2M SDE": (DPMSolverMultistepScheduler, _SDE_DPMPP),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "Euler": (EulerDiscreteScheduler, {}),
    "LMS": (LMSDiscreteScheduler, {}),
    "Heun": (HeunDiscreteScheduler, {}),
    "DPM2": (KDPM2DiscreteScheduler, {}),
    "DPM2 a": (KDPM2AncestralDiscreteScheduler, {}),
    "DDIM": (DDIMScheduler, {}),
    "PLMS": (PNDMScheduler, {"skip_prk_steps": True}),
    "UniPC": (UniPCMultistepScheduler, {}),
    "LCM": (LCMScheduler, {}),
    "TCD": (TCDScheduler, {}),
}

# A1111 schedule type -> diffusers configuration. "Uniform" keeps the model's own timestep spacing.
SCHEDULES: dict[str, dict[str, Any]] = {
    "Uniform": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
}


def _settings(scheduler_class: Any) -> set[str]:
    return set(inspect.signature(scheduler_class.__init__).parameters)


def make_scheduler(sampler: str, schedule: str, base_config: Any, *, seed: int) -> SchedulerMixin:
    """A new scheduler for `sampler` with `schedule` ("Automatic" resolved as A1111 does), deterministic for `seed`."""
    try:
        scheduler_class, extra = SCHEDULERS[sampler]
    except KeyError:
        raise InputError(f"sampler: unknown sampler {sampler!r}") from None
    try:
        extra = {**extra, **SCHEDULES[resolved_schedule(sampler, schedule)]}
    except KeyError:
        if schedule in FLUX_SCHEDULERS:
            raise InputError(
                f"scheduler: {schedule} is a Flux schedule; for this Stable Diffusion model choose "
                f"{', '.join(SCHEDULE_TYPES)}"
            ) from None
        raise InputError(f"scheduler: unknown schedule type {schedule!r}") from None
    if base_config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in _settings(scheduler_class):
        able = ", ".join(name for name, (cls, _) in SCHEDULERS.items() if "rescale_betas_zero_snr" in _settings(cls))
        raise InputError(
            f"sampler: {sampler} cannot run this zero-terminal-SNR (v-prediction) model; choose one of {able}"
        )
    if scheduler_class is DPMSolverSDEScheduler:
        # Its Brownian-tree noise ignores the pipeline's generator; only this seed makes it repeatable.
        extra = {**extra, "noise_sampler_seed": seed}
    return cast(SchedulerMixin, scheduler_class.from_config(base_config, **extra))
