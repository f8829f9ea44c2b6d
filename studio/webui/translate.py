"""An A1111 request as the studio runs it: one recipe per batch (`n_iter`), and the pictures it needs.

Fields the studio does not know are ignored, as A1111 ignores them. Fields A1111 knows and the studio
cannot honour are refused (`Unsupported`, a 422 naming them) unless they hold the value that changes
nothing: a request never silently gets a different picture. Pure: recipes and PIL.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from studio.errors import InputError
from studio.formats import a1111
from studio.recipe import (
    AUTOMATIC,
    FLUX_SCHEDULERS,
    HIRES_UPSCALERS,
    MAX_SEED,
    RANDOM_SEED,
    SAMPLERS,
    SCHEDULERS,
    InpaintArea,
    Mode,
    Recipe,
    split_sampler_name,
)
from studio.webui import controlnet
from studio.webui.fields import Img2ImgRequest, ProcessingRequest, Txt2ImgRequest
from studio.webui.pictures import IMG2IMG_RESIZE_MODES, LATENT_RESIZE, decode_picture, filled, resize_for

MAX_N_ITER = 100
# A1111's scheduler names (modules/sd_schedulers.py) for the schedules the studio runs.
SCHEDULER_NAMES: dict[str, str] = {
    "automatic": "Automatic",
    "uniform": "Uniform",
    "karras": "Karras",
    "exponential": "Exponential",
    "sgm_uniform": "SGM Uniform",
    "simple": "Simple",
    "beta": "Beta",
}
# override_settings the studio reads; the rest it cannot honour per request.
CHECKPOINT, CLIP_SKIP = "sd_model_checkpoint", "CLIP_stop_at_last_layers"
# Settings that change no picture, which clients often send along.
HARMLESS_OVERRIDES = frozenset({"samples_format", "save_images_before_face_restoration", "sd_vae"})
# A1111's inpainting_fill: what the masked area starts from.
FILL, ORIGINAL = 0, 1


class Unsupported(InputError):
    """A field A1111 has and the studio cannot honour with this value."""


@dataclass(frozen=True)
class Settings:
    """What the API's `options` hold: the model a request without override runs on, and its clip skip."""

    checkpoint: str
    clip_skip: int = 1


@dataclass(frozen=True)
class Run:
    """A request as runs of the studio: one recipe per batch, the picture, mask and control maps they share."""

    mode: Mode
    recipes: tuple[Recipe, ...]
    image: Image.Image | None = None
    mask: Image.Image | None = None
    control_images: Mapping[str, Image.Image] = field(default_factory=dict)


@dataclass(frozen=True)
class StudioFacts:
    """What translating needs to know of the studio: its family, upscalers and control-map maker."""

    family: str | None
    upscalers: tuple[str, ...]
    make_map: Callable[[str, Image.Image, Mapping[str, float]], Image.Image]


def txt2img_run(request: Txt2ImgRequest, settings: Settings, studio: StudioFacts, rng: random.Random) -> Run:
    _check_seeds(request)
    _refuse_unsupported(request)
    _refuse_hires_extras(request)
    recipe = _base_recipe(request, settings)
    if request.enable_hr:
        recipe = recipe.replace(**_hires(request, recipe, studio.upscalers))
    size = (recipe.width, recipe.height)
    units, references = _units(request, recipe, size, studio), _references(request, size)
    recipe = recipe.replace(
        controls=tuple(unit.control for unit in units), references=tuple(unit.reference for unit in references)
    )
    return Run(Mode.TXT2IMG, _batches(request, recipe, rng), control_images=_maps(units, references))


def img2img_run(request: Img2ImgRequest, settings: Settings, studio: StudioFacts, rng: random.Random) -> Run:
    _check_seeds(request)
    _refuse_unsupported(request)
    if request.resize_mode not in IMG2IMG_RESIZE_MODES:
        raise InputError(
            f"resize_mode: {request.resize_mode} is not one of A1111's: "
            + ", ".join(f"{mode} ({name})" for mode, name in IMG2IMG_RESIZE_MODES.items())
        )
    if not request.init_images:
        raise InputError("init_images: send the picture to repaint, base64-encoded")
    if len(request.init_images) > 1:
        raise Unsupported("init_images: the studio repaints one picture per request; send one")
    if request.initial_noise_multiplier not in (None, 1.0):
        raise Unsupported("initial_noise_multiplier: the studio runs 1.0 only")
    if request.resize_mode == LATENT_RESIZE:
        raise Unsupported("resize_mode: 3 (latent upscale) is not one the studio runs; use 0, 1 or 2")
    recipe = _base_recipe(request, settings).replace(denoising_strength=request.denoising_strength)
    size = (recipe.width, recipe.height)
    image = resize_for(request.resize_mode, decode_picture(request.init_images[0], "init_images[0]"), *size)
    image = image.convert("RGB")
    mask = None
    if request.mask:
        mask = resize_for(request.resize_mode, decode_picture(request.mask, "mask").convert("L"), *size)
        mask = mask.point([0] * 128 + [255] * 128)  # A1111 reads a mask as white or not
        if request.inpainting_mask_invert:
            mask = ImageOps.invert(mask)
        recipe = recipe.replace(**_inpaint_fields(request))
        if request.inpainting_fill == FILL:
            image = filled(image, mask)  # only the masked area changes: the model starts from its surroundings
    units, references = _units(request, recipe, size, studio), _references(request, size)
    recipe = recipe.replace(
        controls=tuple(unit.control for unit in units), references=tuple(unit.reference for unit in references)
    )
    return Run(
        Mode.INPAINT if mask is not None else Mode.IMG2IMG,
        _batches(request, recipe, rng),
        image=image,
        mask=mask,
        control_images=_maps(units, references),
    )


def _inpaint_fields(request: Img2ImgRequest) -> dict[str, Any]:
    if request.inpainting_fill not in (FILL, ORIGINAL):
        raise Unsupported(
            f"inpainting_fill: {request.inpainting_fill} (latent noise or nothing) is not one the studio runs; "
            "use 0 (fill) or 1 (original)"
        )
    blur = request.mask_blur if request.mask_blur is not None else request.mask_blur_x
    if request.mask_blur is None and request.mask_blur_x != request.mask_blur_y:
        raise Unsupported("mask_blur_x, mask_blur_y: the studio blurs the mask evenly; send mask_blur")
    return {
        "mask_blur": blur,
        "inpaint_area": InpaintArea.ONLY_MASKED if request.inpaint_full_res else InpaintArea.WHOLE_PICTURE,
        "inpaint_padding": request.inpaint_full_res_padding,
    }


def _check_seeds(request: ProcessingRequest) -> None:
    """A seed outside the studio's range is refused by name (never wrapped into another seed)."""
    for name in ("seed", "subseed"):
        value = getattr(request, name)
        if value != RANDOM_SEED and not 0 <= value <= MAX_SEED:
            raise InputError(
                f"{name}: {value} is out of range; a seed is -1 (random) or a whole number from 0 to {MAX_SEED}"
            )


def _refuse_unsupported(request: ProcessingRequest) -> None:
    """Refuse what would run differently here than in A1111; the value that changes nothing passes."""
    checks: list[tuple[str, bool, str]] = [
        ("restore_faces", bool(request.restore_faces), "fix faces in the studio's Finish tab"),
        ("tiling", bool(request.tiling), "the studio does not make tiling pictures"),
        ("refiner_checkpoint", bool(request.refiner_checkpoint), "the studio runs no refiner"),
        ("seed_resize_from_w", request.seed_resize_from_w not in (-1, 0), "the studio does not resize seeds"),
        ("seed_resize_from_h", request.seed_resize_from_h not in (-1, 0), "the studio does not resize seeds"),
        ("s_churn", request.s_churn not in (None, 0), "the studio runs its samplers' own noise settings"),
        ("s_tmin", request.s_tmin not in (None, 0), "the studio runs its samplers' own noise settings"),
        ("s_tmax", request.s_tmax not in (None, 0), "the studio runs its samplers' own noise settings"),
        ("s_noise", request.s_noise not in (None, 1), "the studio runs its samplers' own noise settings"),
        ("s_min_uncond", request.s_min_uncond not in (None, 0), "the studio does not skip guidance"),
        ("disable_extra_networks", request.disable_extra_networks, "the studio always applies <lora:...> tags"),
    ]
    refused = [f"{name}: {why}" for name, refused, why in checks if refused]
    extensions = [name for name in request.alwayson_scripts if name.lower() != controlnet.SCRIPT_NAME]
    active = [name for name in extensions if _script_is_on(request.alwayson_scripts[name])]
    if active:
        refused.append(f"alwayson_scripts: the studio has no {', '.join(active)} (ControlNet is the one it runs)")
    overrides = set(request.override_settings or {}) - {CHECKPOINT, CLIP_SKIP} - HARMLESS_OVERRIDES
    if overrides:
        refused.append(f"override_settings: the studio cannot honour {', '.join(sorted(overrides))}")
    if refused:
        raise Unsupported("; ".join(refused))


def _script_is_on(script: object) -> bool:
    """An extension's script turned off (no args, or a first arg False, as clients send it) changes nothing."""
    if not isinstance(script, Mapping):
        return bool(script)
    args = script.get("args") or []
    return bool(args) and args[0] is not False


def _refuse_hires_extras(request: Txt2ImgRequest) -> None:
    if not request.enable_hr:
        return
    same = {
        "hr_checkpoint_name": request.hr_checkpoint_name in (None, "", "Use same checkpoint"),
        "hr_sampler_name": request.hr_sampler_name in (None, "", "Use same sampler"),
        "hr_scheduler": request.hr_scheduler in (None, "", "Use same scheduler"),
        "hr_prompt": request.hr_prompt in ("", request.prompt),
        "hr_negative_prompt": request.hr_negative_prompt in ("", request.negative_prompt or ""),
        "firstphase_width": request.firstphase_width == 0,
        "firstphase_height": request.firstphase_height == 0,
    }
    refused = [name for name, ok in same.items() if not ok]
    if refused:
        raise Unsupported(f"{', '.join(refused)}: the studio's hires fix repaints with the first pass's own settings")


def kept_settings(request: ProcessingRequest, settings: Settings) -> Settings:
    """The API's options after a request: its overrides stay when it asks not to restore them, as in A1111."""
    overrides = request.override_settings or {}
    if request.override_settings_restore_afterwards or not overrides:
        return settings
    return Settings(
        checkpoint=str(overrides.get(CHECKPOINT) or settings.checkpoint),
        clip_skip=overrides.get(CLIP_SKIP, settings.clip_skip),
    )


def _base_recipe(request: ProcessingRequest, settings: Settings) -> Recipe:
    overrides = request.override_settings or {}
    sampler, scheduler = sampler_and_scheduler(request.sampler_name or request.sampler_index, request.scheduler)
    clip_skip = overrides.get(CLIP_SKIP, settings.clip_skip)
    if request.eta not in (None, _default_eta(sampler)):
        raise Unsupported(f"eta: the studio runs {sampler} with eta {_default_eta(sampler)}")
    if not 1 <= request.n_iter <= MAX_N_ITER:
        raise InputError(f"n_iter: {request.n_iter} batches; run 1 to {MAX_N_ITER} per request")
    return Recipe(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or "",
        model=str(overrides.get(CHECKPOINT) or settings.checkpoint),
        sampler=sampler,
        scheduler=scheduler,
        steps=request.steps,
        cfg_scale=request.cfg_scale,
        distilled_cfg_scale=request.distilled_cfg_scale,
        width=request.width,
        height=request.height,
        batch_size=request.batch_size,
        styles=tuple(request.styles or ()),
        clip_skip=clip_skip,
    )


def _default_eta(sampler: str) -> float:
    """The eta the studio's sampler runs with: DDIM's 0 (A1111's eta_ddim), the ancestral samplers' 1."""
    return 0.0 if sampler in ("DDIM", "PLMS") else 1.0


def sampler_and_scheduler(sampler_name: str, scheduler: str | None) -> tuple[str, str]:
    """A1111's sampler and scheduler names as the studio's; "Euler a Karras"-style names carry their schedule."""
    sampler, named_schedule = split_sampler_name(sampler_name)
    if sampler not in SAMPLERS:
        raise Unsupported(f"sampler_name: the studio has no {sampler_name!r} sampler (GET /sdapi/v1/samplers)")
    if scheduler in (None, ""):
        return sampler, named_schedule or AUTOMATIC
    schedule = SCHEDULER_NAMES.get(scheduler, scheduler)
    if schedule not in SCHEDULERS + FLUX_SCHEDULERS:
        raise Unsupported(f"scheduler: the studio has no {scheduler!r} schedule (GET /sdapi/v1/schedulers)")
    return sampler, schedule


def _hires(request: Txt2ImgRequest, recipe: Recipe, upscalers: tuple[str, ...]) -> dict[str, Any]:
    upscaler = request.hr_upscaler or "Latent"
    if upscaler not in HIRES_UPSCALERS and upscaler not in upscalers:
        raise Unsupported(
            f"hr_upscaler: the studio has no {upscaler!r}; use one of {', '.join((*HIRES_UPSCALERS, *upscalers))}"
        )
    scale = request.hr_scale
    if request.hr_resize_x or request.hr_resize_y:
        target_w = request.hr_resize_x or request.hr_resize_y * recipe.width // recipe.height
        target_h = request.hr_resize_y or request.hr_resize_x * recipe.height // recipe.width
        scale = target_w / recipe.width
        if recipe.replace(hires_scale=scale).hires_size != (target_w, target_h):
            raise Unsupported(
                f"hr_resize_x, hr_resize_y: {target_w}x{target_h} is not {recipe.width}x{recipe.height} scaled; "
                "send hr_scale, or a size of the same shape"
            )
    return {
        "hires_scale": scale,
        "hires_upscaler": upscaler,
        "hires_steps": request.hr_second_pass_steps,
        "hires_denoising_strength": request.denoising_strength if request.denoising_strength is not None else 0.7,
    }


def _units(
    request: ProcessingRequest, recipe: Recipe, size: tuple[int, int], studio: StudioFacts
) -> list[controlnet.Unit]:
    units = controlnet.units_of(request.alwayson_scripts)
    return controlnet.read_units(
        units, size=size, base_model=recipe.model, family=studio.family, make_map=studio.make_map
    )


def _references(request: ProcessingRequest, size: tuple[int, int]) -> list[controlnet.ReferenceUnit]:
    return controlnet.read_references(controlnet.units_of(request.alwayson_scripts), size=size)


def _maps(units: list[controlnet.Unit], references: list[controlnet.ReferenceUnit]) -> dict[str, Image.Image]:
    maps = {unit.control.image: unit.map for unit in units}
    for reference in references:
        maps |= reference.pictures
    return maps


def _batches(request: ProcessingRequest, recipe: Recipe, rng: random.Random) -> tuple[Recipe, ...]:
    """One recipe per batch, numbered as A1111 numbers a request's pictures: seed + i (or subseed + i)."""
    seed = rng.randint(0, MAX_SEED) if request.seed == RANDOM_SEED else request.seed
    varies = request.subseed_strength > 0
    subseed = rng.randint(0, MAX_SEED) if request.subseed == RANDOM_SEED else request.subseed
    batches = []
    for number in range(request.n_iter):
        offset = number * recipe.batch_size
        if varies:
            batch = recipe.replace(
                seed=seed,
                variation_seed=(subseed + offset) % (MAX_SEED + 1),
                variation_strength=request.subseed_strength,
            )
        else:
            batch = recipe.replace(seed=(seed + offset) % (MAX_SEED + 1))
        batches.append(batch)
    return tuple(batches)


def info_json(
    request: ProcessingRequest, recipes: list[Recipe], infotexts: list[str], *, session: str, nodes: list[str]
) -> str:
    """A1111's `info`: the run as processed.js() reports it (first picture's values, and every picture's)."""
    first = recipes[0] if recipes else None
    seeds = [seed for recipe in recipes for seed in recipe.seeds()]
    subseeds = [seed for recipe in recipes for seed in (recipe.variation_seeds() or [])]
    count = len(seeds)
    fields = a1111.parse_parameters(infotexts[0]).fields if infotexts else {}
    info = {
        "prompt": first.prompt if first else request.prompt,
        "all_prompts": [recipe.prompt for recipe in recipes for _ in recipe.seeds()],
        "negative_prompt": first.negative_prompt if first else (request.negative_prompt or ""),
        "all_negative_prompts": [recipe.negative_prompt for recipe in recipes for _ in recipe.seeds()],
        "seed": seeds[0] if seeds else request.seed,
        "all_seeds": seeds,
        "subseed": subseeds[0] if subseeds else request.subseed,
        "all_subseeds": subseeds or [request.subseed] * count,
        "subseed_strength": request.subseed_strength,
        "width": first.width if first else request.width,
        "height": first.height if first else request.height,
        "sampler_name": first.sampler if first else request.sampler_name,
        "cfg_scale": request.cfg_scale,
        "steps": request.steps,
        "batch_size": request.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": fields.get("Model"),
        "sd_model_hash": fields.get("Model hash"),
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": getattr(request, "denoising_strength", None),
        "extra_generation_params": {"Schedule type": first.scheduler} if first else {},
        "index_of_first_image": 0,
        "infotexts": infotexts,
        "styles": list(request.styles or []),
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": first.clip_skip if first else 1,
        "is_using_inpainting_conditioning": False,
        "version": "studio",
        # The studio's own: where the pictures are in its history.
        "studio_session": session,
        "studio_nodes": nodes,
    }
    return json.dumps(info)
