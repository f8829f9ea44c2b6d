"""What the form starts from per model family: the native sizes offered one click away and the size a new family
starts at, and the sampling settings (Flux.1 samples with flow matching's Euler, its guidance distilled into the
model and real CFG off; Stable Diffusion with A1111's samplers at CFG about 7).

Loading a model of another family is the artist's act, so a size they left at the old family's
default moves to the new family's (SD 1.5 at 1024x1024 makes doubled figures; SDXL at 512x512
makes mush); a size they chose stays, and they are told what the new family prefers. Likewise a sampling setting
the new family cannot run moves to what it runs, one left at the old family's default moves to the new one's, and
one the artist chose stays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from studio.engine.families import Family
from studio.recipe import AUTOMATIC, FLUX_SAMPLERS, FLUX_SCHEDULERS, SCHEDULERS, Recipe

Size = tuple[int, int]


def native_sizes(family: str | None) -> tuple[Size, ...]:
    return Family(family).native_sizes if family else Family.SD15.native_sizes


def default_size(family: str | None) -> Size:
    """The size new recipes start at for a model of `family` (SD 1.5's when none is loaded)."""
    return native_sizes(family)[0]


def size_label(size: Size) -> str:
    return f"{size[0]} × {size[1]}"


def size_of_label(label: str) -> Size:
    width, height = (int(part) for part in label.split("×"))
    return width, height


def size_for_new_family(size: Size, old: str | None, new: str | None) -> tuple[Size, str]:
    """The size to show once the model's family changes from `old` to `new`, and one line saying what happened."""
    if new is None or old == new:
        return size, ""
    default = Family(new).default_size
    old_default = Family(old).default_size if old else Family.SD15.default_size
    if size == old_default:
        return default, f"Size set to {size_label(default)}, {new}'s native size."
    if size in Family(new).native_sizes:
        return size, ""
    return size, f"Your size {size_label(size)} is kept; {new}'s native sizes are one click away under the size."


FLUX = Family.FLUX.value


@dataclass(frozen=True)
class Sampling:
    sampler: str
    scheduler: str
    cfg_scale: float


SD_DEFAULTS = Sampling(Recipe.sampler, Recipe.scheduler, Recipe.cfg_scale)  # the recipe's own defaults
FLUX_DEFAULTS = Sampling(FLUX_SAMPLERS[0], AUTOMATIC, 1.0)


def defaults_for(family: str | None) -> Sampling:
    return FLUX_DEFAULTS if family == FLUX else SD_DEFAULTS


def sampling_for_new_family(current: Sampling, old: str | None, new: str | None) -> tuple[Sampling, str]:
    """The settings to show once the model's family changes from `old` to `new`, and one line saying what moved."""
    if new is None or (old == FLUX) == (new == FLUX):
        return current, ""
    old_defaults, new_defaults = defaults_for(old), defaults_for(new)
    runs = (FLUX_SAMPLERS, FLUX_SCHEDULERS) if new == FLUX else (None, SCHEDULERS)
    moved = current
    if runs[0] is not None and current.sampler not in runs[0]:
        moved = replace(moved, sampler=new_defaults.sampler)
    if current.scheduler not in runs[1]:
        moved = replace(moved, scheduler=new_defaults.scheduler)
    if current.cfg_scale == old_defaults.cfg_scale:
        moved = replace(moved, cfg_scale=new_defaults.cfg_scale)
    changes = [
        f"{label} {getattr(moved, name):g}"
        if isinstance(getattr(moved, name), float)
        else f"{label} {getattr(moved, name)}"
        for name, label in (("sampler", "sampler"), ("scheduler", "schedule"), ("cfg_scale", "CFG"))
        if getattr(moved, name) != getattr(current, name)
    ]
    if not changes:
        return moved, ""
    why = "Flux.1 samples with Euler, its guidance distilled into the model" if new == FLUX else f"{new}'s defaults"
    return moved, f"Set {', '.join(changes)}: {why}."
