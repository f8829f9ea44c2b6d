"""Where a model comes from, and loading it: a hub id, a local diffusers folder, one checkpoint file, or `tiny`.

Every failure is a `ModelError` whose message tells the artist what to do next, and comes within
seconds: an unreachable hub is detected before diffusers starts its long retry loops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from studio.engine.tiny import tiny_model_folder
from studio.errors import ModelError
from studio.network import reachable
from studio.recipe import TINY_MODEL

SAFE_CHECKPOINTS = (".safetensors",)
# Loading these runs `pickle`, which can execute any code the file's author chose.
PICKLED_CHECKPOINTS = (".ckpt", ".pt", ".pth", ".bin")

_HOW_TO_POINT = (
    "Start the studio with --model pointing at a local diffusers folder or a .safetensors checkpoint, "
    "or use --model tiny to try the studio with the built-in test model."
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


@dataclass(frozen=True)
class DeviceSettings:
    """Where weights live and in what precision; `low_memory` moves idle parts to the CPU."""

    device: str
    dtype: torch.dtype
    low_memory: bool = False

    @classmethod
    def best_available(cls, *, low_memory: bool = False) -> DeviceSettings:
        if torch.cuda.is_available():
            return cls("cuda", torch.float16, low_memory)
        if torch.backends.mps.is_available():
            # fp16 on MPS still gives black pictures with some models; fp32 is the safe choice there.
            return cls("mps", torch.float32, low_memory)
        return cls("cpu", torch.float32, low_memory)


def resolve_model(spec: str, *, allow_pickle: bool = False) -> ModelSource:
    """Decide what kind of model `spec` names, checking what can be checked without loading it."""
    spec = spec.strip()
    if spec == TINY_MODEL:
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
    if suffix in SAFE_CHECKPOINTS:
        _check_safetensors(path)
    return ModelSource(SourceKind.SINGLE_FILE, str(path))


def load_pipeline(source: ModelSource, settings: DeviceSettings, *, cache_dir: Path) -> StableDiffusionPipeline:
    """Load a Stable Diffusion pipeline from `source`, placed as `settings` says."""
    common = {"dtype": settings.dtype, "safety_checker": None, "requires_safety_checker": False}
    try:
        if source.kind is SourceKind.TINY:
            pipe = StableDiffusionPipeline.from_pretrained(tiny_model_folder(cache_dir), **common)
        elif source.kind is SourceKind.FOLDER:
            pipe = StableDiffusionPipeline.from_pretrained(source.location, **common)
        elif source.kind is SourceKind.HUB:
            pipe = _load_from_hub(source.location, common)
        else:
            pipe = _load_single_file(Path(source.location), common)
    except ModelError:
        raise
    except Exception as error:  # diffusers raises many kinds; the artist needs one clear message.
        raise ModelError(f"Could not load the model {source.location}: {error}. {_HOW_TO_POINT}") from error
    if settings.low_memory and settings.device == "cuda":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(settings.device)
    if settings.device == "mps":
        pipe.enable_attention_slicing()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load_from_hub(repo_id: str, common: dict) -> StableDiffusionPipeline:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id, local_files_only=True)
        return StableDiffusionPipeline.from_pretrained(folder, **common)
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass  # not fully cached yet: download it
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. {_HOW_TO_POINT}")
    endpoint = constants.ENDPOINT
    if not reachable(endpoint):
        raise ModelError(
            f"Cannot reach {endpoint} to download {repo_id} (no network?). Connect and try again, or: {_HOW_TO_POINT}"
        )
    return StableDiffusionPipeline.from_pretrained(repo_id, **common)


def _load_single_file(path: Path, common: dict) -> StableDiffusionPipeline:
    try:
        return StableDiffusionPipeline.from_single_file(str(path), **common)
    except Exception as error:
        raise ModelError(
            f"Could not load the checkpoint {path.name}: {error}. A single-file checkpoint needs its base "
            "configuration from Hugging Face the first time (network), and must be a Stable Diffusion 1.x model."
        ) from error


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
