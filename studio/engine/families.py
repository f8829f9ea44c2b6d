"""Which family a model belongs to (SD 1.5, SDXL or Flux.1), read from its files, never guessed from its name.

A diffusers folder says it in `model_index.json` (the pipeline class it was saved from); a single
checkpoint in the original (LDM) layout says it with its keys: SDXL keeps two text encoders under
`conditioner.embedders`, SD 1.x one under `cond_stage_model`. The same keys say whether a checkpoint
predicts v instead of the noise (`v_pred`) and was trained with zero terminal SNR (`ztsnr`), the
markers NoobAI-XL and other v-prediction models ship with (A1111/Forge and ComfyUI read the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from studio.errors import ModelError


class Family(StrEnum):
    SD15 = "SD 1.5"
    SDXL = "SDXL"
    FLUX = "Flux.1"

    @property
    def is_flux(self) -> bool:
        """Flux runs a transformer with flow matching: other pipelines, samplers and guidance than SD's UNets."""
        return self is Family.FLUX

    @property
    def native_sizes(self) -> tuple[tuple[int, int], ...]:
        """(width, height) the family was trained at, square first: the sizes offered one click away."""
        return _NATIVE_SIZES[self]

    @property
    def default_size(self) -> tuple[int, int]:
        return self.native_sizes[0]


_NATIVE_SIZES = {
    Family.SD15: ((512, 512), (512, 768), (768, 512), (512, 640), (640, 512)),
    # SDXL's training buckets around one megapixel, as A1111/Fooocus list them.
    Family.SDXL: ((1024, 1024), (832, 1216), (1216, 832), (896, 1152), (1152, 896), (768, 1344), (1344, 768)),
    # Flux.1 was trained from 0.1 to 2 megapixels; Forge and Krita AI Diffusion offer SDXL's buckets for it.
    Family.FLUX: ((1024, 1024), (832, 1216), (1216, 832), (896, 1152), (1152, 896), (768, 1344), (1344, 768)),
}

_FOLDER_FAMILIES = {
    "StableDiffusionPipeline": Family.SD15,
    "StableDiffusionImg2ImgPipeline": Family.SD15,
    "StableDiffusionInpaintPipeline": Family.SD15,
    "StableDiffusionXLPipeline": Family.SDXL,
    "StableDiffusionXLImg2ImgPipeline": Family.SDXL,
    "StableDiffusionXLInpaintPipeline": Family.SDXL,
    "FluxPipeline": Family.FLUX,
    "FluxImg2ImgPipeline": Family.FLUX,
    "FluxInpaintPipeline": Family.FLUX,
    "FluxFillPipeline": Family.FLUX,  # FLUX.1 Fill: inpaint and outpaint only (engine/flux.py, check_fill)
    "FluxKontextPipeline": Family.FLUX,  # FLUX.1 Kontext: every mode, and edits said in words
}

SDXL_TEXT_ENCODER_2 = "conditioner.embedders.1.model."
SD15_TEXT_ENCODER = "cond_stage_model.transformer."
SD2_TEXT_ENCODER = "cond_stage_model.model."
UNET = "model.diffusion_model."
FLUX_DOUBLE_BLOCKS = "double_blocks."


@dataclass(frozen=True)
class CheckpointTraits:
    """What a single-file checkpoint's keys say about it."""

    family: Family
    v_prediction: bool = False
    zero_terminal_snr: bool = False


def family_of_folder(folder: Path) -> Family:
    """The family of a diffusers folder, from the pipeline class its `model_index.json` names."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{folder} has no readable model_index.json ({error}).") from error
    class_name = index.get("_class_name", "?") if isinstance(index, dict) else "?"
    try:
        return _FOLDER_FAMILIES[class_name]
    except KeyError:
        raise ModelError(
            f"{folder.name} is a {class_name} model; the studio runs Stable Diffusion 1.5, SDXL and Flux.1 models."
        ) from None


def traits_of_checkpoint(keys: Iterable[str], name: str) -> CheckpointTraits:
    """Family and prediction type of a checkpoint in the original key layout, from its key names."""
    keys = set(keys)
    v_prediction = "v_pred" in keys
    zero_terminal_snr = "ztsnr" in keys
    if any(key.startswith(SDXL_TEXT_ENCODER_2) for key in keys):
        family = Family.SDXL
    elif any(key.startswith(SD15_TEXT_ENCODER) for key in keys):
        family = Family.SD15
    elif any(key.startswith(FLUX_DOUBLE_BLOCKS) or key.startswith(UNET + FLUX_DOUBLE_BLOCKS) for key in keys):
        family = Family.FLUX  # the transformer, as Civitai ships Flux (studio/engine/flux_files.py)
    elif any(key.startswith(SD2_TEXT_ENCODER) for key in keys):
        raise ModelError(f"{name} is a Stable Diffusion 2.x checkpoint; the studio runs SD 1.5 and SDXL models.")
    elif any(key.startswith(UNET) for key in keys):
        raise ModelError(
            f"{name} holds a UNet but no text encoder (a refiner, or a UNet-only file); "
            "the studio needs a full SD 1.5 or SDXL checkpoint."
        )
    else:
        raise ModelError(
            f"{name} is not a Stable Diffusion checkpoint in the original layout (none of its keys is a "
            "UNet or a text encoder). A LoRA, VAE or ControlNet file goes in its own place, not in Model."
        )
    return CheckpointTraits(family, v_prediction, zero_terminal_snr)


def checkpoint_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, read from its header (no weights loaded)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as checkpoint:
        return list(checkpoint.keys())  # noqa: SIM118 (safe_open is not iterable)
