"""Few-step models and LoRAs (LCM, Lightning, Hyper-SD, TCD, Turbo), recognised from their files, and the settings
they are made for: what the Live panel offers as its preset, so a live picture takes a few steps, not thirty.

Recognised by the names their makers publish them under (lcm-lora-sdv1-5, sdxl_lightning_4step_lora,
Hyper-SD15-8steps-lora, TCD-SDXL-LoRA, sd_xl_turbo_1.0) and, in a .safetensors header, the title or output name a
trainer wrote. A file not recognised still runs live, with the artist's own settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class FewStep:
    """A few-step kind and the settings it is made for (A1111/Forge names)."""

    kind: str  # "LCM", "Lightning", "Hyper-SD", "TCD", "Turbo"
    source: str  # the file or model it was recognised in
    steps: int
    cfg_scale: float
    sampler: str
    scheduler: str

    @property
    def words(self) -> str:
        return (
            f"{self.kind} ({self.source}): {self.steps} steps, CFG {self.cfg_scale:g}, "
            f"{self.sampler}, {self.scheduler} schedule"
        )


# (kind, name pattern, default steps, CFG, sampler, schedule). Lightning and Hyper-SD are distilled for trailing
# timesteps (A1111/Forge's "SGM Uniform"); LCM and TCD have samplers of their own.
_KINDS = (
    ("TCD", re.compile(r"(^|[^a-z])tcd([^a-z]|$)"), 4, 1.0, "TCD", "Uniform"),
    ("Hyper-SD", re.compile(r"hyper[-_ ]?sd"), 8, 1.0, "Euler", "SGM Uniform"),
    ("Lightning", re.compile(r"lightning"), 4, 1.0, "Euler", "SGM Uniform"),
    ("LCM", re.compile(r"(^|[^a-z])lcm([^a-z]|$)"), 4, 1.5, "LCM", "Uniform"),
    ("Turbo", re.compile(r"turbo"), 4, 1.0, "Euler a", "SGM Uniform"),
)
_STEPS = re.compile(r"(\d+)[-_ ]?steps?")
# Hyper-SD's "CFG" LoRAs keep real guidance (their makers suggest 5 to 8).
_WITH_CFG = re.compile(r"(^|[^a-z])cfg([^a-z]|$)")


def recognise(name: str, metadata: Mapping[str, str] | None = None) -> FewStep | None:
    """The few-step kind of a LoRA file or model named `name` (with its header's metadata), or None."""
    words = " ".join([PurePath(name).name, *(str(v) for k, v in (metadata or {}).items() if k in _TITLES)]).lower()
    for kind, pattern, steps, cfg, sampler, scheduler in _KINDS:
        if pattern.search(words):
            stated = _STEPS.search(words)
            if stated and 1 <= int(stated.group(1)) <= 16:
                steps = int(stated.group(1))
            if kind == "Hyper-SD" and _WITH_CFG.search(words):
                cfg = 5.0
            return FewStep(kind, PurePath(name).name, steps, cfg, sampler, scheduler)
    return None


_TITLES = ("modelspec.title", "ss_output_name", "ss_sd_model_name")


def few_step_of(model: str, loras: Iterable[tuple[str, Mapping[str, str] | None]]) -> FewStep | None:
    """The few-step settings a recipe's LoRAs (name or path, header metadata) or its model are made for: a LoRA's
    first, as it is what makes a model few-step."""
    for name, metadata in loras:
        found = recognise(name, metadata)
        if found is not None:
            return found
    return recognise(model)
