"""Stored recipes of earlier schema versions, brought to the current one."""

from __future__ import annotations

from typing import Any

from studio.recipe.vocabulary import AUTOMATIC, AUTOMATIC_SCHEDULES, split_sampler_name


def upgrade_recipe_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A stored recipe dict of any version this studio reads, as a dict of the current version (for migrations)."""
    if isinstance(data, dict) and data.get("schema_version") == 1:
        data = {**_recipe_v1_to_v2({k: v for k, v in data.items() if k != "schema_version"}), "schema_version": 2}
    if isinstance(data, dict) and data.get("schema_version") == 2:
        data = {**data, "schema_version": 3}
    if isinstance(data, dict) and data.get("schema_version") == 3:
        data = {**data, "schema_version": 4}
    if isinstance(data, dict) and data.get("schema_version") == 4:
        data = {**data, "schema_version": 5}
    if isinstance(data, dict) and data.get("schema_version") == 5:
        data = {**data, "schema_version": 6}
    if isinstance(data, dict) and data.get("schema_version") == 6:
        data = {**data, "schema_version": 7}
    if isinstance(data, dict) and data.get("schema_version") == 7:  # 8 only added Flux's settings (SD ignores them)
        data = {**data, "schema_version": 8}
    if isinstance(data, dict) and data.get("schema_version") == 8:  # 9 only added Kontext edits (off before)
        data = {**data, "schema_version": 9}
    return data


def _recipe_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 named the schedule inside the sampler ("DPM++ 2M Karras") and ran every other name on the
    model's own spacing. Version 2 says exactly that: the sampler, and the schedule that ran."""
    sampler = data.get("sampler", "Euler a")
    if not isinstance(sampler, str):
        return data
    base, schedule = split_sampler_name(sampler)
    if schedule is None:
        # Plain names ran uniform spacing; where A1111's Automatic means another schedule, say Uniform.
        schedule = AUTOMATIC if AUTOMATIC_SCHEDULES.get(base, "Uniform") == "Uniform" else "Uniform"
    return {**data, "sampler": base, "scheduler": schedule}
