"""The recipe: everything needed to make a picture again, as frozen, pure data.

A recipe crosses every seam of the studio (form -> session -> engine -> history -> PNG), so it holds
no images, no tensors and no runtime state. Images the artist supplied live on the history node;
the recipe only says what to do with them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from dataclasses import dataclass, field
from typing import Any

from studio.recipe.migrations import upgrade_recipe_dict
from studio.recipe.parts import (
    AreaPromptRef,
    ControlMode,
    ControlRef,
    InpaintArea,
    LoraRef,
    Mode,
    RecipeError,
    ReferenceKind,
    ReferenceRef,
    RegionRef,
    UpscaleRef,
    _as,
    _check_int,
    _check_number,
    _check_text,
    _check_type,
    _enum,
)
from studio.recipe.prompt_syntax import effective_loras, lora_tags
from studio.recipe.steering import check_area_prompts, check_references
from studio.recipe.vocabulary import (
    _SPACING_ONLY,
    AUTOMATIC,
    CONTROL_KINDS,
    DEFAULT_MODEL,
    FLUX_SCHEDULERS,
    HIRES_UPSCALERS,
    LANCZOS,
    MAX_BATCH,
    MAX_CLIP_SKIP,
    MAX_HIRES_SCALE,
    MAX_LORA_WEIGHT,
    MAX_PROMPT_CHARS,
    MAX_REGIONS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MAX_STYLES,
    MAX_UPSCALE,
    MIN_SIDE,
    RANDOM_SEED,
    REGION_LABELS,
    SAMPLERS,
    SCHEDULERS,
    SCHEMA_VERSION,
    UPSCALER_SUFFIXES,
    is_upscaler_file,
    resolved_schedule,
    split_sampler_name,
)


@dataclass(frozen=True)
class Recipe:
    """How one picture (or a batch) is made. `seed == -1` means "pick one"; see `with_concrete_seed`."""

    prompt: str = ""
    negative_prompt: str = ""
    model: str = DEFAULT_MODEL
    sampler: str = "Euler a"
    # A1111's "Schedule type": how the steps are spaced ("Automatic" is the sampler's own default).
    scheduler: str = AUTOMATIC
    steps: int = 20
    cfg_scale: float = 7.0
    # Flux.1 only (studio/engine/flux.py; SD models ignore both): the guidance Flux.1-dev was distilled to take as an
    # input, Forge's "Distilled CFG Scale", and the sampling shift (0: the model's own, set by the picture's size).
    distilled_cfg_scale: float = 3.5
    shift: float = 0.0
    width: int = 512
    height: int = 512
    seed: int = RANDOM_SEED
    batch_size: int = 1
    mode: Mode = Mode.TXT2IMG
    # img2img and inpaint: how far from the input picture the result may move (0 keeps it, 1 ignores it).
    denoising_strength: float = 0.75
    # Flux.1 Kontext (img2img or inpaint, Flux only): the prompt says the change ("make the jacket red"), the picture
    # is the model's context. Without a mask it is drawn anew (no strength); with one, only the masked area changes.
    kontext: bool = False
    # inpaint: mask edge softness in pixels, and which part of the picture is rendered.
    mask_blur: int = 4
    inpaint_area: InpaintArea = InpaintArea.WHOLE_PICTURE
    inpaint_padding: int = 32
    # A1111's "variation seed": the starting noise is seed's noise blended towards this seed's noise.
    variation_seed: int | None = None
    variation_strength: float = 0.0
    loras: tuple[LoraRef, ...] = field(default_factory=tuple)
    controls: tuple[ControlRef, ...] = field(default_factory=tuple)
    # Reference pictures (IP-Adapter units), each steering with a picture of the artist's choosing.
    references: tuple[ReferenceRef, ...] = field(default_factory=tuple)
    # Area prompts (regional prompting): words that steer only a painted area each (see AreaPromptRef).
    area_prompts: tuple[AreaPromptRef, ...] = field(default_factory=tuple)
    # Style presets by name, applied when the prompt is encoded: `prompt` stays the artist's own words.
    styles: tuple[str, ...] = field(default_factory=tuple)
    # A1111's "Clip skip": 1 uses CLIP's last layer (off), 2 the one before it (anime and Pony models).
    clip_skip: int = 1
    # A1111's "Hires fix" (txt2img only): render, enlarge by `hires_scale` with `hires_upscaler`, then repaint
    # the enlarged picture with `hires_steps` (0: as many as `steps`) at `hires_denoising_strength`. 1: off.
    hires_scale: float = 1.0
    hires_upscaler: str = "Latent"
    hires_steps: int = 0
    hires_denoising_strength: float = 0.7
    # Fixing regions of a picked picture (hands, faces): each an "only masked" inpaint of its own (see RegionRef).
    regions: tuple[RegionRef, ...] = field(default_factory=tuple)
    # Upscaling a picked picture (see UpscaleRef); None: no upscale.
    upscale: UpscaleRef | None = None

    def __post_init__(self) -> None:
        # Coerce JSON-ish values so that from_dict and hand-built recipes compare equal.
        object.__setattr__(self, "mode", _enum(Mode, "mode", self.mode))
        object.__setattr__(self, "inpaint_area", _enum(InpaintArea, "inpaint_area", self.inpaint_area))
        object.__setattr__(self, "loras", tuple(self.loras))
        object.__setattr__(self, "controls", tuple(self.controls))
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "area_prompts", tuple(self.area_prompts))
        object.__setattr__(self, "regions", tuple(self.regions))
        if isinstance(self.styles, (list, tuple)):
            object.__setattr__(self, "styles", tuple(self.styles))
        self._validate()

    def _validate(self) -> None:
        for name in ("prompt", "negative_prompt", "model"):
            _check_text(name, getattr(self, name))
        for name in ("prompt", "negative_prompt"):
            if len(getattr(self, name)) > MAX_PROMPT_CHARS:
                raise RecipeError(
                    name, f"is {len(getattr(self, name)):,} characters long; the most is {MAX_PROMPT_CHARS:,}"
                )
        if not self.model.strip():
            raise RecipeError("model", "is empty; give a Hugging Face id, a folder, a .safetensors file or 'tiny'")
        if self.sampler not in SAMPLERS:
            raise RecipeError("sampler", f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.scheduler not in SCHEDULERS + FLUX_SCHEDULERS[1:]:
            raise RecipeError(
                "scheduler",
                f"unknown schedule type {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)} (SD), or "
                f"{', '.join(FLUX_SCHEDULERS[1:])} (Flux)",
            )
        if self.sampler in _SPACING_ONLY and resolved_schedule(self.sampler, self.scheduler) in (
            "Karras",
            "Exponential",
        ):
            raise RecipeError(
                "scheduler",
                f"{self.sampler} cannot run {self.scheduler} sigmas; choose Automatic, Uniform or SGM Uniform",
            )
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_number("cfg_scale", self.cfg_scale, 0.0, 30.0)
        _check_number("distilled_cfg_scale", self.distilled_cfg_scale, 0.0, 30.0)
        _check_number("shift", self.shift, 0.0, 20.0)
        for name in ("width", "height"):
            value = getattr(self, name)
            _check_int(name, value, MIN_SIDE, MAX_SIDE)
            if value % 8:
                raise RecipeError(name, f"{value} is not a multiple of 8 (try {value - value % 8})")
        _check_int("seed", self.seed, RANDOM_SEED, MAX_SEED)
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH)
        _check_number("denoising_strength", self.denoising_strength, 0.0, 1.0)
        _check_int("mask_blur", self.mask_blur, 0, 64)
        _check_int("inpaint_padding", self.inpaint_padding, 0, 256)
        if self.variation_seed is not None:
            _check_int("variation_seed", self.variation_seed, 0, MAX_SEED)
        _check_number("variation_strength", self.variation_strength, 0.0, 1.0)
        if self.variation_strength > 0 and self.variation_seed is None:
            raise RecipeError("variation_strength", "needs a variation_seed to blend towards")
        for lora in self.loras:
            _check_type("loras", lora, LoraRef)
            _check_text("loras.name", lora.name)
            if not lora.name.strip():
                raise RecipeError("loras.name", "is empty; give the LoRA's name in the library")
            _check_number("loras.weight", lora.weight, -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
        for name, weight in lora_tags(self.prompt)[1]:
            _check_number(f"prompt: <lora:{name}:...> weight", weight, -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
        _check_int("clip_skip", self.clip_skip, 1, MAX_CLIP_SKIP)
        _check_number("hires_scale", self.hires_scale, 1.0, MAX_HIRES_SCALE)
        _check_text("hires_upscaler", self.hires_upscaler)
        if self.hires_upscaler not in HIRES_UPSCALERS and not is_upscaler_file(self.hires_upscaler):
            raise RecipeError(
                "hires_upscaler",
                f"unknown upscaler {self.hires_upscaler!r}; choose one of {', '.join(HIRES_UPSCALERS)} "
                f"or a model file in the upscalers folder ({', '.join(UPSCALER_SUFFIXES)})",
            )
        _check_int("hires_steps", self.hires_steps, 0, MAX_STEPS)
        _check_number("hires_denoising_strength", self.hires_denoising_strength, 0.0, 1.0)
        if not isinstance(self.kontext, bool):
            raise RecipeError("kontext", f"is {self.kontext!r}; give true or false")
        if self.kontext and self.mode is Mode.TXT2IMG:
            raise RecipeError("kontext", "a Kontext edit changes a picture: img2img or inpaint, not txt2img")
        if self.hires_scale > 1:
            if self.mode is not Mode.TXT2IMG:
                raise RecipeError("hires_scale", f"the hires fix is for Generate (txt2img), not {self.mode.value}")
            width, height = self.hires_size
            if max(width, height) > MAX_SIDE:
                raise RecipeError(
                    "hires_scale",
                    f"{self.hires_scale:g}x makes {width}x{height}; the studio renders sides up to {MAX_SIDE}",
                )
        if not isinstance(self.styles, tuple) or len(self.styles) > MAX_STYLES:
            raise RecipeError("styles", f"expected a list of at most {MAX_STYLES} style names")
        for style in self.styles:
            _check_text("styles", style)
            if not style.strip():
                raise RecipeError("styles", "a style name is empty")
        if len(set(self.styles)) != len(self.styles):
            raise RecipeError("styles", "names a style twice; a style is on or off")
        for control in self.controls:
            _check_type("controls", control, ControlRef)
            if control.kind not in CONTROL_KINDS:
                raise RecipeError(
                    "controls.kind", f"unknown kind {control.kind!r}; choose one of {', '.join(CONTROL_KINDS)}"
                )
            for name in ("model", "image", "preprocessor"):
                if not isinstance(getattr(control, name), str) or not getattr(control, name).strip():
                    raise RecipeError(f"controls.{name}", "is empty")
            _check_number("controls.weight", control.weight, 0.0, 2.0)
            _check_number("controls.guidance_start", control.guidance_start, 0.0, 1.0)
            _check_number("controls.guidance_end", control.guidance_end, 0.0, 1.0)
            if control.guidance_start >= control.guidance_end:
                raise RecipeError("controls.guidance", "guidance_start must be below guidance_end")
            for name, value in control.preprocessor_settings:
                _check_number(f"controls.preprocessor_settings.{name}", value, -1e6, 1e6)
        self._validate_finishing()
        roles = [control.image for control in self.controls]
        if {"image", "mask"} & set(roles):
            raise RecipeError("controls.image", "'image' and 'mask' name the input picture and mask; use control-N")
        if len(set(roles)) != len(roles):
            raise RecipeError("controls.image", "two units share one control image role; give each its own")
        check_references(self.references, set(roles))
        check_area_prompts(self.area_prompts, set(roles) | self.reference_roles)

    def _validate_finishing(self) -> None:
        if len(self.regions) > MAX_REGIONS:
            raise RecipeError("regions", f"{len(self.regions)} regions; fix at most {MAX_REGIONS} in one run")
        for region in self.regions:
            _check_type("regions", region, RegionRef)
            if region.label not in REGION_LABELS:
                raise RecipeError("regions.label", f"{region.label!r} is not one of {', '.join(REGION_LABELS)}")
            box = region.box
            if not isinstance(box, tuple) or len(box) != 4:
                raise RecipeError("regions.box", f"expected (left, top, right, bottom), got {box!r}")
            for value in box:
                _check_int("regions.box", value, 0, 4 * MAX_SIDE)
            if not (box[0] < box[2] and box[1] < box[3]):
                raise RecipeError("regions.box", f"{box} is empty: right must exceed left and bottom exceed top")
            for name in ("prompt", "negative_prompt", "mask", "found_by"):
                _check_text(f"regions.{name}", getattr(region, name))
            _check_number("regions.denoising_strength", region.denoising_strength, 0.0, 1.0)
            _check_int("regions.mask_blur", region.mask_blur, 0, 64)
            _check_int("regions.padding", region.padding, 0, 256)
        if self.regions and (self.mode is not Mode.INPAINT or self.inpaint_area is not InpaintArea.ONLY_MASKED):
            raise RecipeError("regions", "a region fix renders each region alone: mode inpaint, area only masked")
        upscale = self.upscale
        if upscale is None:
            return
        _check_type("upscale", upscale, UpscaleRef)
        _check_number("upscale.factor", upscale.factor, 1.0, MAX_UPSCALE)
        if upscale.factor == 1:
            raise RecipeError("upscale.factor", "1 leaves the picture as it is; enlarge by more than 1")
        _check_text("upscale.upscaler", upscale.upscaler)
        if upscale.upscaler != LANCZOS and not is_upscaler_file(upscale.upscaler):
            raise RecipeError(
                "upscale.upscaler",
                f"{upscale.upscaler!r} is neither {LANCZOS} nor a model file name in the upscalers folder "
                f"({', '.join(UPSCALER_SUFFIXES)})",
            )
        _check_int("upscale.tile", upscale.tile, 0, MAX_SIDE)
        if 0 < upscale.tile < 32:
            raise RecipeError("upscale.tile", f"{upscale.tile} is too small; use 32 pixels or more, or 0 for no tiles")
        _check_int("upscale.overlap", upscale.overlap, 0, 256)
        if not isinstance(upscale.refine, bool):
            raise RecipeError("upscale.refine", f"expected true or false, got {upscale.refine!r}")
        if upscale.refine and self.mode is not Mode.IMG2IMG:
            raise RecipeError("upscale.refine", "SD upscale repaints tiles: mode img2img")
        if self.regions:
            raise RecipeError("upscale", "a run either fixes regions or upscales; do one, then the other")

    @property
    def hires_size(self) -> tuple[int, int]:
        """The size the hires fix renders at, as A1111 computes it (int(side x scale)), down to a multiple of 8."""
        return tuple(int(side * self.hires_scale) // 8 * 8 for side in (self.width, self.height))  # type: ignore[return-value]

    @property
    def has_random_seed(self) -> bool:
        return self.seed == RANDOM_SEED

    def with_concrete_seed(self, rng: random.Random | None = None) -> Recipe:
        """The same recipe with a random seed replaced by a drawn number, so the result can be remade."""
        if not self.has_random_seed:
            return self
        return dataclasses.replace(self, seed=(rng or random.SystemRandom()).randint(0, MAX_SEED))

    def seeds(self) -> list[int]:
        """One seed per picture of the batch, as A1111 numbers them: seed, seed + 1, ...

        With a variation strength, every picture starts from `seed`'s noise and differs only by its
        variation seed (see `variation_seeds`): that is what "variations of this picture" means.
        """
        if self.has_random_seed:
            raise RecipeError("seed", "is still random; call with_concrete_seed() before generating")
        if self.variation_strength > 0:
            return [self.seed] * self.batch_size
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.batch_size)]

    def variation_seeds(self) -> list[int] | None:
        if self.variation_seed is None or self.variation_strength == 0:
            return None
        return [(self.variation_seed + i) % (MAX_SEED + 1) for i in range(self.batch_size)]

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    # --- what each action sets and clears: the one place that says it -----------------------------------

    @property
    def is_finish(self) -> bool:
        """A region fix or an upscale of a picked picture: not a generation or an edit, so not varied or re-fixed."""
        return bool(self.regions) or self.upscale is not None

    def as_edit(self, mode: Mode, **changes: Any) -> Recipe:
        """The recipe of an edit of a picture (img2img, inpaint, outpaint).

        A variation seed blends txt2img noise and the hires fix enlarges a txt2img picture: an edit has neither.
        """
        return self.replace(mode=mode, **(_EDIT_CLEARS | changes))

    def as_variation(
        self, *, count: int, seed: int, variation_seed: int | None = None, strength: float = 0.0
    ) -> Recipe:
        """`count` variations: new seeds (strength 0), or `seed`'s noise nudged towards `variation_seed`'s."""
        if strength > 0:
            return self.replace(batch_size=count, seed=seed, variation_seed=variation_seed, variation_strength=strength)
        return self.replace(batch_size=count, seed=seed, variation_seed=None, variation_strength=0.0)

    def as_region_fix(self, regions: tuple[RegionRef, ...], controls: tuple[ControlRef, ...]) -> Recipe:
        """Each region re-rendered alone ("only masked" inpaint), one picture, under `controls` (keep structure)."""
        return self.as_edit(
            Mode.INPAINT,
            inpaint_area=InpaintArea.ONLY_MASKED,
            controls=controls,
            references=(),  # a region is rendered alone: a reference's or an area's mask would not fit it
            area_prompts=(),
            regions=tuple(regions),
            upscale=None,
            batch_size=1,
        )

    def as_upscale(self, settings: UpscaleRef, controls: tuple[ControlRef, ...] = ()) -> Recipe:
        """An upscale of this recipe's picture: with `settings.refine`, an img2img of tiles under `controls`;
        without, this very recipe (it says how the picture was made) with the upscale added, as Extras keeps it."""
        if settings.refine:
            return self.as_edit(
                Mode.IMG2IMG,
                regions=(),
                controls=controls,
                references=(),
                area_prompts=(),
                upscale=settings,
                batch_size=1,
            )
        # Nothing is inpainted by a plain upscale, and its controls' maps are not the enlarged picture's.
        mode = Mode.IMG2IMG if self.mode is Mode.INPAINT else self.mode
        return self.replace(
            mode=mode, regions=(), controls=(), references=(), area_prompts=(), upscale=settings, batch_size=1
        )

    def with_hires_of(self, settings: Recipe) -> Recipe:
        """This (txt2img) recipe made again with `settings`' hires fix: one picture, nothing else changed."""
        return self.replace(
            batch_size=1,
            hires_scale=settings.hires_scale,
            hires_upscaler=settings.hires_upscaler,
            hires_steps=settings.hires_steps,
            hires_denoising_strength=settings.hires_denoising_strength,
        )

    @functools.cached_property
    def effective_loras(self) -> tuple[LoraRef, ...]:
        """Every LoRA a run of this recipe applies: the `loras` list first, then the prompt's `<lora:>` tags.

        Resolved here once; the engine, the shared-studio check, the hashes and the authorship record read it.
        """
        _, loras = effective_loras(self.prompt, tuple((lora.name, lora.weight) for lora in self.loras))
        return tuple(LoraRef(name, weight) for name, weight in loras)

    @property
    def reference_roles(self) -> set[str]:
        """The input roles the reference units read: their pictures and masks."""
        return {role for reference in self.references for role in (reference.image, reference.mask) if role}

    @property
    def painted_areas(self) -> frozenset[str]:
        """The input roles that are painted areas (references' and area prompts'): they have the picture's shape."""
        masks = [reference.mask for reference in self.references] + [area.mask for area in self.area_prompts]
        return frozenset(role for role in masks if role)

    @property
    def reference_pictures(self) -> frozenset[str]:
        """The input roles that are reference pictures: read whole, at their own size (masks are not)."""
        return frozenset(reference.image for reference in self.references)

    @property
    def prompt_without_lora_tags(self) -> str:
        """The prompt the text encoder reads: the artist's words, `<lora:>` tags taken out."""
        return lora_tags(self.prompt)[0]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["mode"] = self.mode.value
        data["inpaint_area"] = self.inpaint_area.value
        for control in data["controls"]:
            control["control_mode"] = ControlMode(control["control_mode"]).value
        for reference in data["references"]:
            reference["kind"] = ReferenceKind(reference["kind"]).value
        return {"schema_version": SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        data = upgrade_recipe_dict(dict(data))
        version = data.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise RecipeError(
                "schema_version", f"unsupported recipe version {version!r} (this studio reads {SCHEMA_VERSION})"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RecipeError(unknown[0], "is not a recipe field")
        data["loras"] = tuple(_as(LoraRef, "loras", lora) for lora in data.get("loras", ()))
        data["controls"] = tuple(_as(ControlRef, "controls", control) for control in data.get("controls", ()))
        data["references"] = tuple(_as(ReferenceRef, "references", ref) for ref in data.get("references", ()))
        data["area_prompts"] = tuple(_as(AreaPromptRef, "area_prompts", a) for a in data.get("area_prompts", ()))
        data["regions"] = tuple(_as(RegionRef, "regions", region) for region in data.get("regions", ()))
        if data.get("upscale") is not None:
            data["upscale"] = _as(UpscaleRef, "upscale", data["upscale"])
        return cls(**data)

    def updated(self, changes: dict[str, Any]) -> Recipe:
        """This recipe with some fields changed from plain JSON-like values (an API request, a form).

        Unknown fields are refused by name, so a typo never goes silently unused.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known - {"schema_version"})
        if unknown:
            raise RecipeError(unknown[0], f"is not a recipe field (known: {', '.join(sorted(known))})")
        if "schema_version" in changes and changes["schema_version"] != SCHEMA_VERSION:
            raise RecipeError(
                "schema_version",
                f"{changes['schema_version']!r} is not the version this studio writes ({SCHEMA_VERSION}); leave it out",
            )
        changes = {key: value for key, value in changes.items() if key != "schema_version"}
        if isinstance(changes.get("sampler"), str):
            # A1111's API and older texts still say "DPM++ 2M Karras": the same as sampler + schedule type.
            sampler, schedule = split_sampler_name(changes["sampler"])
            if schedule is not None:
                if changes.get("scheduler", schedule) != schedule:
                    raise RecipeError(
                        "scheduler", f"{changes['scheduler']!r} contradicts sampler {changes['sampler']!r}"
                    )
                changes |= {"sampler": sampler, "scheduler": schedule}
        if "loras" in changes:
            changes["loras"] = tuple(_as(LoraRef, "loras", lora) for lora in changes["loras"])
        for name, part in (("controls", ControlRef), ("references", ReferenceRef), ("area_prompts", AreaPromptRef)):
            if name in changes:
                changes[name] = tuple(_as(part, name, value) for value in changes[name])
        if isinstance(changes.get("styles"), list):
            changes["styles"] = tuple(changes["styles"])
        if "regions" in changes:
            changes["regions"] = tuple(_as(RegionRef, "regions", region) for region in changes["regions"])
        if changes.get("upscale") is not None:
            changes["upscale"] = _as(UpscaleRef, "upscale", changes["upscale"])
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        return cls.from_dict(json.loads(text))


# What every edit clears: the fields only a txt2img run uses, and Kontext (an outpaint of its picture is no Kontext).
_EDIT_CLEARS: dict[str, Any] = {"variation_seed": None, "variation_strength": 0.0, "hires_scale": 1.0, "kontext": False}
