"""Area prompts without torch: the window's area units as recipe parts (studio/engine/area_prompts.py runs them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from studio.errors import InputError
from studio.recipe import AreaPromptRef


def area_role(number: int) -> str:
    return f"area-{number}"


@dataclass(frozen=True)
class AreaValues:
    """One area unit of the window, as the artist set it."""

    enabled: bool
    prompt: str
    weight: float
    mask: Image.Image | None  # white where the words steer


def build_area_prompts(units: Sequence[AreaValues]) -> tuple[tuple[AreaPromptRef, ...], dict[str, Image.Image]]:
    """The enabled units as recipe entries, and their areas by role. InputError names the unit at fault."""
    areas: list[AreaPromptRef] = []
    masks: dict[str, Image.Image] = {}
    for number, unit in enumerate(units, start=1):
        if not unit.enabled:
            continue
        if not unit.prompt.strip():
            raise InputError(f"area {number}: write what this area shows, or switch the area off")
        if unit.mask is None or not unit.mask.convert("L").point([0] * 128 + [255] * 128).getbbox():
            raise InputError(f"area {number}: paint the area first (Blank area, then white where its words steer)")
        role = area_role(len(areas) + 1)
        masks[role] = unit.mask.convert("L").point([0] * 128 + [255] * 128)
        areas.append(AreaPromptRef(unit.prompt.strip(), role, float(unit.weight)))
    return tuple(areas), masks
