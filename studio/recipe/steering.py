"""The checks of a recipe's steering parts: reference pictures (IP-Adapter units) and area prompts."""

from __future__ import annotations

from studio.recipe.parts import (
    AreaPromptRef,
    RecipeError,
    ReferenceRef,
    _check_number,
    _check_text,
    _check_type,
)
from studio.recipe.prompt_syntax import lora_tags
from studio.recipe.vocabulary import MAX_AREA_PROMPTS, MAX_REFERENCES


def check_area_prompts(area_prompts: tuple[AreaPromptRef, ...], other_roles: set[str]) -> None:
    if len(area_prompts) > MAX_AREA_PROMPTS:
        raise RecipeError("area_prompts", f"{len(area_prompts)} area prompts; use at most {MAX_AREA_PROMPTS}")
    masks = []
    for area in area_prompts:
        _check_type("area_prompts", area, AreaPromptRef)
        _check_text("area_prompts.prompt", area.prompt)
        if not area.prompt.strip():
            raise RecipeError("area_prompts.prompt", "is empty; write what this area shows, or remove the area")
        if lora_tags(area.prompt)[1]:
            raise RecipeError(
                "area_prompts.prompt",
                "holds a <lora:…> tag; a LoRA changes the whole picture's model, so an area cannot have its own: "
                "put the tag in the main prompt",
            )
        if not isinstance(area.mask, str) or not area.mask.strip():
            raise RecipeError("area_prompts.mask", "is empty; name the area's mask (area-N)")
        _check_number("area_prompts.weight", area.weight, 0.0, 1.0)
        masks.append(area.mask)
    if {"image", "mask"} & set(masks) or other_roles & set(masks) or len(set(masks)) != len(masks):
        raise RecipeError("area_prompts.mask", "each area needs a mask role of its own (area-1, area-2, …)")


def check_references(references: tuple[ReferenceRef, ...], control_roles: set[str]) -> None:
    if len(references) > MAX_REFERENCES:
        raise RecipeError("references", f"{len(references)} reference pictures; use at most {MAX_REFERENCES}")
    roles: list[str] = []
    for reference in references:
        _check_type("references", reference, ReferenceRef)
        for name in ("model", "image"):
            if not isinstance(getattr(reference, name), str) or not getattr(reference, name).strip():
                raise RecipeError(f"references.{name}", "is empty")
        if not isinstance(reference.mask, str):
            raise RecipeError("references.mask", "must name a mask's role, or be empty")
        _check_number("references.weight", reference.weight, 0.0, 2.0)
        _check_number("references.guidance_start", reference.guidance_start, 0.0, 1.0)
        _check_number("references.guidance_end", reference.guidance_end, 0.0, 1.0)
        if reference.guidance_start >= reference.guidance_end:
            raise RecipeError("references.guidance", "guidance_start must be below guidance_end")
        roles += [reference.image] + ([reference.mask] if reference.mask else [])
    if {"image", "mask"} & set(roles) or control_roles & set(roles):
        raise RecipeError(
            "references.image",
            "a reference's picture and mask need roles of their own (reference-N, reference-N-mask)",
        )
    if len(set(roles)) != len(roles):
        raise RecipeError("references.image", "two references share one picture or mask role; give each its own")
