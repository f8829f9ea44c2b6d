"""Where a model comes from, and loading it: a hub id, a local diffusers folder, one checkpoint file, or a tiny one.

SD 1.5, SDXL and Flux.1 models load alike; the family is read from the files (studio/engine/families.py).

Every failure is a `ModelError` whose message tells the artist what to do next, and comes within
seconds: an unreachable hub is detected before diffusers starts its long retry loops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast

import torch
from diffusers import (
    DiffusionPipeline,
    EulerDiscreteScheduler,
    FluxPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)

from studio.access.network import reachable
from studio.engine.checkpoint_configs import config_folder
from studio.engine.families import Family, checkpoint_keys, family_of_folder, traits_of_checkpoint
from studio.engine.flux_files import (
    base_beside,
    gguf_transformer_weights,
    is_flux_base,
    transformer_config,
    transformer_weights,
)
from studio.engine.tiny import tiny_model_folder
from studio.errors import ModelError
from studio.recipe import TINY_FLUX_MODEL, TINY_MODEL, TINY_SDXL_MODEL

SAFE_CHECKPOINTS = (".safetensors", ".gguf")  # GGUF: quantized Flux transformers, plain tensors
# Loading these runs `pickle`, which can execute any code the file's author chose.
PICKLED_CHECKPOINTS = (".ckpt", ".pt", ".pth", ".bin")

_HOW_TO_POINT = (
    "Start the studio with --model pointing at a local diffusers folder or a .safetensors checkpoint, "
    "or use --model tiny (or tiny-sdxl, tiny-flux) to try the studio with a built-in test model."
)


class SourceKind(StrEnum):
    TINY = "tiny"
    HUB = "hub"
    FOLDER = "folder"
    SINGLE_FILE = "single file"


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str


class MemoryMode(StrEnum):
    """How much of the model stays on the GPU between uses (diffusers' offloading, by what an artist notices)."""

    NORMAL = "normal"  # all of it: the fastest
    LOW = "low"  # one part at a time (text encoder, UNet, VAE), the rest on the CPU: SD 1.5 in about 2 GB
    LOWEST = "lowest"  # one layer at a time: for the smallest GPUs, and several times slower


@dataclass(frozen=True)
class DeviceSettings:
    """Where weights live, in what precision, and how much of them stays on the GPU."""

    device: str
    dtype: torch.dtype
    memory: MemoryMode = MemoryMode.NORMAL

    @classmethod
    def best_available(cls, *, memory: MemoryMode = MemoryMode.NORMAL) -> DeviceSettings:
        if torch.cuda.is_available():
            return cls("cuda", torch.float16, memory)
        if torch.backends.mps.is_available():
            # fp16 on MPS still gives black pictures with some models; fp32 is the safe choice there.
            return cls("mps", torch.float32, memory)
        return cls("cpu", torch.float32, memory)

    @property
    def kind(self) -> str:
        """ "cuda", "mps" or "cpu": the device's kind, whichever GPU it is ("cuda:1" is "cuda")."""
        return self.device.split(":")[0]

    @property
    def gpu_id(self) -> int:
        """Which GPU ("cuda:1" is 1; "cuda" the first)."""
        return int(self.device.split(":")[1]) if ":" in self.device else 0

    @property
    def offloads(self) -> bool:
        """Whether parts of the model move between the CPU and the GPU during a run (CUDA only)."""
        return self.kind == "cuda" and self.memory is not MemoryMode.NORMAL


def resolve_model(spec: str, *, allow_pickle: bool = False) -> ModelSource:
    """Decide what kind of model `spec` names, checking what can be checked without loading it."""
    spec = spec.strip()
    if spec in (TINY_MODEL, TINY_SDXL_MODEL, TINY_FLUX_MODEL):
        return ModelSource(SourceKind.TINY, spec)
    path = Path(spec).expanduser()
    looks_like_path = (
        path.exists()
        or spec.startswith((".", "/", "~"))
        or path.suffix.lower() in SAFE_CHECKPOINTS + PICKLED_CHECKPOINTS
    )
    if not looks_like_path:
        if spec.count("/") != 1:
            raise ModelError(
                f"{spec!r} is neither a file, a folder, nor a Hugging Face id like 'owner/name'. {_HOW_TO_POINT}"
            )
        return ModelSource(SourceKind.HUB, spec)
    if not path.exists():
        raise ModelError(f"{path} does not exist. {_HOW_TO_POINT}")
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(
                f"{path} is a folder but not a diffusers model (it has no model_index.json). "
                "Point --model at the folder that holds model_index.json, or at a .safetensors checkpoint file."
            )
        return ModelSource(SourceKind.FOLDER, str(path))
    suffix = path.suffix.lower()
    if suffix in PICKLED_CHECKPOINTS and not allow_pickle:
        raise ModelError(
            f"{path.name} is a pickled checkpoint: loading it can run code hidden in the file. "
            "Use a .safetensors version of the model, or pass --allow-pickle if you trust its source."
        )
    if suffix not in SAFE_CHECKPOINTS + PICKLED_CHECKPOINTS:
        raise ModelError(f"{path.name} is not a model checkpoint (expected a .safetensors file). {_HOW_TO_POINT}")
    if suffix == ".safetensors":
        _check_safetensors(path)
    return ModelSource(SourceKind.SINGLE_FILE, str(path))


def pipeline_class(family: Family) -> type[DiffusionPipeline]:
    return {Family.SD15: StableDiffusionPipeline, Family.SDXL: StableDiffusionXLPipeline, Family.FLUX: FluxPipeline}[
        family
    ]


def load_pipeline(
    source: ModelSource, settings: DeviceSettings, *, cache_dir: Path, flux_base: str | None = None
) -> DiffusionPipeline:
    """Load the SD 1.5, SDXL or Flux.1 pipeline `source` names, placed as `settings` says.

    `flux_base`: a Flux model in diffusers' layout (a folder or hub id) whose text encoders and VAE serve a Flux
    transformer file; None: one found beside the file."""
    common = {
        "dtype": settings.dtype,
        "safety_checker": None,
        "requires_safety_checker": False,
        "add_watermarker": False,  # SDXL's invisible watermark would change the artist's pixels
    }
    try:
        if source.kind is SourceKind.TINY and source.location == TINY_FLUX_MODEL:
            from studio.engine.tiny_flux import tiny_flux_folder  # builds the tiny T5 tokenizer: only when asked

            pipe = _from_folder(tiny_flux_folder(cache_dir), common)
        elif source.kind is SourceKind.TINY:
            family = Family.SDXL if source.location == TINY_SDXL_MODEL else Family.SD15
            pipe = _from_folder(tiny_model_folder(cache_dir, family), common)
        elif source.kind is SourceKind.FOLDER:
            pipe = _from_folder(Path(source.location), common)
        elif source.kind is SourceKind.HUB:
            pipe = _load_from_hub(source.location, common)
        else:
            pipe = _load_single_file(Path(source.location), common, cache_dir, flux_base)
    except ModelError:
        raise
    except Exception as error:  # diffusers raises many kinds; the artist needs one clear message.
        raise ModelError(f"Could not load the model {source.location}: {error}. {_HOW_TO_POINT}") from error
    # Frozen from the start, as peft freezes them when a LoRA loads: PyTorch picks other kernels for
    # weights that want gradients (SDXL's UNet output moves by ~1e-6), and a replay must not depend
    # on whether a LoRA was ever loaded.
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.requires_grad_(False)
    if settings.offloads and settings.memory is MemoryMode.LOWEST:
        pipe.enable_sequential_cpu_offload(gpu_id=settings.gpu_id)
    elif settings.offloads:
        pipe.enable_model_cpu_offload(gpu_id=settings.gpu_id)
    else:
        pipe.to(settings.device)
    if settings.device == "mps":
        pipe.enable_attention_slicing()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _from_folder(folder: Path, common: dict) -> DiffusionPipeline:
    family = family_of_folder(folder)
    return pipeline_class(family).from_pretrained(folder, **_for_family(family, common))


def _for_family(family: Family, common: dict) -> dict:
    """The loading options `family`'s pipeline takes (SD 1.5's has a safety checker, SDXL's a watermarker)."""
    if family is Family.FLUX:
        # Flux's activations overflow float16 (black pictures); bfloat16 is what Black Forest Labs ship it in.
        return {"dtype": torch.bfloat16 if common["dtype"] == torch.float16 else common["dtype"]}
    if family is Family.SDXL:
        return {key: value for key, value in common.items() if "safety" not in key}
    return {key: value for key, value in common.items() if key != "add_watermarker"}


def _load_from_hub(repo_id: str, common: dict) -> DiffusionPipeline:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return _from_folder(Path(snapshot_download(repo_id, local_files_only=True)), common)
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass  # not fully cached yet: download it
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. {_HOW_TO_POINT}")
    endpoint = constants.ENDPOINT
    if not reachable(endpoint):
        raise ModelError(
            f"Cannot reach {endpoint} to download {repo_id} (no network?). Connect and try again, or: {_HOW_TO_POINT}"
        )
    from huggingface_hub import hf_hub_download

    family = family_of_folder(Path(hf_hub_download(repo_id, "model_index.json")).parent)
    return pipeline_class(family).from_pretrained(repo_id, **_for_family(family, common))


def _load_single_file(path: Path, common: dict, cache_dir: Path, flux_base: str | None) -> DiffusionPipeline:
    """A checkpoint in the original layout, configured from the studio's own files: nothing is downloaded."""
    if path.suffix.lower() == ".gguf":
        return _load_flux_gguf(path, _for_family(Family.FLUX, common)["dtype"], flux_base)
    traits = traits_of_checkpoint(checkpoint_keys(path), path.name)
    if traits.family is Family.FLUX:
        return _load_flux_file(path, _for_family(Family.FLUX, common)["dtype"], flux_base)
    config = config_folder(path, traits.family, cache_dir)
    try:
        pipe = pipeline_class(traits.family).from_single_file(  # pyright: ignore[reportAttributeAccessIssue] (both have it)
            str(path), config=str(config), local_files_only=True, **_for_family(traits.family, common)
        )
    except Exception as error:
        raise ModelError(f"Could not load the {traits.family} checkpoint {path.name}: {_first_line(error)}") from error
    if traits.v_prediction:
        # The checkpoint says it predicts v (and, with `ztsnr`, was trained to reach pure noise). Euler's
        # configuration holds both settings (SD 1.5's PNDM would drop the second); every run builds
        # its sampler's scheduler from this configuration (studio/engine/samplers.py).
        pipe.scheduler = EulerDiscreteScheduler.from_config(
            pipe.scheduler.config, prediction_type="v_prediction", rescale_betas_zero_snr=traits.zero_terminal_snr
        )
    return pipe


def _load_flux_file(path: Path, dtype: torch.dtype, flux_base: str | None) -> DiffusionPipeline:
    """A Flux transformer file (bf16 or fp8) with the text encoders and VAE of a Flux model in diffusers' layout."""
    from accelerate import init_empty_weights
    from diffusers import FluxTransformer2DModel

    base = _flux_base_folder(path, flux_base)
    weights = transformer_weights(path, dtype)
    with init_empty_weights():  # no second, random copy of twelve billion weights before the file's are in
        transformer = cast(
            FluxTransformer2DModel, FluxTransformer2DModel.from_config(transformer_config(base, weights))
        )
    transformer.load_state_dict(weights, strict=True, assign=True)
    return FluxPipeline.from_pretrained(base, transformer=transformer, dtype=dtype)


def _load_flux_gguf(path: Path, dtype: torch.dtype, flux_base: str | None) -> DiffusionPipeline:
    """A GGUF-quantized Flux transformer (Q8_0, Q4_K, ...: for cards of 12-16 GB) with the text encoders and VAE of
    a Flux model in diffusers' layout; its layers compute in `dtype`, dequantizing their weights as they run."""
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig

    base = _flux_base_folder(path, flux_base)
    try:
        weights = gguf_transformer_weights(path)
    except (ValueError, OSError) as error:
        raise ModelError(f"{path.name} is not a readable GGUF Flux transformer: {_first_line(error)}") from error
    shape = transformer_config(base, weights)
    transformer = FluxTransformer2DModel.from_single_file(
        weights,  # pyright: ignore[reportArgumentType] (a dict is taken; diffusers' layout: its converter assumes full width)
        config=str(base),
        subfolder="transformer",
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        torch_dtype=dtype,
        local_files_only=True,
        **{
            name: shape[name]
            for name in ("num_layers", "num_single_layers", "guidance_embeds", "in_channels", "out_channels")
        },
    )
    return FluxPipeline.from_pretrained(base, transformer=transformer, dtype=dtype)


def _flux_base_folder(path: Path, flux_base: str | None) -> Path:
    if flux_base is None:
        found = base_beside(path)
        if found is None:
            raise ModelError(
                f"{path.name} is a Flux transformer alone: its text encoders and VAE come from a Flux model in "
                "diffusers' layout. Put one (e.g. FLUX.1-dev's folder) beside the file, or name it with --flux-base."
            )
        return found
    source = resolve_model(flux_base)
    if source.kind is SourceKind.HUB:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(source.location, local_files_only=True))
        except Exception as error:
            raise ModelError(f"--flux-base {flux_base} is not in the local Hugging Face cache ({error})") from None
    if source.kind is not SourceKind.FOLDER or not is_flux_base(Path(source.location)):
        raise ModelError(f"--flux-base {flux_base} is not a Flux model in diffusers' layout (a FluxPipeline folder)")
    return Path(source.location)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as checkpoint:
            if not checkpoint.keys():  # noqa: SIM118 (safe_open is not iterable)
                raise ModelError(f"{path.name} holds no weights.")
    except ModelError:
        raise
    except Exception as error:
        raise ModelError(f"{path.name} is not a readable .safetensors file ({error}).") from error


def default_cache_dir() -> Path:
    """Where built models (the tiny one) are kept: $STUDIO_CACHE or ~/.cache/studio."""
    return Path(os.environ.get("STUDIO_CACHE") or Path.home() / ".cache" / "studio")
